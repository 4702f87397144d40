"""kernelray.util.queue.Queue against Ray's documented behaviour (scenarios from Ray's docs)."""

import asyncio

import pytest

import kernelray
from kernelray.exceptions import RayTaskError
from kernelray.util.queue import Empty, Full, Queue


def test_docs_example_fifo_between_tasks(cluster):
    q = Queue()

    @kernelray.remote
    def consumer(q, n):
        return [q.get(timeout=10) for _ in range(n)]

    ref = consumer.remote(q, 10)
    for item in range(10):
        q.put(item)
    assert kernelray.get(ref, timeout=30) == list(range(10))
    q.shutdown()


def test_nonblocking_calls_raise_empty_and_full(cluster):
    q = Queue(maxsize=2)
    with pytest.raises(Empty):
        q.get(block=False)
    q.put(1)
    q.put_nowait(2)
    assert (q.qsize(), len(q), q.empty(), q.full()) == (2, 2, False, True)
    with pytest.raises(Full):
        q.put(3, block=False)
    q.shutdown()


def test_blocking_timeouts_raise_the_actors_error(cluster):
    q = Queue(maxsize=1)
    with pytest.raises(Empty) as info:
        q.get(timeout=0.1)
    assert isinstance(info.value, RayTaskError)
    q.put(1)
    with pytest.raises(Full):
        q.put(2, timeout=0.1)
    with pytest.raises(ValueError, match="'timeout' must be a non-negative number"):
        q.get(timeout=-1)
    q.shutdown()


def test_batches_all_or_nothing(cluster):
    q = Queue(maxsize=3)
    q.put_nowait_batch([1, 2])
    with pytest.raises(Full, match="Cannot add 2 items to queue of size 2 and maxsize 3."):
        q.put_nowait_batch([3, 4])
    with pytest.raises(Empty, match="Cannot get 3 items from queue of size 2."):
        q.get_nowait_batch(3)
    assert q.get_nowait_batch(2) == [1, 2]
    with pytest.raises(TypeError, match="Argument 'items' must be an Iterable"):
        q.put_nowait_batch(5)
    with pytest.raises(TypeError, match="Argument 'num_items' must be an int"):
        q.get_nowait_batch("a")
    with pytest.raises(ValueError, match="'num_items' must be nonnegative"):
        q.get_nowait_batch(-1)
    q.shutdown()


def test_async_variants(cluster):
    q = Queue()

    async def main():
        await q.put_async(5)
        got = await q.get_async()
        with pytest.raises(Empty):
            await q.get_async(block=False)
        with pytest.raises(Empty):
            await q.get_async(timeout=0.1)
        return got

    assert asyncio.run(main()) == 5
    q.shutdown()


def test_actor_options_and_shutdown(cluster):
    q = Queue(actor_options={"num_cpus": 1})
    q.put(1)
    assert q.get() == 1
    q.shutdown()
    assert q.actor is None
    q.shutdown()  # a second shutdown is a no-op, as in Ray
