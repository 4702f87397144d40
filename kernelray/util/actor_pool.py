"""ActorPool: spread work over a fixed set of actors, as ``ray.util.ActorPool``.

``fn(actor, value)`` submits one piece of work and returns its ObjectRef (or a list of
them).  Each actor has at most one piece of work at a time; the rest waits here until an
actor is free.  Results come back in submission order (``get_next``, ``map``) or as they
finish (``get_next_unordered``, ``map_unordered``).
"""

from __future__ import annotations


class ActorPool:
    def __init__(self, actors: list):
        self._idle = list(actors)
        self._busy: dict = {}  # key of the submitted future -> (submission index, actor)
        self._futures: dict = {}  # submission index -> future (ObjectRef or list of them)
        self._next_index = 0  # index the next submission gets
        self._next_result = 0  # index get_next returns next
        self._waiting: list = []  # (fn, value) submitted while every actor was busy

    # -- submitting ----------------------------------------------------------------------
    def submit(self, fn, value) -> None:
        """Run ``fn(actor, value)`` on an idle actor, or as soon as one is free."""
        if not self._idle:
            self._waiting.append((fn, value))
            return
        actor = self._idle.pop()
        future = fn(actor, value)
        self._busy[_key(future)] = (self._next_index, actor)
        self._futures[self._next_index] = future
        self._next_index += 1

    def map(self, fn, values):
        """Results of ``fn(actor, v)`` for every value, in the order of ``values`` (a generator)."""
        self._discard_unfetched()
        for v in values:
            self.submit(fn, v)

        def results():
            while self.has_next():
                yield self.get_next()

        return results()

    def map_unordered(self, fn, values):
        """Like ``map``, but each result as soon as it is ready."""
        self._discard_unfetched()
        for v in values:
            self.submit(fn, v)

        def results():
            while self.has_next():
                yield self.get_next_unordered()

        return results()

    def _discard_unfetched(self) -> None:
        """A new map() starts clean: results nobody fetched from earlier work are dropped."""
        while self.has_next():
            try:
                self.get_next(timeout=0, ignore_if_timedout=True)
            except TimeoutError:
                pass

    # -- results ---------------------------------------------------------------------------
    def has_next(self) -> bool:
        """Is any submitted work still unreturned?"""
        return bool(self._busy)

    def get_next(self, timeout: float | None = None, ignore_if_timedout: bool = False):
        """The result of the oldest unreturned submission (waits at most ``timeout`` s).

        On timeout raises TimeoutError; with ``ignore_if_timedout`` that submission is
        given up (its actor goes back to the pool) before the error is raised.
        """
        from .. import api

        if not self.has_next():
            raise StopIteration("No more results to get")
        if self._next_result >= self._next_index:
            raise ValueError("It is not allowed to call get_next() after get_next_unordered().")
        index = self._next_result
        future = self._futures[index]
        timed_out = False
        if timeout is not None:
            ready, _ = api.wait(_refs(future), num_returns=len(_refs(future)), timeout=timeout)
            if len(ready) < len(_refs(future)):
                if not ignore_if_timedout:
                    raise TimeoutError("Timed out waiting for result")
                timed_out = True
        del self._futures[index]
        self._next_result += 1
        _, actor = self._busy.pop(_key(future))
        self._return_actor(actor)
        if timed_out:
            raise TimeoutError(f"Timed out waiting for result. The task {future} has been ignored.")
        return api.get(future)

    def get_next_unordered(self, timeout: float | None = None, ignore_if_timedout: bool = False):
        """The result of whichever submission finishes first (waits at most ``timeout`` s)."""
        from .. import api

        if not self.has_next():
            raise StopIteration("No more results to get")
        by_ref = {}
        for key in self._busy:
            for ref in _refs(key):
                by_ref[ref] = key
        ready, _ = api.wait(list(by_ref), num_returns=1, timeout=timeout)
        if not ready:
            if ignore_if_timedout:
                raise TimeoutError("Timed out waiting for result. No task has been ignored.")
            raise TimeoutError("Timed out waiting for result")
        key = by_ref[ready[0]]
        index, actor = self._busy.pop(key)
        future = self._futures.pop(index)
        self._next_result = max(self._next_result, index + 1)
        self._return_actor(actor)
        return api.get(future)

    # -- the actors --------------------------------------------------------------------------
    def has_free(self) -> bool:
        """Is an actor idle, with no work waiting for one?"""
        return bool(self._idle) and not self._waiting

    def pop_idle(self):
        """Take an idle actor out of the pool (None if none is free)."""
        return self._idle.pop() if self.has_free() else None

    def push(self, actor) -> None:
        """Add an actor to the pool (it picks up waiting work at once)."""
        busy = [a for _, a in self._busy.values()]
        if actor in self._idle or actor in busy:
            raise ValueError("Actor already belongs to current ActorPool")
        self._return_actor(actor)

    def _return_actor(self, actor) -> None:
        self._idle.append(actor)
        if self._waiting:
            self.submit(*self._waiting.pop(0))


def _key(future):
    return tuple(future) if isinstance(future, list) else future


def _refs(future) -> list:
    return list(future) if isinstance(future, (list, tuple)) else [future]
