"""Cancel from any process holding the ref, and cancels racing the function's first push."""

from __future__ import annotations

import time

import pytest

import kernelray as ray
from kernelray.exceptions import TaskCancelledError


def test_cancel_from_a_task_that_was_passed_the_ref(cluster):
    """A task cancels a ref it was given (not owned by it): the request goes to the owner."""

    @ray.remote
    def sleeper():
        time.sleep(30)
        return "finished"

    @ray.remote
    def canceller(refs):
        ray.cancel(refs[0])
        return "cancelled"

    target = sleeper.remote()
    time.sleep(0.5)  # running
    assert ray.get(canceller.remote([target]), timeout=20) == "cancelled"
    with pytest.raises(TaskCancelledError):
        ray.get(target, timeout=20)


@pytest.mark.timeout(120)
def test_cancelled_first_push_of_a_function_does_not_strand_later_tasks(cluster):
    """Under load: the task that carried a function's code is cancelled before it runs (the cancel can
    overtake the push); the other tasks of the batch, and later ones, still run."""
    for round_ in range(40):
        def work(i, _r=round_):
            return i

        fn = ray.remote(work)
        refs = [fn.remote(i) for i in range(16)]
        ray.cancel(refs[0])
        for i, ref in enumerate(refs[1:], 1):
            assert ray.get(ref, timeout=30) == i
        try:
            ray.get(refs[0], timeout=30)
        except TaskCancelledError:
            pass
        assert ray.get([fn.remote(i) for i in range(4)], timeout=30) == [0, 1, 2, 3]


def test_worker_lacking_a_function_gets_it_pushed_again(cluster):
    """Whatever the cause, a worker asked to run a function it lacks asks the owner for the code."""

    @ray.remote
    def forgetful(forget):
        if forget:  # the worker loses every function it was sent (as a fresh worker at a reused address would)
            from kernelray.api import _connected_core

            _connected_core().executor.functions.clear()
        return "ran"

    for _ in range(5):
        assert ray.get([forgetful.remote(True), forgetful.remote(False), forgetful.remote(False)],
                       timeout=30) == ["ran"] * 3
