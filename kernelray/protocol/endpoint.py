"""Endpoint: the socket plumbing every kernelray process shares.

A ROUTER bound on the process's own address, one DEALER per peer it talks to, a handler
table built from the declared ``msg_types`` (``handle_<msg_type>(msg, sock, idents)``),
and request/reply matching by the parent header's ``msg_id``, as Jupyter does.
A GCS, a raylet and a core worker are Endpoints with different tables.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time

import zmq

from ..exceptions import RaySystemError
from . import gcs_wait, transport
from .loop import IOLoop
from .session import SignedSession

log = logging.getLogger("kernelray.endpoint")


class Endpoint:
    msg_types: list = []

    def __init__(self, key: bytes, ip: str = "127.0.0.1", port: int | None = None, name: str = "endpoint"):
        self.name = name
        self.session = SignedSession(key)
        self.ctx = zmq.Context()
        self.loop = IOLoop()
        self.ip = ip
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.setsockopt(zmq.ROUTER_HANDOVER, 1)
        self.router.setsockopt(zmq.SNDHWM, 0)
        self.router.setsockopt(zmq.RCVHWM, 0)
        try:
            self.port, self.address = transport.bind(self.router, ip, port)
        except zmq.ZMQError as exc:
            raise RaySystemError(f"{name} cannot listen on {ip}:{port}: {exc}") from exc
        self.peers: dict[str, zmq.Socket] = {}
        self._callbacks: dict[str, object] = {}
        self.handlers = self._make_handlers()
        router = self.router

        def on_router(frames):
            msg = self.session.unpack(frames)
            if msg is not None:
                self.dispatch(msg, router, msg.idents)

        self.loop.add_socket(self.router, on_router)

    def _make_handlers(self) -> dict:
        return {name: getattr(self, "handle_" + name) for name in self.msg_types}

    # -- sockets ----------------------------------------------------------------------
    def peer(self, address: str) -> zmq.Socket:
        """The DEALER connected to ``address`` (loop thread, or before the loop runs)."""
        sock = self.peers.get(address)
        if sock is None:
            sock = self.ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDHWM, 0)
            sock.setsockopt(zmq.RCVHWM, 0)
            sock.connect(transport.connect_address(address))
            self.peers[address] = sock

            def on_dealer(frames):
                msg = self.session.unpack(frames)
                if msg is not None:
                    self.dispatch(msg, sock, None)

            self.loop.add_socket(sock, on_dealer)
        return sock

    def drop_peer(self, address: str) -> None:
        sock = self.peers.pop(address, None)
        if sock is not None:
            self.loop.remove_socket(sock)
            sock.close(0)

    # -- messages ---------------------------------------------------------------------
    def before_dispatch(self) -> None:
        """Hook run before each message (the core worker drains ref events here)."""

    def dispatch(self, msg, sock, idents) -> None:
        self.before_dispatch()
        if self._callbacks:
            parent = msg.parent
            if parent:
                callback = self._callbacks.pop(parent.get("msg_id"), None)
                if callback is not None:
                    callback(msg)
                    return
        handler = self.handlers.get(msg.msg_type)
        if handler is None:
            if not msg.msg_type.endswith("_reply"):
                log.warning("%s: no handler for %r", self.name, msg.msg_type)
                if msg.msg_type.endswith("_request"):
                    self.reply_error(sock, idents, msg, "UnknownMessage", f"{self.name} does not handle {msg.msg_type}")
            return
        try:
            handler(msg, sock, idents)
        except Exception as exc:  # a request always gets an answer, never a hang
            log.exception("%s: error handling %s", self.name, msg.msg_type)
            if msg.msg_type.endswith("_request"):
                self.reply_error(sock, idents, msg, type(exc).__name__, str(exc))

    def send(self, sock, msg_type, content, buffers=(), idents=None, parent=None):
        self.session.send(sock, msg_type, content, buffers, parent=parent, ident=idents)

    def reply(self, sock, idents, request, msg_type, content, buffers=()):
        content.setdefault("status", "ok")
        self.session.send(sock, msg_type, content, buffers, parent=request.header_raw or request.header, ident=idents)

    def reply_error(self, sock, idents, request, ename: str, evalue: str) -> None:
        reply_type = request.msg_type.replace("_request", "_reply")
        self.session.send(
            sock,
            reply_type,
            {"status": "error", "ename": ename, "evalue": evalue, "traceback": []},
            parent=request.header_raw or request.header,
            ident=idents,
        )

    def request(self, sock, msg_type, content, callback, buffers=(), idents=None):
        """Send a request; ``callback(reply)`` runs on the loop thread.  Loop thread only."""
        header = self.session.header(msg_type)
        self._callbacks[header["msg_id"]] = callback
        self.session.send(sock, msg_type, content, buffers, header=header, ident=idents)
        return header["msg_id"]

    def call(self, target, msg_type: str, content: dict, timeout: float = 10.0, buffers=()):
        """Blocking request from another thread: the reply message, or RaySystemError.

        To the GCS, with ``timeout`` >= ``gcs_wait.MIN_TIMEOUT_S``: if no reply came in time,
        the request is sent again and waits through a GCS outage (see gcs_wait.py)."""
        started = time.monotonic()
        fut = self._send_request(target, msg_type, content, timeout, buffers)
        try:
            msg = fut.result(timeout)
        except concurrent.futures.TimeoutError:
            gcs_address = self._gcs_address_of(target)
            if gcs_address is None or timeout < gcs_wait.MIN_TIMEOUT_S:
                name = target if isinstance(target, str) else "a peer"
                raise RaySystemError(f"no reply to {msg_type} from {name} within {timeout} s; is the cluster running?")
            resend = lambda: self._send_request(target, msg_type, content, timeout, buffers)  # noqa: E731
            msg = gcs_wait.wait_through_outage(fut, resend, gcs_address, msg_type, started, timeout)
        if msg.content.get("status") == "error":
            raise RaySystemError(f"{msg_type} failed: {msg.content.get('ename')}: {msg.content.get('evalue')}")
        return msg

    def _send_request(self, target, msg_type: str, content: dict, timeout: float, buffers) -> concurrent.futures.Future:
        fut: concurrent.futures.Future = concurrent.futures.Future()

        def send():
            sock = self.peer(target) if isinstance(target, str) else target
            msg_id = self.request(sock, msg_type, content, fut.set_result, buffers)
            keep = max(timeout, gcs_wait.reconnect_timeout()) if self._gcs_address_of(target) else timeout
            self.loop.call_later(keep + 1, self._callbacks.pop, msg_id, None)

        self.loop.call_soon(send)
        return fut

    def _gcs_address_of(self, target) -> str | None:
        """The GCS's address if ``target`` is our GCS socket or address (see gcs_wait.py)."""
        gcs = getattr(self, "gcs_address", None)
        if gcs and (target == gcs or target is self.peers.get(gcs)):
            return gcs
        return None

    def close(self) -> None:
        transport.unlink_ipc(self.address)
        self.loop.close()
        self.ctx.destroy(linger=0)
