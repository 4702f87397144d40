"""The I/O loop: one thread owns every socket of a process.

A zmq ``Poller`` over the sockets plus an eventfd that other threads ring through
:meth:`IOLoop.call_soon`; a heap of timers for heartbeats and deadlines.  Nothing here
blocks longer than the nearest timer, so every wait in the process has a way out.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections import deque
from typing import Callable

import zmq

from .session import has_input, recv_frames

log = logging.getLogger("kernelray.loop")
_POLLIN = int(zmq.POLLIN)


class Timer:
    __slots__ = ("deadline", "callback", "args", "cancelled")

    def __init__(self, deadline, callback, args):
        self.deadline, self.callback, self.args, self.cancelled = deadline, callback, args, False

    def cancel(self):
        self.cancelled = True


class IOLoop:
    """Poll sockets, run handlers, timers and callbacks posted from other threads."""

    def __init__(self):
        self.poller = zmq.Poller()
        self._handlers: dict = {}
        self._fd_handlers: dict = {}
        self._timers: list = []
        self._seq = itertools.count()
        self._inbox: deque = deque()
        self._efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self.poller.register(self._efd, _POLLIN)
        self._wake_pending = False
        self._stopping = False
        self.thread: threading.Thread | None = None

    # -- registration (loop thread, or before the loop starts) -------------------------
    def add_socket(self, sock, handler: Callable[[list], None]) -> None:
        self._handlers[sock] = handler
        self.poller.register(sock, _POLLIN)

    def add_fd(self, fd: int, callback) -> None:
        """Call ``callback()`` whenever the raw file descriptor ``fd`` is readable."""
        self._fd_handlers[fd] = callback
        self.poller.register(fd, _POLLIN)

    def remove_socket(self, sock) -> None:
        if self._handlers.pop(sock, None) is not None:
            self.poller.unregister(sock)

    def call_later(self, delay: float, callback, *args) -> Timer:
        timer = Timer(time.monotonic() + delay, callback, args)
        heapq.heappush(self._timers, (timer.deadline, next(self._seq), timer))
        return timer

    def call_every(self, interval: float, callback) -> "RepeatingTimer":
        """Run ``callback()`` every ``interval`` seconds until the timer is cancelled."""
        return RepeatingTimer(self, interval, callback)

    # -- cross-thread ----------------------------------------------------------------
    def call_soon(self, callback, *args) -> None:
        """Thread-safe: run ``callback(*args)`` on the loop thread."""
        self._inbox.append((callback, args))
        if not self._wake_pending:
            self._wake_pending = True
            try:
                os.eventfd_write(self._efd, 1)
            except OSError:  # the loop is closed
                pass

    def in_loop_thread(self) -> bool:
        return self.thread is None or threading.current_thread() is self.thread

    # -- running ---------------------------------------------------------------------
    def start_thread(self, name: str) -> None:
        self.thread = threading.Thread(target=self.run, name=name, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self._stopping = True
        self.call_soon(lambda: None)

    def run(self) -> None:
        if self.thread is None:
            self.thread = threading.current_thread()
        poll = self.poller.poll
        handlers = self._handlers
        efd = self._efd
        while not self._stopping:
            timeout = self._run_timers()
            if self._inbox:
                timeout = 0
            try:
                events = poll(timeout)
            except zmq.ZMQError as exc:
                if exc.errno == zmq.ETERM:
                    break
                raise
            except InterruptedError:
                continue
            for sock, _ in events:
                if sock == efd:
                    self._wake_pending = False
                    try:
                        os.eventfd_read(efd)
                    except BlockingIOError:
                        pass
                    continue
                handler = handlers.get(sock)
                if handler is None:
                    fd_handler = self._fd_handlers.get(sock)
                    if fd_handler is not None:
                        try:
                            fd_handler()
                        except Exception:
                            log.exception("kernelray: error in an fd handler")
                    continue
                self._drain(sock, handler)
            self._run_inbox()
        self._run_inbox()

    def _drain(self, sock, handler, limit: int = 256) -> None:
        for _ in range(limit):
            try:
                frames = recv_frames(sock)
            except zmq.Again:
                return
            except zmq.ZMQError as exc:
                log.debug("recv failed: %s", exc)
                return
            try:
                handler(frames)
            except Exception:  # a handler bug must not kill the loop; requests reply errors themselves
                log.exception("kernelray: error while handling a message")
            try:
                if not has_input(sock):  # (cheaper than a recv that raises Again)
                    return
            except zmq.ZMQError:  # closed by the handler
                return

    def _run_inbox(self) -> None:
        inbox = self._inbox
        for _ in range(len(inbox)):
            callback, args = inbox.popleft()
            try:
                callback(*args)
            except Exception:
                log.exception("kernelray: error in a loop callback")

    def _run_timers(self) -> int | None:
        timers = self._timers
        now = time.monotonic()
        while timers and timers[0][0] <= now:
            _, _, timer = heapq.heappop(timers)
            if timer.cancelled:
                continue
            try:
                timer.callback(*timer.args)
            except Exception:
                log.exception("kernelray: error in a timer")
            now = time.monotonic()
        while timers and timers[0][2].cancelled:
            heapq.heappop(timers)
        if not timers:
            return 1000
        return max(0, min(1000, int((timers[0][0] - now) * 1000) + 1))

    def close(self) -> None:
        try:
            os.close(self._efd)
        except OSError:
            pass


class RepeatingTimer:
    def __init__(self, loop: IOLoop, interval: float, callback):
        self.loop, self.interval, self.callback, self.cancelled = loop, interval, callback, False
        loop.call_later(interval, self._tick)

    def _tick(self):
        if self.cancelled:
            return
        try:
            self.callback()
        finally:
            if not self.cancelled:
                self.loop.call_later(self.interval, self._tick)

    def cancel(self):
        self.cancelled = True
