"""Generator tasks as Ray 2.60 runs them: fixed num_returns, errors midway, num_returns="dynamic"."""

from __future__ import annotations

import pytest

import kernelray as ray
from kernelray.exceptions import RayTaskError

from .conftest import multi_node_cluster

MB = 1 << 20


def _outcome(ref):
    try:
        return ray.get(ref, timeout=30)
    except RayTaskError as exc:
        return exc


def test_fixed_returns_generator_yielding_more_keeps_the_first_n(cluster):
    @ray.remote(num_returns=2)
    def three():
        yield from (1, 2, 3)

    assert ray.get(three.remote(), timeout=30) == [1, 2]


def test_fixed_returns_generator_yielding_fewer_fails_the_rest(cluster):
    @ray.remote(num_returns=3)
    def two():
        yield from (1, 2)

    first, second, third = (_outcome(r) for r in two.remote())
    assert (first, second) == (1, 2)
    assert isinstance(third, ValueError) and "Task returned 2 objects, but num_returns=3." in str(third)


def test_generator_raising_midway_keeps_what_it_yielded(cluster):
    @ray.remote(num_returns=3)
    def boom():
        yield 1
        raise KeyError("midway")

    first, *rest = (_outcome(r) for r in boom.remote())
    assert first == 1
    assert all(isinstance(e, KeyError) and "midway" in str(e) for e in rest)


def test_actor_method_generator_with_fixed_returns(cluster):
    @ray.remote
    class Source:
        @ray.method(num_returns=3)
        def items(self):
            yield "a"
            raise ValueError("actor midway")

    first, *rest = (_outcome(r) for r in Source.remote().items.remote())
    assert first == "a"
    assert all(isinstance(e, ValueError) and "actor midway" in str(e) for e in rest)


def test_plain_value_with_wrong_length_fails_every_return_as_in_ray(cluster):
    @ray.remote(num_returns=2)
    def scalar():
        return 1

    errors = [_outcome(r) for r in scalar.remote()]
    assert all(isinstance(e, TypeError) and "object of type 'int' has no len()" in str(e) for e in errors)


def test_dynamic_returns_one_ref_holding_a_dynamic_generator(cluster):
    @ray.remote(num_returns="dynamic")
    def count(n):
        for i in range(n):
            yield i * 10

    ref = count.remote(4)
    assert isinstance(ref, ray.ObjectRef)
    gen = ray.get(ref, timeout=30)
    assert isinstance(gen, ray.DynamicObjectRefGenerator) and len(gen) == 4
    assert [ray.get(r, timeout=30) for r in gen] == [0, 10, 20, 30]


def test_dynamic_generator_error_is_its_last_item(cluster):
    @ray.remote(num_returns="dynamic")
    def partial():
        yield "ok"
        raise ValueError("dynamic midway")

    first, last = (_outcome(r) for r in ray.get(partial.remote(), timeout=30))
    assert first == "ok" and isinstance(last, ValueError) and "dynamic midway" in str(last)


def test_dynamic_generator_retried_with_retry_exceptions(cluster, tmp_path):
    marker = str(tmp_path / "failed-once")

    @ray.remote(num_returns="dynamic", retry_exceptions=True, max_retries=2)
    def flaky():
        import os

        yield 1
        if not os.path.exists(marker):
            open(marker, "w").close()
            raise RuntimeError("first attempt")
        yield 2

    assert [ray.get(r, timeout=30) for r in ray.get(flaky.remote(), timeout=30)] == [1, 2]


def test_dynamic_generator_across_nodes():
    with multi_node_cluster({"num_cpus": 1, "object_store_memory": 100 * MB},
                            {"num_cpus": 1, "resources": {"far": 1}, "object_store_memory": 100 * MB}):
        import numpy as np

        @ray.remote(num_returns="dynamic", resources={"far": 1})
        def arrays():
            for i in range(3):
                yield np.full(MB, i, dtype=np.uint8)  # large: each lives in the far node's store

        @ray.remote(num_cpus=1)
        def total(gen):  # a top-level ref argument arrives as its value: the generator
            return sum(int(ray.get(r)[0]) for r in gen)

        ref = arrays.remote()
        assert [int(ray.get(r, timeout=30)[-1]) for r in ray.get(ref, timeout=30)] == [0, 1, 2]
        assert ray.get(total.remote(arrays.remote()), timeout=30) == 3


def test_dynamic_actor_method(cluster):
    @ray.remote
    class Source:
        @ray.method(num_returns="dynamic")
        def items(self, n):
            yield from range(n)

    gen = ray.get(Source.remote().items.remote(3), timeout=30)
    assert isinstance(gen, ray.DynamicObjectRefGenerator)
    assert [ray.get(r, timeout=30) for r in gen] == [0, 1, 2]
