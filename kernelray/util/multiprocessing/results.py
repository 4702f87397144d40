"""What a Pool hands back: AsyncResult (apply_async, map_async) and the imap iterators.

Each submitted chunk is one actor call returning a list with one entry per item: the value,
or a PoolTaskError holding what the function raised (re-raised as itself, as multiprocessing does).
"""

from __future__ import annotations

import threading
import time
from multiprocessing import TimeoutError

import kernelray
from kernelray.exceptions import RayError

_POLL_S = 0.1


class PoolTaskError(Exception):
    def __init__(self, underlying):
        super().__init__(underlying)
        self.underlying = underlying


def chunk_values(ref) -> list:
    """The items of one finished chunk; an error of the call itself stands for every item."""
    try:
        return kernelray.get(ref)
    except RayError as exc:
        return [exc]


def first_error(values):
    for value in values:
        if isinstance(value, PoolTaskError):
            return value.underlying
        if isinstance(value, Exception):
            return value
    return None


class AsyncResult:
    """The result of apply_async/map_async: ``get(timeout)``, ``wait``, ``ready``, ``successful``."""

    def __init__(self, refs: list, callback=None, error_callback=None, single_result=False):
        self._refs = refs
        self._single = single_result
        if callback is not None or error_callback is not None:
            threading.Thread(target=self._run_callbacks, args=(callback, error_callback), daemon=True,
                             name="kernelray-pool-callbacks").start()

    def wait(self, timeout=None) -> None:
        """Return once every result is ready or ``timeout`` seconds passed (no error on timeout)."""
        if self._refs:
            kernelray.wait(self._refs, num_returns=len(self._refs), timeout=timeout, fetch_local=False)

    def ready(self) -> bool:
        if not self._refs:
            return True
        done, _ = kernelray.wait(self._refs, num_returns=len(self._refs), timeout=0, fetch_local=False)
        return len(done) == len(self._refs)

    def successful(self) -> bool:
        if not self.ready():
            raise ValueError(f"{self!r} not ready")
        return all(first_error(chunk_values(r)) is None for r in self._refs)

    def get(self, timeout=None):
        """The result (a list, or one value for apply_async); the function's exception if it raised."""
        self.wait(timeout)
        if not self.ready():
            raise TimeoutError
        values = [v for r in self._refs for v in chunk_values(r)]
        error = first_error(values)
        if error is not None:
            raise error
        return values[0] if self._single else values

    def _run_callbacks(self, callback, error_callback) -> None:
        pending, values = list(self._refs), {}
        while pending:
            done, pending = kernelray.wait(pending, num_returns=1, timeout=_POLL_S * 10, fetch_local=False)
            for ref in done:
                values[ref] = chunk_values(ref)
                error = first_error(values[ref])
                if error is not None:
                    if error_callback is not None:
                        error_callback(error)
                    return
        if callback is not None:
            flat = [v for r in self._refs for v in values[r]]
            callback(flat[0] if self._single else flat)


class IMapIterator:
    """Results of imap/imap_unordered; one chunk in flight per actor, the next sent as one finishes."""

    def __init__(self, pool, func, iterable, chunksize, ordered: bool):
        self._pool = pool
        self._func = func
        self._items = iter(iterable)
        self._chunksize = chunksize or 1
        self._ordered = ordered
        self._in_flight: dict = {}  # ref -> (chunk index, actor index)
        self._finished: dict = {}  # chunk index -> values
        self._ready: list = []  # values to hand out, in order
        self._next_chunk = 0  # index the next submitted chunk gets
        self._next_out = 0  # ordered: the chunk to hand out next
        self._exhausted = False
        for actor_index in range(pool._num_actors()):
            self._submit(actor_index)

    def _submit(self, actor_index: int) -> None:
        if self._exhausted:
            return
        chunk = []
        for item in self._items:
            chunk.append(((item,), {}))
            if len(chunk) == self._chunksize:
                break
        if len(chunk) < self._chunksize:
            self._exhausted = True
        if chunk:
            ref = self._pool._run_batch(actor_index, self._func, chunk)
            self._in_flight[ref] = (self._next_chunk, actor_index)
            self._next_chunk += 1

    def __iter__(self):
        return self

    def __next__(self):
        return self.next()

    def next(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ready:
            if not self._in_flight and not self._finished:
                raise StopIteration
            self._collect_one(deadline)
        value = self._ready.pop(0)
        if isinstance(value, PoolTaskError):
            raise value.underlying
        if isinstance(value, Exception):
            raise value
        return value

    def _collect_one(self, deadline) -> None:
        if self._ordered and self._next_out in self._finished:
            self._ready.extend(self._finished.pop(self._next_out))
            self._next_out += 1
            return
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        done, _ = kernelray.wait(list(self._in_flight), num_returns=1, timeout=left, fetch_local=False)
        if not done:
            raise TimeoutError
        chunk_index, actor_index = self._in_flight.pop(done[0])
        values = chunk_values(done[0])
        self._submit(actor_index)
        if self._ordered:
            self._finished[chunk_index] = values
        else:
            self._ready.extend(values)
