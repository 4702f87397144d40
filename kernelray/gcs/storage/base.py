"""The one interface every GCS storage backend offers: tables of key -> bytes.

Values are opaque bytes (the managers encode their records).  ``put``/``delete`` are
durable when they return: the GCS replies to a request only after the write that the
reply announces, so a table and a reply are never out of step.  ``batch()`` groups
writes into one transaction.
"""

from __future__ import annotations

import abc
import contextlib

TABLES = ("nodes", "jobs", "actors", "placement_groups", "kv", "meta")


class GcsStorage(abc.ABC):
    """Tables of ``key -> bytes``; the names are in ``TABLES``."""

    @abc.abstractmethod
    def put(self, table: str, key: str, value: bytes) -> None: ...

    @abc.abstractmethod
    def get(self, table: str, key: str) -> bytes | None: ...

    @abc.abstractmethod
    def delete(self, table: str, key: str) -> bool: ...

    @abc.abstractmethod
    def get_all(self, table: str) -> dict[str, bytes]: ...

    def put_if_absent(self, table: str, key: str, value: bytes) -> bool:
        """Write unless the key exists; True if written (kv_put with overwrite=False)."""
        if self.get(table, key) is not None:
            return False
        self.put(table, key, value)
        return True

    @contextlib.contextmanager
    def batch(self):
        """Writes inside are one transaction (where the backend has them)."""
        yield self

    def close(self) -> None:
        pass

    @staticmethod
    def check_table(table: str) -> None:
        if table not in TABLES:
            raise KeyError(f"no GCS table named {table!r} (tables: {', '.join(TABLES)})")
