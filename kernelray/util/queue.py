"""A FIFO queue shared by tasks and actors, as ``ray.util.queue``: one async actor holds the items.

::

    from kernelray.util.queue import Queue, Empty, Full
    q = Queue(maxsize=10)
    q.put(1); q.get()                 # 1
    q.get(block=False)                # raises Empty
    q.put_nowait_batch([1, 2]); q.get_nowait_batch(2)

Errors are Ray's: a non-blocking call raises ``Empty``/``Full`` itself; a blocking call that times
out raises the actor's ``Empty``/``Full`` (a ``RayTaskError`` that is also an instance of them).
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Iterable
from typing import Any, Optional

import kernelray


class Empty(queue.Empty):
    pass


class Full(queue.Full):
    pass


class Queue:
    """A first-in, first-out queue on the cluster; the handle can be passed to tasks and actors."""

    def __init__(self, maxsize: int = 0, actor_options: Optional[dict] = None) -> None:
        self.maxsize = maxsize
        self.actor = kernelray.remote(_QueueActor).options(**(actor_options or {})).remote(maxsize)

    def __len__(self) -> int:
        return self.size()

    def size(self) -> int:
        return kernelray.get(self.actor.qsize.remote())

    def qsize(self) -> int:
        return self.size()

    def empty(self) -> bool:
        return kernelray.get(self.actor.empty.remote())

    def full(self) -> bool:
        return kernelray.get(self.actor.full.remote())

    def put(self, item: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        """Add ``item``; if full, wait up to ``timeout`` (None: forever) or raise ``Full`` (``block=False``)."""
        if not block:
            try:
                kernelray.get(self.actor.put_nowait.remote(item))
            except asyncio.QueueFull:
                raise Full
            return
        _check_timeout(timeout)
        kernelray.get(self.actor.put.remote(item, timeout))

    async def put_async(self, item: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        if not block:
            try:
                await self.actor.put_nowait.remote(item)
            except asyncio.QueueFull:
                raise Full
            return
        _check_timeout(timeout)
        await self.actor.put.remote(item, timeout)

    def get(self, block: bool = True, timeout: Optional[float] = None) -> Any:
        """The next item; if empty, wait up to ``timeout`` (None: forever) or raise ``Empty`` (``block=False``)."""
        if not block:
            try:
                return kernelray.get(self.actor.get_nowait.remote())
            except asyncio.QueueEmpty:
                raise Empty
        _check_timeout(timeout)
        return kernelray.get(self.actor.get.remote(timeout))

    async def get_async(self, block: bool = True, timeout: Optional[float] = None) -> Any:
        if not block:
            try:
                return await self.actor.get_nowait.remote()
            except asyncio.QueueEmpty:
                raise Empty
        _check_timeout(timeout)
        return await self.actor.get.remote(timeout)

    def put_nowait(self, item: Any) -> None:
        return self.put(item, block=False)

    def put_nowait_batch(self, items: Iterable) -> None:
        """Put all ``items`` in order, or none (``Full``) if they do not fit."""
        if not isinstance(items, Iterable):
            raise TypeError("Argument 'items' must be an Iterable")
        kernelray.get(self.actor.put_nowait_batch.remote(items))

    def get_nowait(self) -> Any:
        return self.get(block=False)

    def get_nowait_batch(self, num_items: int) -> list:
        """``num_items`` items in FIFO order, or none (``Empty``) if fewer are queued."""
        if not isinstance(num_items, int):
            raise TypeError("Argument 'num_items' must be an int")
        if num_items < 0:
            raise ValueError("'num_items' must be nonnegative")
        return kernelray.get(self.actor.get_nowait_batch.remote(num_items))

    def shutdown(self, force: bool = False, grace_period_s: int = 5) -> None:
        """Stop the queue's actor (gracefully, then by kill after ``grace_period_s``)."""
        if self.actor:
            if force:
                kernelray.kill(self.actor, no_restart=True)
            else:
                _, pending = kernelray.wait([self.actor.__ray_terminate__.remote()], timeout=grace_period_s)
                if pending:
                    kernelray.kill(self.actor, no_restart=True)
        self.actor = None


def _check_timeout(timeout) -> None:
    if timeout is not None and timeout < 0:
        raise ValueError("'timeout' must be a non-negative number")


class _QueueActor:
    def __init__(self, maxsize):
        self.maxsize = maxsize
        self.queue = asyncio.Queue(maxsize)

    def qsize(self):
        return self.queue.qsize()

    def empty(self):
        return self.queue.empty()

    def full(self):
        return self.queue.full()

    async def put(self, item, timeout=None):
        try:
            await asyncio.wait_for(self.queue.put(item), timeout)
        except asyncio.TimeoutError:
            raise Full

    async def get(self, timeout=None):
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except asyncio.TimeoutError:
            raise Empty

    def put_nowait(self, item):
        self.queue.put_nowait(item)

    def put_nowait_batch(self, items):
        if self.maxsize > 0 and len(items) + self.qsize() > self.maxsize:
            raise Full(f"Cannot add {len(items)} items to queue of size {self.qsize()} and maxsize {self.maxsize}.")
        for item in items:
            self.queue.put_nowait(item)

    def get_nowait(self):
        return self.queue.get_nowait()

    def get_nowait_batch(self, num_items):
        if num_items > self.qsize():
            raise Empty(f"Cannot get {num_items} items from queue of size {self.qsize()}.")
        return [self.queue.get_nowait() for _ in range(num_items)]


__all__ = ["Empty", "Full", "Queue"]
