"""Signed message framing: Jupyter's wire format, with a fast path.

Every message kernelray sends is a Jupyter message::

    [ident..., b"<IDS|MSG>", hmac_hex, header, parent_header, metadata, content, buffer...]

signed with HMAC-SHA256 over header, parent header, metadata and content, exactly as
``jupyter_client.session.Session`` signs it, so either side can be the stock Session.
The stock ``Session.send``/``deserialize`` pair costs about 100 us per message here
(traitlets, date parsing), which is most of a task's budget, so :class:`SignedSession`
does the framing itself, and builds the stock ``Session`` (same key and identity) only
when asked for it.
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
import uuid
from collections import OrderedDict

import zmq


log = logging.getLogger("kernelray.protocol")

DELIM = b"<IDS|MSG>"
PROTOCOL_VERSION = "5.3"
_EMPTY = b"{}"
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=True).encode
_decode = json.JSONDecoder().decode


def _loads(data: bytes):
    return _decode(data.decode())


def _parse(part: bytes) -> dict:
    """A JSON part of a message; the empty dict without parsing ``{}``."""
    return _loads(part) if part != _EMPTY else {}


class Message:
    """One received message: its type, content, buffers and routing identities.

    ``parent`` and ``metadata`` are parsed on first use: most handlers never read them.
    ``header_raw`` is the signed header as received, so a reply can name it as its parent
    without encoding it again.
    """

    __slots__ = ("msg_type", "content", "header", "header_raw", "_parent", "_metadata", "buffers", "idents")

    def __init__(self, msg_type: str, content: dict, header: dict, parent=b"{}", metadata=b"{}",
                 buffers=None, idents=None, header_raw: bytes | None = None):
        self.msg_type = msg_type
        self.content = content
        self.header = header
        self.header_raw = header_raw
        self._parent = parent
        self._metadata = metadata
        self.buffers = [] if buffers is None else buffers
        self.idents = [] if idents is None else idents

    @property
    def parent(self) -> dict:
        if type(self._parent) is bytes:
            self._parent = _parse(self._parent)
        return self._parent

    @property
    def metadata(self) -> dict:
        if type(self._metadata) is bytes:
            self._metadata = _parse(self._metadata)
        return self._metadata

    @property
    def msg_id(self) -> str:
        return self.header.get("msg_id", "")

    def __repr__(self) -> str:
        return f"Message({self.msg_type!r}, {self.content!r})"


class SignedSession:
    """Signs and checks messages under one cluster key (HMAC-SHA256)."""

    def __init__(self, key: bytes, username: str = "kernelray"):
        if not key:
            raise ValueError("a cluster key is required: messages are always signed")
        self.key = key
        u = uuid.uuid4().hex  # the shape of jupyter_client's new_id(): 8 hex digits, "-", 24 hex digits
        self.session_id = f"{u[:8]}-{u[8:]}"
        self._stock = None
        self.username = username
        self._hmac = hmac.new(key, digestmod=hashlib.sha256)
        self._hmac = getattr(self._hmac, "_hmac", self._hmac)  # the OpenSSL object itself: copy/update in C
        self._username_json = json.dumps(username)
        self._counter = itertools.count()
        self._prefix = f"{self.session_id[:8]}_{os.getpid()}_"
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self.dropped = 0

    @property
    def session(self):
        """The stock ``jupyter_client.session.Session`` with this key and identity.

        Built on first use: importing jupyter_client.session (traitlets, tornado) costs about
        140 ms and 10 MB in every process, and the framing below is byte-compatible with it
        (tests/protocol checks both directions), so cluster processes never need it.
        """
        if self._stock is None:
            from .._jupyter import Session

            self._stock = Session(key=self.key, signature_scheme="hmac-sha256", username=self.username,
                                  session=self.session_id)
        return self._stock

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

    def _header_bytes(self, msg_type: str) -> bytes:
        """``header(msg_type)`` already JSON-encoded (message types and ids need no escaping)."""
        return (
            f'{{"msg_id":"{self._prefix}{next(self._counter)}","msg_type":"{msg_type}",'
            f'"username":{self._username_json},"session":"{self.session_id}","date":"{_iso_now()}",'
            f'"version":"{PROTOCOL_VERSION}"}}'
        ).encode()

    def pack(self, msg_type: str, content: dict, buffers=(), parent=None, ident=None, header=None) -> list:
        """Frames ready for ``send_multipart``; ``parent`` is a header dict or its raw JSON bytes."""
        header_b = self._header_bytes(msg_type) if header is None else _dumps(header).encode()
        if not parent:
            parent_b = _EMPTY
        elif type(parent) is bytes:
            parent_b = parent
        else:
            parent_b = _dumps(parent).encode()
        meta = _dumps({"buffer_lengths": [_nbytes(b) for b in buffers]}).encode() if buffers else _EMPTY
        body = _dumps(content).encode()
        h = self._hmac.copy()
        h.update(header_b)
        h.update(parent_b)
        h.update(meta)
        h.update(body)
        frames = [*ident, DELIM] if ident else [DELIM]
        frames += (h.hexdigest().encode(), header_b, parent_b, meta, body)
        if buffers:
            frames.extend(buffers)
        return frames

    def send(self, sock, msg_type: str, content: dict, buffers=(), parent=None, ident=None, header=None):
        send_frames(sock, self.pack(msg_type, content, buffers, parent, ident, header))

    def unpack(self, frames: list) -> Message | None:
        """Check and unpack frames from ``recv_frames``; None if refused."""
        if frames[0] == DELIM:  # from a DEALER: no identities
            i = 0
        elif len(frames) > 1 and frames[1] == DELIM:  # from a ROUTER: one identity
            i = 1
        else:
            try:
                i = next(k for k, f in enumerate(frames) if _bytes(f) == DELIM)
            except StopIteration:
                return self._drop("no <IDS|MSG> delimiter")
        if len(frames) < i + 6:
            return self._drop("too few frames")
        signature, header_b, parent_b, meta_b, body = (_bytes(f) for f in frames[i + 1 : i + 6])
        if not signature:
            return self._drop("unsigned message")
        h = self._hmac.copy()
        h.update(header_b)
        h.update(parent_b)
        h.update(meta_b)
        h.update(body)
        if not hmac.compare_digest(signature, h.hexdigest().encode()):
            return self._drop("invalid signature")
        seen = self._seen
        if signature in seen:
            return self._drop("replayed signature")
        seen[signature] = None
        if len(seen) > 65536:
            seen.popitem(last=False)
        header = _loads(header_b)
        content = _parse(body)
        buffers = [f.buffer if hasattr(f, "buffer") else memoryview(f) for f in frames[i + 6 :]]
        if buffers or meta_b != _EMPTY:
            meta = _parse(meta_b)
            lengths = meta.get("buffer_lengths")
            if lengths is not None and lengths != [b.nbytes for b in buffers]:
                return self._drop("buffer lengths differ from the signed metadata")
        else:
            meta = meta_b
        idents = [_bytes(f) for f in frames[:i]] if i else []
        return Message(header.get("msg_type", ""), content, header, parent_b, meta, buffers, idents, header_b)

    def _drop(self, why: str):
        self.dropped += 1
        log.warning("kernelray: dropped a message (%s); it was not deserialized", why)
        return None


_SNDMORE = int(zmq.SNDMORE)
_NOBLOCK = int(zmq.NOBLOCK)
_COPY_BELOW = 65536


_bsend = zmq.backend.Socket.send  # the sugar layer's send adds checks we never need
_brecv = zmq.backend.Socket.recv
_bget = zmq.backend.Socket.get


def send_frames(sock, frames: list) -> None:
    """send_multipart without its overhead; large buffers go zero-copy."""
    last = len(frames) - 1
    for i, f in enumerate(frames):
        big = type(f) is not bytes or len(f) >= _COPY_BELOW
        _bsend(sock, f, _SNDMORE if i < last else 0, not big)


def recv_frames(sock, flags: int = _NOBLOCK) -> list:
    """recv_multipart: the leading frames (identities, delimiter, signature, the four JSON
    parts) as bytes, the buffers after them as zero-copy Frames.  A Frame's ``more`` says
    whether another part follows (asking the socket for RCVMORE costs an enum conversion)."""
    frame = _brecv(sock, flags, False)
    frames = [frame.bytes]
    while frame.more:
        frame = _brecv(sock, 0, False)
        frames.append(frame.bytes if len(frames) < 6 else frame)
    return frames


def poll_in(sock, timeout_ms: int) -> bool:
    """``sock.poll(timeout_ms)`` without building a Poller each time."""
    return bool(_zmq_poll([(sock, _POLLIN)], timeout_ms))


def has_input(sock) -> bool:
    """A message is waiting on ``sock`` (no system call, no exception)."""
    return bool(_bget(sock, _EVENTS) & _POLLIN)


_EVENTS = int(zmq.EVENTS)
_zmq_poll = zmq.backend.zmq_poll
_POLLIN = int(zmq.POLLIN)


def _bytes(frame) -> bytes:
    return frame if type(frame) is bytes else (frame.bytes if hasattr(frame, "bytes") else bytes(frame))


def _nbytes(buf) -> int:
    if isinstance(buf, (bytes, bytearray)):
        return len(buf)
    return memoryview(buf).nbytes


_last_second = [-1, ""]


def _iso_now() -> str:
    """ISO 8601 UTC with microseconds, as Jupyter dates are; the seconds part is cached."""
    t = time.time()
    sec = int(t)
    cache = _last_second
    if cache[0] != sec:
        cache[0] = sec
        cache[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return "%s.%06dZ" % (cache[1], int((t - sec) * 1e6))
