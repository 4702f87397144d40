"""Pool: ``multiprocessing.Pool`` whose processes are actors, as ``ray.util.multiprocessing.Pool``.

::

    from kernelray.util.multiprocessing import Pool
    with Pool() as pool:                       # one actor per CPU of the cluster
        pool.map(f, range(100))                # in chunks, round-robin over the actors

As in Ray: the pool starts a local cluster (``init(num_cpus=processes)``) unless one is running,
or joins ``ray_address`` / ``$RAY_ADDRESS``; the actors hold no CPU unless ``ray_remote_args``
asks; ``close``/``join`` let the work finish, ``terminate`` (and leaving a ``with`` block) kills
the actors.  Unlike Ray (a bug there), imap and imap_unordered raise what the function raised,
and ``error_callback`` receives that exception, as multiprocessing does.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable, Iterable, Optional

import kernelray

from .results import AsyncResult, IMapIterator, PoolTaskError

logger = logging.getLogger(__name__)
RAY_ADDRESS_ENV = "RAY_ADDRESS"


class PoolActor:
    """One process of the pool: runs the initializer once, then batches of calls."""

    def __init__(self, initializer=None, initargs=None):
        if initializer:
            initializer(*(initargs or ()))

    def ping(self):
        return None

    def run_batch(self, func, batch):
        results = []
        for args, kwargs in batch:
            try:
                results.append(func(*(args or ()), **(kwargs or {})))
            except Exception as exc:
                results.append(PoolTaskError(exc))
        return results


class Pool:
    """A pool of actor processes (``processes`` defaults to the cluster's CPUs)."""

    def __init__(self, processes: Optional[int] = None, initializer: Optional[Callable] = None,
                 initargs: Optional[Iterable] = None, maxtasksperchild: Optional[int] = None,
                 context: Any = None, ray_address: Optional[str] = None,
                 ray_remote_args: Optional[dict] = None):
        self._closed = False
        self._initializer = initializer
        self._initargs = initargs
        self._maxtasksperchild = maxtasksperchild or -1
        self._stopping: list = []  # refs of __ray_terminate__ calls
        self._retiring: list = []  # (actor, its last batch's ref): maxtasksperchild reached
        self._actor_class = kernelray.remote(num_cpus=0)(PoolActor).options(**(ray_remote_args or {}))
        self._next_index = 0
        if context:
            logger.warning("The 'context' argument is not supported using kernelray. Please refer to the "
                           "documentation for how to control kernelray initialization.")
        processes = _init_cluster(processes, ray_address)
        self._actors = [self._new_actor() for _ in range(processes)]  # [actor, calls so far]
        kernelray.get([actor.ping.remote() for actor, _ in self._actors])

    def _new_actor(self) -> list:
        return [self._actor_class.remote(self._initializer, self._initargs), 0]

    def _num_actors(self) -> int:
        return len(self._actors)

    def _run_batch(self, actor_index: int, func, batch: list):
        entry = self._actors[actor_index]
        ref = entry[0].run_batch.remote(func, batch)
        entry[1] += 1
        if entry[1] == self._maxtasksperchild:  # retire it once this batch is done; a fresh actor takes its place
            self._retiring.append((entry[0], ref))
            self._actors[actor_index] = self._new_actor()
        self._stop_retired(wait=False)
        return ref

    def _stop_retired(self, wait: bool) -> None:
        """Stop the retiring actors whose last batch finished (all of them with ``wait``)."""
        if not self._retiring:
            return
        refs = [ref for _, ref in self._retiring]
        done, _ = kernelray.wait(refs, num_returns=len(refs), timeout=None if wait else 0, fetch_local=False)
        done = set(done)
        for actor, ref in [r for r in self._retiring if r[1] in done]:
            self._stop_actor(actor)
        self._retiring = [r for r in self._retiring if r[1] not in done]

    def _stop_actor(self, actor) -> None:
        self._stopping.append(actor.__ray_terminate__.remote())

    def _check_running(self) -> None:
        if self._closed:
            raise ValueError("Pool not running")

    # -- one call -------------------------------------------------------------------------
    def apply(self, func: Callable, args: Optional[tuple] = None, kwargs: Optional[dict] = None):
        return self.apply_async(func, args, kwargs).get()

    def apply_async(self, func: Callable, args: Optional[tuple] = None, kwargs: Optional[dict] = None,
                    callback: Optional[Callable] = None, error_callback: Optional[Callable] = None) -> AsyncResult:
        self._check_running()
        self._next_index = (self._next_index + 1) % len(self._actors)
        ref = self._run_batch(self._next_index, func, [(args, kwargs)])
        return AsyncResult([ref], callback, error_callback, single_result=True)

    # -- many calls -----------------------------------------------------------------------
    def _chunksize(self, n: int) -> int:
        size, extra = divmod(n, len(self._actors) * 4)
        return size + 1 if extra else size

    def _map_async(self, func, iterable, chunksize=None, unpack_args=False, callback=None,
                   error_callback=None) -> AsyncResult:
        self._check_running()
        items = iterable if hasattr(iterable, "__len__") else list(iterable)
        calls = [((tuple(a) if unpack_args else (a,)), {}) for a in items]
        size = chunksize or self._chunksize(len(calls)) or 1
        refs = [self._run_batch(i % len(self._actors), func, calls[start:start + size])
                for i, start in enumerate(range(0, len(calls), size))]
        return AsyncResult(refs, callback, error_callback)

    def map(self, func: Callable, iterable: Iterable, chunksize: Optional[int] = None) -> list:
        return self._map_async(func, iterable, chunksize).get()

    def map_async(self, func: Callable, iterable: Iterable, chunksize: Optional[int] = None,
                  callback: Optional[Callable] = None, error_callback: Optional[Callable] = None) -> AsyncResult:
        return self._map_async(func, iterable, chunksize, False, callback, error_callback)

    def starmap(self, func: Callable, iterable: Iterable, chunksize: Optional[int] = None) -> list:
        return self._map_async(func, iterable, chunksize, unpack_args=True).get()

    def starmap_async(self, func: Callable, iterable: Iterable, callback: Optional[Callable] = None,
                      error_callback: Optional[Callable] = None) -> AsyncResult:
        return self._map_async(func, iterable, None, True, callback, error_callback)

    def imap(self, func: Callable, iterable: Iterable, chunksize: Optional[int] = 1) -> IMapIterator:
        """Results in the order of ``iterable``; one chunk per actor in flight at a time."""
        self._check_running()
        return IMapIterator(self, func, iterable, chunksize, ordered=True)

    def imap_unordered(self, func: Callable, iterable: Iterable, chunksize: Optional[int] = 1) -> IMapIterator:
        """Results as they finish; one chunk per actor in flight at a time."""
        self._check_running()
        return IMapIterator(self, func, iterable, chunksize, ordered=False)

    # -- lifetime -------------------------------------------------------------------------
    def __enter__(self):
        self._check_running()
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.terminate()

    def close(self) -> None:
        """No more work; what was submitted finishes, then the actors exit."""
        for actor, _ in self._actors:
            self._stop_actor(actor)
        self._closed = True

    def terminate(self) -> None:
        """No more work; the actors are killed now."""
        if not self._closed:
            self.close()
        for actor in [a for a, _ in self._actors] + [a for a, _ in self._retiring]:
            kernelray.kill(actor)
        self._retiring = []

    def join(self) -> None:
        """Wait for the actors of a closed pool to exit."""
        if not self._closed:
            raise ValueError("Pool is still running")
        self._stop_retired(wait=True)
        if self._stopping:
            kernelray.wait(self._stopping, num_returns=len(self._stopping), fetch_local=False)
        self._stopping = []


def _init_cluster(processes: Optional[int], ray_address: Optional[str]) -> int:
    """Connect as Ray's Pool does (argument, then $RAY_ADDRESS, then a new local cluster); the pool size."""
    if not kernelray.is_initialized():
        address = ray_address if ray_address is not None else os.environ.get(RAY_ADDRESS_ENV)
        if address is None or address == "local":
            kernelray.init(num_cpus=processes)
        else:
            kernelray.init(address=address)
    cpus = int(kernelray.cluster_resources().get("CPU", 0))
    if processes is None:
        processes = cpus
    if processes <= 0:
        raise ValueError("Processes in the pool must be >0.")
    if cpus < processes:
        raise ValueError(f"Tried to start a pool with {processes} processes on an existing ray cluster, but there "
                         f"are only {cpus} CPUs in the ray cluster.")
    return processes
