"""Removing a placement group kills what runs in it, as in Ray: its actors go DEAD (calls
raise ActorDiedError naming the group), its tasks fail with TaskPlacementGroupRemoved
(running ones are killed, queued ones and later ones never run), and the bundles'
resources come back.  The 2-node case is in test_actor_placement.py."""

from __future__ import annotations

import os
import time

import psutil
import pytest

import kernelray as ray
from kernelray.exceptions import ActorDiedError, TaskPlacementGroupRemoved
from kernelray.util import placement_group, placement_group_table, remove_placement_group
from kernelray.util.scheduling_strategies import PlacementGroupSchedulingStrategy
from kernelray.util.state import list_actors

from .conftest import wait_until


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_for_full_resources(total_cpu: float = 2.0) -> None:
    def full():
        avail = ray.available_resources()
        return avail.get("CPU", 0) == total_cpu and not any("_group_" in k for k in avail)

    wait_until(full, 15, what="every CPU to come back and no bundle resource to be left")


def in_group(pg, index: int = -1) -> dict:
    return {"scheduling_strategy": PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=index)}


@ray.remote(num_cpus=1)
class Worker:
    def pid(self):
        return os.getpid()

    def sleep(self, seconds):
        time.sleep(seconds)
        return seconds


@ray.remote(num_cpus=1)
def run_long(path):
    with open(path, "a") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(600)
    return "finished"


@ray.remote(num_cpus=1)
def quick():
    return "ran"


def test_actor_in_removed_group_dies_with_its_group(cluster):
    wait_for_full_resources()
    pg = placement_group([{"CPU": 1}], name="doomed-actors")
    assert ray.get(pg.ready(), timeout=30) == pg
    actor = Worker.options(max_restarts=3, max_task_retries=3, **in_group(pg)).remote()
    pid = ray.get(actor.pid.remote(), timeout=30)
    in_flight = actor.sleep.remote(600)
    remove_placement_group(pg)
    for ref in (in_flight, actor.pid.remote()):
        with pytest.raises(ActorDiedError, match="placement group 'doomed-actors'"):
            ray.get(ref, timeout=30)
    wait_until(lambda: gone(pid), 15, what="the actor's worker process to exit")
    row = next(a for a in list_actors(detail=True) if a["pid"] == pid)
    assert row["state"] == "DEAD" and "was removed" in row["death_cause"]
    assert row["num_restarts"] == 0  # max_restarts does not bring it back: its group is gone
    assert placement_group_table(pg)["state"] == "REMOVED"
    wait_for_full_resources()


def test_running_queued_and_later_tasks_fail(cluster, tmp_path):
    wait_for_full_resources()
    pids = tmp_path / "pids"
    pg = placement_group([{"CPU": 1}])
    ray.get(pg.ready(), timeout=30)
    running = run_long.options(**in_group(pg, 0)).remote(str(pids))
    queued = run_long.options(**in_group(pg, 0)).remote(str(pids))  # the bundle's one CPU is taken: it waits
    wait_until(lambda: pids.exists() and pids.read_text().strip(), 30, what="the task to start")
    pid = int(pids.read_text().split()[0])
    remove_placement_group(pg)
    with pytest.raises(TaskPlacementGroupRemoved, match="placement group .* was removed"):
        ray.get(running, timeout=30)
    with pytest.raises(TaskPlacementGroupRemoved):
        ray.get(queued, timeout=30)
    wait_until(lambda: gone(pid), 15, what="the task's worker process to exit")
    assert pids.read_text().split() == [str(pid)]  # killed once, never retried (max_retries is 3)
    with pytest.raises(TaskPlacementGroupRemoved):  # asked for after the removal: refused, not left pending
        ray.get(quick.options(**in_group(pg)).remote(), timeout=30)
    wait_for_full_resources()
    assert ray.get(quick.remote(), timeout=30) == "ran"  # the freed CPU runs other work


def test_removing_a_pending_group_fails_what_waits_for_it(cluster):
    wait_for_full_resources()
    never = placement_group([{"CPU": 64}])  # more than the node has: stays PENDING
    assert not never.wait(0.5)
    ready = never.ready()
    waiting_task = quick.options(**in_group(never)).remote()
    waiting_actor = Worker.options(**in_group(never)).remote()
    pending_call = waiting_actor.pid.remote()
    remove_placement_group(never)
    with pytest.raises(TaskPlacementGroupRemoved):
        ray.get(ready, timeout=30)
    with pytest.raises(TaskPlacementGroupRemoved):
        ray.get(waiting_task, timeout=30)
    with pytest.raises(ActorDiedError, match="placement group .* was removed"):
        ray.get(pending_call, timeout=30)
    wait_for_full_resources()


def test_other_work_survives_and_removal_is_idempotent(cluster):
    wait_for_full_resources()
    keep, drop = placement_group([{"CPU": 1}]), placement_group([{"CPU": 1}])
    ray.get([keep.ready(), drop.ready()], timeout=30)
    kept = Worker.options(**in_group(keep)).remote()
    doomed = Worker.options(**in_group(drop)).remote()
    kept_pid, doomed_pid = ray.get([kept.pid.remote(), doomed.pid.remote()], timeout=30)
    remove_placement_group(drop)
    remove_placement_group(drop)  # a second removal changes nothing
    with pytest.raises(ActorDiedError):
        ray.get(doomed.pid.remote(), timeout=30)
    assert ray.get(kept.pid.remote(), timeout=30) == kept_pid  # another group's actor is untouched
    wait_until(lambda: gone(doomed_pid), 15, what="the removed group's actor to exit")
    assert not gone(kept_pid)
    remove_placement_group(keep)
    with pytest.raises(ActorDiedError):
        ray.get(kept.pid.remote(), timeout=30)
    wait_until(lambda: gone(kept_pid), 15, what="the second group's actor to exit")
    wait_for_full_resources()
