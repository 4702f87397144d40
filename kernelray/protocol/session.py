"""Signed message framing: Jupyter's wire format, with a fast path.

Every message kernelray sends is a Jupyter message::

    [ident..., b"<IDS|MSG>", hmac_hex, header, parent_header, metadata, content, buffer...]

signed with HMAC-SHA256 over header, parent header, metadata and content, exactly as
``jupyter_client.session.Session`` signs it, so either side can be the stock Session.
The stock ``Session.send``/``deserialize`` pair costs about 100 us per message here
(traitlets, date parsing), which is most of a task's budget, so :class:`SignedSession`
keeps a ``Session`` for the key and identity and does the framing itself.
Large payloads travel as zero-copy ``buffers`` after the signed frames, never inside JSON;
as in Jupyter the signature covers the four JSON frames, and the metadata names each
buffer's length so a truncated or padded message is refused.

A message with a missing, wrong or replayed signature is never unpacked: ``unpack``
returns ``None`` and the caller logs and drops it.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import os
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import zmq

from .._jupyter import Session

log = logging.getLogger("kernelray.protocol")

DELIM = b"<IDS|MSG>"
PROTOCOL_VERSION = "5.3"
_EMPTY = b"{}"
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=True).encode
_loads = json.loads


@dataclass(slots=True)
class Message:
    """One received message: its type, content, buffers and routing identities."""

    msg_type: str
    content: dict
    header: dict
    parent: dict
    metadata: dict
    buffers: list = field(default_factory=list)
    idents: list = field(default_factory=list)

    @property
    def msg_id(self) -> str:
        return self.header.get("msg_id", "")


class SignedSession:
    """Signs and checks messages under one cluster key (HMAC-SHA256)."""

    def __init__(self, key: bytes, username: str = "kernelray"):
        if not key:
            raise ValueError("a cluster key is required: messages are always signed")
        self.session = Session(key=key, signature_scheme="hmac-sha256", username=username)
        self.key = key
        self.session_id = self.session.session
        self.username = username
        self._hmac = hmac.new(key, digestmod=hashlib.sha256)
        self._counter = itertools.count()
        self._prefix = f"{self.session_id[:8]}_{os.getpid()}_"
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self.dropped = 0

    def sign(self, parts) -> bytes:
        h = self._hmac.copy()
        for p in parts:
            h.update(p)
        return h.hexdigest().encode()

    def header(self, msg_type: str) -> dict:
        return {
            "msg_id": self._prefix + str(next(self._counter)),
            "msg_type": msg_type,
            "username": self.username,
            "session": self.session_id,
            "date": _iso_now(),
            "version": PROTOCOL_VERSION,
        }

    def pack(self, msg_type: str, content: dict, buffers=(), parent: dict | None = None, ident=None, header=None) -> list:
        """Frames ready for ``send_multipart``."""
        header = _dumps(header or self.header(msg_type)).encode()
        parent_b = _dumps(parent).encode() if parent else _EMPTY
        meta = _dumps({"buffer_lengths": [_nbytes(b) for b in buffers]}).encode() if buffers else _EMPTY
        body = _dumps(content).encode()
        frames = list(ident) if ident else []
        frames.append(DELIM)
        frames.append(self.sign((header, parent_b, meta, body)))
        frames += (header, parent_b, meta, body)
        frames.extend(buffers)
        return frames

    def send(self, sock, msg_type: str, content: dict, buffers=(), parent: dict | None = None, ident=None, header=None):
        send_frames(sock, self.pack(msg_type, content, buffers, parent, ident, header))

    def unpack(self, frames: list) -> Message | None:
        """Check and unpack frames from ``recv_multipart(copy=False)``; None if refused."""
        try:
            i = next(k for k, f in enumerate(frames) if _bytes(f) == DELIM)
        except StopIteration:
            return self._drop("no <IDS|MSG> delimiter")
        if len(frames) < i + 6:
            return self._drop("too few frames")
        idents = [_bytes(f) for f in frames[:i]]
        signature = _bytes(frames[i + 1])
        parts = [_bytes(f) for f in frames[i + 2 : i + 6]]
        if not signature:
            return self._drop("unsigned message")
        if not hmac.compare_digest(signature, self.sign(parts)):
            return self._drop("invalid signature")
        if signature in self._seen:
            return self._drop("replayed signature")
        self._seen[signature] = None
        if len(self._seen) > 65536:
            self._seen.popitem(last=False)
        header, parent, meta, content = (_loads(p) if p != _EMPTY else {} for p in parts)
        buffers = [f.buffer if hasattr(f, "buffer") else memoryview(f) for f in frames[i + 6 :]]
        lengths = meta.get("buffer_lengths")
        if lengths is not None and lengths != [b.nbytes for b in buffers]:
            return self._drop("buffer lengths differ from the signed metadata")
        return Message(header.get("msg_type", ""), content, header, parent, meta, buffers, idents)

    def _drop(self, why: str):
        self.dropped += 1
        log.warning("kernelray: dropped a message (%s); it was not deserialized", why)
        return None


_SNDMORE = int(zmq.SNDMORE)
_RCVMORE = int(zmq.RCVMORE)
_NOBLOCK = int(zmq.NOBLOCK)
_COPY_BELOW = 65536


def send_frames(sock, frames: list) -> None:
    """send_multipart without its enum overhead; large buffers go zero-copy."""
    last = len(frames) - 1
    for i, f in enumerate(frames):
        big = not isinstance(f, bytes) or len(f) >= _COPY_BELOW
        sock.send(f, _SNDMORE if i < last else 0, copy=not big)


def recv_frames(sock, flags: int = _NOBLOCK) -> list:
    """recv_multipart: small leading frames as bytes, later ones (buffers) zero-copy."""
    frames = [sock.recv(flags)]
    more = sock.getsockopt
    while more(_RCVMORE):
        frames.append(sock.recv(0, copy=len(frames) < 6))
    return frames


def _bytes(frame) -> bytes:
    return frame.bytes if hasattr(frame, "bytes") else bytes(frame)


def _nbytes(buf) -> int:
    if isinstance(buf, (bytes, bytearray)):
        return len(buf)
    return memoryview(buf).nbytes


def _iso_now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)
