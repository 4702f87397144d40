"""Tables in this process's memory: nothing survives a restart."""

from __future__ import annotations

from .base import TABLES, GcsStorage


class MemoryStorage(GcsStorage):
    def __init__(self):
        self.tables: dict[str, dict[str, bytes]] = {t: {} for t in TABLES}

    def put(self, table: str, key: str, value: bytes) -> None:
        self.check_table(table)
        self.tables[table][key] = bytes(value)

    def get(self, table: str, key: str) -> bytes | None:
        self.check_table(table)
        return self.tables[table].get(key)

    def delete(self, table: str, key: str) -> bool:
        self.check_table(table)
        return self.tables[table].pop(key, None) is not None

    def get_all(self, table: str) -> dict[str, bytes]:
        self.check_table(table)
        return dict(self.tables[table])
