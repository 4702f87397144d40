"""Tables in a Redis server (``redis://host:port/db``), as Ray users run it for GCS FT.

One Redis hash per table, named ``kernelray:<namespace>:<table>``; the namespace is the
session, so clusters can share a server.  A small RESP client of our own: kernelray
needs five commands and no extra package.
"""

from __future__ import annotations

import socket
import urllib.parse

from .base import GcsStorage


class RedisError(ConnectionError):
    pass


class RespConnection:
    """A blocking RESP2 connection: ``call("HSET", ...)`` sends a command, returns the reply."""

    def __init__(self, host: str, port: int, timeout: float = 10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.reader = self.sock.makefile("rb")

    def call(self, *args):
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self.sock.sendall(b"".join(parts))
        return self._read()

    def _read(self):
        line = self.reader.readline()
        if not line:
            raise RedisError("the Redis server closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(f"Redis error: {rest.decode()}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.reader.read(n + 2)
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RedisError(f"unexpected reply from Redis: {line!r}")

    def close(self) -> None:
        self.sock.close()


class RedisStorage(GcsStorage):
    def __init__(self, url: str, namespace: str = "default"):
        parsed = urllib.parse.urlparse(url)
        try:
            self.conn = RespConnection(parsed.hostname or "127.0.0.1", parsed.port or 6379)
        except OSError as exc:
            raise RedisError(f"cannot reach the Redis server at {url}: {exc}") from exc
        if parsed.password:
            self.conn.call("AUTH", parsed.password)
        db = (parsed.path or "/0").strip("/") or "0"
        self.conn.call("SELECT", db)
        self.prefix = f"kernelray:{namespace}:"

    def _hash(self, table: str) -> str:
        self.check_table(table)
        return self.prefix + table

    def put(self, table: str, key: str, value: bytes) -> None:
        self.conn.call("HSET", self._hash(table), key, bytes(value))

    def put_if_absent(self, table: str, key: str, value: bytes) -> bool:
        return self.conn.call("HSETNX", self._hash(table), key, bytes(value)) == 1

    def get(self, table: str, key: str) -> bytes | None:
        return self.conn.call("HGET", self._hash(table), key)

    def delete(self, table: str, key: str) -> bool:
        return self.conn.call("HDEL", self._hash(table), key) == 1

    def get_all(self, table: str) -> dict[str, bytes]:
        flat = self.conn.call("HGETALL", self._hash(table)) or []
        return {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}

    def close(self) -> None:
        self.conn.close()
