"""Tables in one SQLite file (WAL mode): the default, with nothing extra to run.

Each write commits before it returns (``synchronous=NORMAL`` in WAL mode: a ``kill -9``
of the GCS never loses a committed write; only an OS crash can lose the last ones).
``batch()`` makes the writes inside one transaction.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3

from .base import TABLES, GcsStorage


class SqliteStorage(GcsStorage):
    def __init__(self, path: str):
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        for table in TABLES:
            self.db.execute(f"CREATE TABLE IF NOT EXISTS {table} (k TEXT PRIMARY KEY, v BLOB NOT NULL)")
        self._depth = 0

    def put(self, table: str, key: str, value: bytes) -> None:
        self.check_table(table)
        self.db.execute(f"INSERT OR REPLACE INTO {table} (k, v) VALUES (?, ?)", (key, bytes(value)))

    def put_if_absent(self, table: str, key: str, value: bytes) -> bool:
        self.check_table(table)
        cur = self.db.execute(f"INSERT OR IGNORE INTO {table} (k, v) VALUES (?, ?)", (key, bytes(value)))
        return cur.rowcount == 1

    def get(self, table: str, key: str) -> bytes | None:
        self.check_table(table)
        row = self.db.execute(f"SELECT v FROM {table} WHERE k = ?", (key,)).fetchone()
        return bytes(row[0]) if row else None

    def delete(self, table: str, key: str) -> bool:
        self.check_table(table)
        return self.db.execute(f"DELETE FROM {table} WHERE k = ?", (key,)).rowcount == 1

    def get_all(self, table: str) -> dict[str, bytes]:
        self.check_table(table)
        return {k: bytes(v) for k, v in self.db.execute(f"SELECT k, v FROM {table}")}

    @contextlib.contextmanager
    def batch(self):
        outer = self._depth == 0
        if outer:
            self.db.execute("BEGIN IMMEDIATE")
        self._depth += 1
        try:
            yield self
        except BaseException:
            self._depth -= 1
            if outer:
                self.db.execute("ROLLBACK")
            raise
        self._depth -= 1
        if outer:
            self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()
