"""``ray.util.as_completed`` and ``ray.util.map_unordered``: results as they finish, in
chunks of ``chunk_size`` (``wait``'s ``num_returns``), with Ray's argument checks."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence


def _check(chunk_size: int, wait_kwargs: dict) -> None:
    if chunk_size < 1:
        raise ValueError("`chunk_size` must be >= 1")
    if "num_returns" in wait_kwargs:
        raise ValueError("Use the `chunk_size` argument instead of `num_returns`.")


def _drain(pending: list, chunk_size: int, yield_obj_refs: bool, wait_kwargs: dict) -> Iterator:
    """Wait for up to ``chunk_size`` of ``pending`` (removing them) and yield them."""
    from .. import api

    ready, rest = api.wait(pending, num_returns=min(chunk_size, len(pending)), **wait_kwargs)
    pending[:] = rest
    if yield_obj_refs:
        yield from ready
    else:
        yield from api.get(ready)


def as_completed(refs: Sequence, *, chunk_size: int = 10, yield_obj_refs: bool = False, **kwargs) -> Iterator:
    """Yield the results of ``refs`` (or the refs) as they complete, a chunk at a time."""
    _check(chunk_size, kwargs)
    pending = list(refs)
    while pending:
        yield from _drain(pending, chunk_size, yield_obj_refs, kwargs)


def map_unordered(fn, items: Iterable, *, backpressure_size: int | None = 100, chunk_size: int = 10,
                  yield_obj_refs: bool = False, **kwargs) -> Iterator:
    """``fn.remote(item)`` for each item, at most ``backpressure_size`` in flight; results as they finish."""
    limit = float("inf") if backpressure_size is None else backpressure_size
    if limit <= 0:
        raise ValueError("backpressure_size must be positive.")
    _check(chunk_size, kwargs)
    pending: list = []
    for item in items:
        if len(pending) >= limit:
            yield from _drain(pending, chunk_size, yield_obj_refs, kwargs)
        pending.append(fn.remote(item))
    yield from as_completed(pending, chunk_size=chunk_size, yield_obj_refs=yield_obj_refs, **kwargs)
