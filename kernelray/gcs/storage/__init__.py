"""Where the GCS keeps what it must not lose (see docs/controlplane.md).

``open_storage(spec, session_dir)`` picks a backend from a spec:

- ``""`` or ``"sqlite"``: SQLite in the session folder (``gcs_tables.sqlite3``), the default;
- a path: SQLite at that path;
- ``"memory"``: nothing survives the process (tests, and ``KERNELRAY_GCS_STORAGE=memory``);
- ``redis://host:port/db``: a Redis server, as Ray users run it for GCS fault tolerance.
"""

from __future__ import annotations

import os

from .base import TABLES, GcsStorage
from .memory import MemoryStorage
from .sqlite import SqliteStorage

DEFAULT_FILE = "gcs_tables.sqlite3"


def open_storage(spec: str | None, session_dir: str) -> GcsStorage:
    spec = spec or os.environ.get("KERNELRAY_GCS_STORAGE", "") or "sqlite"
    if spec == "memory":
        return MemoryStorage()
    if spec.startswith("redis://"):
        from .redis import RedisStorage

        return RedisStorage(spec, namespace=os.path.basename(session_dir.rstrip("/")))
    path = os.path.join(session_dir, DEFAULT_FILE) if spec == "sqlite" else spec
    return SqliteStorage(path)


__all__ = ["GcsStorage", "MemoryStorage", "SqliteStorage", "TABLES", "open_storage"]
