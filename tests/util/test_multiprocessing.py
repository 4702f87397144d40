"""kernelray.util.multiprocessing.Pool against Ray 2.60's Pool (scenarios from Ray's docs)."""

import multiprocessing
import os
import time

import pytest

import kernelray
from kernelray.util.multiprocessing import Pool, TimeoutError


def square(x):
    return x * x


def fail_on_three(x):
    if x == 3:
        raise ValueError("three")
    return x * x


def sleep_then_return(x):
    time.sleep(x)
    return x


def set_marker(value):
    os.environ["POOL_MARKER"] = value


def read_marker(_):
    return os.environ.get("POOL_MARKER")


@pytest.fixture(scope="module")
def pool(cluster):
    p = Pool()
    yield p
    p.terminate()


def test_docs_example_map_and_friends(pool):
    assert pool.map(square, range(10)) == [x * x for x in range(10)]
    assert list(pool.imap(square, range(10))) == [x * x for x in range(10)]
    assert sorted(pool.imap_unordered(square, range(10))) == [x * x for x in range(10)]
    assert pool.starmap(pow, [(2, 3), (3, 2)]) == [8, 9]
    assert pool.map(square, range(7), chunksize=3) == [x * x for x in range(7)]
    assert list(pool.imap(square, iter(range(7)), chunksize=3)) == [x * x for x in range(7)]
    assert pool.map(square, []) == []


def test_errors_are_the_functions_own(pool):
    with pytest.raises(ValueError, match="three"):
        pool.map(fail_on_three, range(5))
    with pytest.raises(ValueError, match="three"):
        pool.apply(fail_on_three, (3,))
    results = pool.imap(fail_on_three, range(5))
    assert [next(results) for _ in range(3)] == [0, 1, 4]
    with pytest.raises(ValueError, match="three"):
        next(results)
    assert next(results) == 16


def test_async_results(pool):
    result = pool.apply_async(sleep_then_return, (0.5,))
    assert not result.ready()
    with pytest.raises(ValueError, match="not ready"):
        result.successful()
    with pytest.raises(multiprocessing.TimeoutError):
        result.get(timeout=0.05)
    assert result.get(timeout=10) == 0.5 and result.successful()
    assert pool.apply(divmod, (7, 2)) == (3, 1)
    it = pool.imap(sleep_then_return, [0.5])
    with pytest.raises(TimeoutError):
        it.next(timeout=0.05)
    assert it.next(timeout=10) == 0.5
    with pytest.raises(StopIteration):
        it.next()


def test_callbacks(pool):
    got, errors = [], []
    pool.map_async(square, range(3), callback=got.append).wait(10)
    failed = pool.map_async(fail_on_three, range(5), error_callback=errors.append)
    failed.wait(10)
    deadline = time.monotonic() + 10
    while (not got or not errors) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert got == [[0, 1, 4]]
    assert [str(e) for e in errors] == ["three"] and not failed.successful()


def test_initializer_and_context_manager(cluster):
    with Pool(2, initializer=set_marker, initargs=("ready",)) as p:
        assert p.map(read_marker, range(4)) == ["ready"] * 4


def test_maxtasksperchild_replaces_the_actor(cluster):
    with Pool(1, maxtasksperchild=1) as p:
        assert len(set(p.map(lambda _: os.getpid(), range(3), chunksize=1))) == 3


def test_lifecycle_errors(cluster):
    with pytest.raises(ValueError, match="Tried to start a pool with 5 processes on an existing ray cluster, but "
                                         "there are only 2 CPUs in the ray cluster."):
        Pool(processes=5)
    with pytest.raises(ValueError, match="Processes in the pool must be >0."):
        Pool(processes=0)
    p = Pool(1)
    with pytest.raises(ValueError, match="Pool is still running"):
        p.join()
    p.close()
    with pytest.raises(ValueError, match="Pool not running"):
        p.map(square, [1])
    with pytest.raises(ValueError, match="Pool not running"):
        p.__enter__()
    p.join()


def test_ray_address_joins_a_running_cluster(cluster, run_python):
    code = f"""
        import kernelray
        from kernelray.util.multiprocessing import Pool
        pool = Pool(ray_address={cluster['address']!r})
        print(pool.map(abs, [-1, -2]), int(kernelray.cluster_resources()['CPU']))
        pool.terminate()
    """
    rc, out, err = run_python(code, timeout=60)
    assert rc == 0, err
    assert out.split() == ["[1,", "2]", "2"]
