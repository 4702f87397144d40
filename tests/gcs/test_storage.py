"""The GCS storage backends: one conformance suite, plus crash-safety of the SQLite file."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from kernelray.gcs.storage import MemoryStorage, SqliteStorage, open_storage

pytestmark = pytest.mark.timeout(60)


def _redis_server(tmp_path):
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([exe, "--port", str(port), "--save", "", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail("redis-server did not start within 10 s")


@pytest.fixture(params=["memory", "sqlite", "redis"])
def storage(request, tmp_path):
    if request.param == "memory":
        yield MemoryStorage()
    elif request.param == "sqlite":
        s = SqliteStorage(str(tmp_path / "t.sqlite3"))
        yield s
        s.close()
    else:
        proc, port = _redis_server(tmp_path)
        try:
            s = open_storage(f"redis://127.0.0.1:{port}/0", str(tmp_path))
            yield s
            s.close()
        finally:
            proc.kill()
            proc.wait(5)


def test_put_get_delete_get_all(storage):
    storage.put("kv", "a", b"1")
    storage.put("kv", "b", b"\x00\xff")
    storage.put("actors", "a", b"other table")
    assert storage.get("kv", "a") == b"1"
    assert storage.get("kv", "missing") is None
    assert storage.get_all("kv") == {"a": b"1", "b": b"\x00\xff"}
    assert storage.delete("kv", "a") is True
    assert storage.delete("kv", "a") is False
    assert storage.get_all("kv") == {"b": b"\x00\xff"}


def test_put_if_absent(storage):
    assert storage.put_if_absent("kv", "k", b"first") is True
    assert storage.put_if_absent("kv", "k", b"second") is False
    assert storage.get("kv", "k") == b"first"


def test_unknown_table_is_refused(storage):
    with pytest.raises(KeyError, match="no GCS table named"):
        storage.put("nope", "k", b"v")


def test_sqlite_reload_sees_every_write(tmp_path):
    path = str(tmp_path / "t.sqlite3")
    s = SqliteStorage(path)
    with s.batch():
        for i in range(100):
            s.put("jobs", str(i), b"x%d" % i)
    s.delete("jobs", "7")
    s.close()
    again = SqliteStorage(path)
    assert len(again.get_all("jobs")) == 99 and again.get("jobs", "8") == b"x8"


def test_sqlite_batch_rolls_back_on_error(tmp_path):
    s = SqliteStorage(str(tmp_path / "t.sqlite3"))
    with pytest.raises(RuntimeError):
        with s.batch():
            s.put("kv", "half", b"written")
            raise RuntimeError("crash between write and reply")
    assert s.get("kv", "half") is None


_WRITER = """
import sys, time
from kernelray.gcs.storage import SqliteStorage
s = SqliteStorage(sys.argv[1])
for i in range(100000):
    s.put("kv", str(i), b"v" * 200)
    if i == 50:
        print("writing", flush=True)
"""


def test_sqlite_survives_kill_9_during_writes(tmp_path):
    path = str(tmp_path / "t.sqlite3")
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, path], stdout=subprocess.PIPE,
                            env=dict(os.environ), start_new_session=True)
    assert proc.stdout.readline().strip() == b"writing"
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(5)
    proc.stdout.close()
    s = SqliteStorage(path)
    assert s.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = s.get_all("kv")
    assert len(rows) > 50
    assert all(rows[str(i)] == b"v" * 200 for i in range(len(rows)))  # a prefix, every write whole


def test_open_storage_picks_backend(tmp_path):
    assert isinstance(open_storage("memory", str(tmp_path)), MemoryStorage)
    s = open_storage("", str(tmp_path))
    assert isinstance(s, SqliteStorage) and s.path == str(tmp_path / "gcs_tables.sqlite3")
