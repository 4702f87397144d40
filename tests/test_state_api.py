"""State API (tasks, actors, objects, nodes, workers, placement groups), task events, timeline, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

import kernelray as ray
from kernelray.gcs.task_manager import TaskManager
from kernelray.util import state

from .conftest import wait_until


@ray.remote
def square(x):
    return x * x


@ray.remote
def nap(s):
    time.sleep(s)
    return s


@ray.remote(max_retries=0)
def broken():
    raise KeyError("nope")


def _tasks(**eq):
    return state.list_tasks(filters=[(k, "=", v) for k, v in eq.items()])


def test_list_get_summarize_with_filters(cluster):
    refs = [square.remote(i) for i in range(6)]
    assert ray.get(refs) == [i * i for i in range(6)]
    bad = broken.remote()
    with pytest.raises(ray.exceptions.RayTaskError):
        ray.get(bad)
    # the owner's and the worker's events come in separate batches (each process flushes every 0.5 s)
    wait_until(lambda: len([t for t in _tasks(name="square", state="FINISHED") if t.worker_pid]) == 6, 10,
               what="6 finished squares, with their workers' events")
    wait_until(lambda: len(_tasks(name="broken", state="FAILED")) == 1, 10, what="the failed task")

    rows = _tasks(name="square")
    assert len(rows) == 6 and all(r.state == "FINISHED" and r["type"] == "NORMAL_TASK" for r in rows)
    assert set(rows[0]) == set(state.columns("tasks", detail=False))  # detail=False: the short columns
    r = rows[0]
    assert r.node_id == cluster["node_id"] and r.worker_id and r.worker_pid and r.duration_s is not None
    assert r.job_id == ray.get_runtime_context().get_job_id()
    failed = _tasks(name="broken")[0]
    assert failed.error_type == "TASK_EXECUTION_EXCEPTION"
    assert all(x.name != "square" for x in state.list_tasks(filters=[("name", "!=", "square")]))
    assert len(state.list_tasks(filters=[("name", "=", "square")], limit=2)) == 2
    assert not state.list_tasks(filters=[("state", "=", "running"), ("name", "=", "square")])  # case-insensitive

    detail = state.list_tasks(filters=[("task_id", "=", r.task_id)], detail=True)[0]
    assert [e["state"] for e in detail.events] == ["PENDING_ARGS_AVAIL", "PENDING_NODE_ASSIGNMENT",
                                                   "SUBMITTED_TO_WORKER", "RUNNING", "FINISHED"]
    assert detail.start_time_ms <= detail.end_time_ms

    attempts = state.get_task(refs[3])  # an ObjectRef or a task id
    assert len(attempts) == 1 and attempts[0].task_id == refs[3].hex()[:48]
    assert state.get_task(r.task_id)[0].state == "FINISHED"
    assert state.get_task("00" * 24) is None

    s = state.summarize_tasks()["cluster"]
    assert s["summary"]["square"]["state_counts"]["FINISHED"] >= 6
    assert s["summary"]["broken"]["state_counts"] == {"FAILED": 1}
    assert s["summary_by"] == "func_name" and s["total_tasks"] >= 7

    with pytest.raises(ValueError, match="not a filterable column"):
        state.list_tasks(filters=[("bogus", "=", 1)])
    with pytest.raises(ValueError, match="operator"):
        state.list_tasks(filters=[("name", ">", 1)])


def test_task_goes_through_running(cluster):
    ref = nap.remote(1.5)
    tid = ref.hex()[:48]
    wait_until(lambda: (state.get_task(tid) or [{}])[0].get("state") == "RUNNING", 10, what="RUNNING")
    assert ray.get(ref) == 1.5
    wait_until(lambda: state.get_task(tid)[0].state == "FINISHED", 10, what="FINISHED")
    row = state.get_task(tid)[0]
    assert 1.4 < row.duration_s < 5


def test_other_resources_and_schemas(cluster):
    nodes = state.list_nodes()
    assert len(nodes) == 1 and nodes[0].state == "ALIVE" and "raylet_address" not in nodes[0]
    assert "raylet_address" in state.list_nodes(detail=True)[0]
    assert state.list_nodes(filters=[("state", "=", "DEAD")]) == []
    workers = state.list_workers()
    assert workers and all(w.worker_type == "WORKER" and w.pid for w in workers)
    from kernelray.util import placement_group, remove_placement_group

    pg = placement_group([{"CPU": 1}], strategy="PACK", name="state-api-pg")
    ray.get(pg.ready(), timeout=30)
    pgs = state.list_placement_groups(filters=[("name", "=", "state-api-pg")], detail=True)
    assert len(pgs) == 1 and pgs[0].state == "CREATED" and pgs[0].bundles == [{"CPU": 1.0}]
    remove_placement_group(pg)
    assert "placement_group_id" in state.columns("placement_groups")
    assert isinstance(state.list_actors(), list)
    assert state.summarize_actors()["cluster"]["summary_by"] == "class"
    keep = ray.put(b"x" * 10)
    rows = state.list_objects(filters=[("object_id", "=", keep.hex())])
    assert rows and rows[0].reference_type == "LOCAL_REFERENCE" and "owner" not in rows[0]
    assert "owner" in state.list_objects(filters=[("object_id", "=", keep.hex())], detail=True)[0]


def test_timeline_is_chrome_trace(cluster, tmp_path):
    ray.get([nap.remote(0.05) for _ in range(4)])
    wait_until(lambda: len([r for r in _tasks(name="nap") if r.state == "FINISHED" and r.worker_pid]) >= 4, 10,
               what="naps")
    path = tmp_path / "trace.json"
    events = ray.timeline(str(path))
    loaded = json.loads(path.read_text())
    assert loaded == events
    spans = [e for e in loaded if e["ph"] == "X" and e["name"] == "nap"]
    assert len(spans) >= 4
    for e in spans:
        assert isinstance(e["ts"], int) and isinstance(e["pid"], int) and isinstance(e["tid"], int)
        assert 40_000 <= e["dur"] < 2_000_000 and e["cat"] == "task" and e["args"]["state"] == "FINISHED"
    meta = {(e["name"], e["pid"], e["tid"]) for e in loaded if e["ph"] == "M"}
    assert any(m[0] == "process_name" for m in meta) and any(m[0] == "thread_name" for m in meta)
    assert {(e["pid"], e["tid"]) for e in spans} <= {(p, t) for n, p, t in meta if n == "thread_name"}


@ray.remote
class StateCounter:
    def __init__(self):
        self.n = 0

    def incr(self):
        self.n += 1
        return self.n

    def boom(self):
        raise KeyError("method failed")

    def add(self, x):
        self.n += x
        return self.n

    def die(self):
        os._exit(1)


@ray.remote
def wait_for(path):
    deadline = time.monotonic() + 30
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.01)
    return 1


@ray.remote
class BrokenInit:
    def __init__(self):
        raise ValueError("no constructor for you")

    def ping(self):
        return 1


@ray.remote(max_concurrency=2)
class ThreadedState:
    def work(self, x):
        return x


def _ended(rows, n):
    return len(rows) == n and all(r.state in ("FINISHED", "FAILED") and r.worker_pid for r in rows)


def test_actor_calls_and_creation_are_tasks(cluster):
    c = StateCounter.remote()
    aid = c._actor_id.hex()
    refs = [c.incr.remote(), c.incr.remote(), c.boom.remote()]
    assert ray.get(refs[:2]) == [1, 2]
    with pytest.raises(ray.exceptions.RayTaskError):
        ray.get(refs[2])
    calls = lambda: state.list_tasks(filters=[("type", "=", "ACTOR_TASK"), ("actor_id", "=", aid)])  # noqa: E731
    wait_until(lambda: _ended(calls(), 3), 15, what="the 3 calls, ended, with their worker's events")
    rows = {r.task_id: r for r in calls()}
    for ref, name in zip(refs, ["incr", "incr", "boom"]):
        r = rows[ref.hex()[:48]]
        assert r.func_or_class_name == r.name == f"StateCounter.{name}"
        assert r.actor_id == aid and r.type == "ACTOR_TASK" and r.node_id == cluster["node_id"] and r.worker_id
    assert sorted(r.state for r in rows.values()) == ["FAILED", "FINISHED", "FINISHED"]
    failed = rows[refs[2].hex()[:48]]
    assert failed.error_type == "TASK_EXECUTION_EXCEPTION"
    assert [r.error_type for r in rows.values() if r.state == "FINISHED"] == [None, None]
    detail = state.get_task(refs[0])[0]
    assert [e["state"] for e in detail.events] == ["PENDING_ARGS_AVAIL", "SUBMITTED_TO_WORKER", "RUNNING",
                                                   "FINISHED"]
    assert detail.start_time_ms <= detail.end_time_ms

    # the creation task: owner, GCS and worker events
    wait_until(lambda: [r.state for r in _tasks(type="ACTOR_CREATION_TASK", actor_id=aid)] == ["FINISHED"], 15,
               what="the creation task, FINISHED")
    create = state.list_tasks(filters=[("type", "=", "ACTOR_CREATION_TASK"), ("actor_id", "=", aid)], detail=True)[0]
    assert create.name == create.func_or_class_name == "StateCounter.__init__"
    assert create.worker_pid == rows[refs[0].hex()[:48]].worker_pid  # the actor's process ran it
    assert [e["state"] for e in create.events] == ["PENDING_ARGS_AVAIL", "PENDING_NODE_ASSIGNMENT",
                                                   "SUBMITTED_TO_WORKER", "RUNNING", "FINISHED"]

    s = state.summarize_tasks()["cluster"]
    assert s["summary"]["StateCounter.incr"] == {"func_or_class_name": "StateCounter.incr", "type": "ACTOR_TASK",
                                                 "state_counts": {"FINISHED": 2}}
    assert s["summary"]["StateCounter.boom"]["state_counts"] == {"FAILED": 1}
    assert s["summary"]["StateCounter.__init__"]["type"] == "ACTOR_CREATION_TASK"
    assert s["total_actor_tasks"] >= 3 and s["total_actor_scheduled"] >= 1

    # calls run on an actor's threads are in the timeline too
    t = ThreadedState.remote()
    assert ray.get([t.work.remote(i) for i in range(4)]) == list(range(4))
    wait_until(lambda: _ended(_tasks(name="ThreadedState.work"), 4), 15, what="the threaded calls")
    spans = [e for e in ray.timeline() if e["ph"] == "X"]
    assert len([e for e in spans if e["name"] == "ThreadedState.work"]) == 4
    assert {e["args"]["state"] for e in spans if e["name"] == "StateCounter.incr"} == {"FINISHED"}
    assert [e["args"]["actor_id"] for e in spans if e["name"] == "StateCounter.__init__"] == [aid]


def test_actor_call_endings_cancelled_and_actor_died(cluster, tmp_path):
    c = StateCounter.remote()
    aid = c._actor_id.hex()
    assert ray.get(c.incr.remote(), timeout=30) == 1
    go = tmp_path / "go"
    gate = wait_for.remote(str(go))
    queued = c.add.remote(gate)  # waits for its argument at the owner
    wait_until(lambda: [r.state for r in _tasks(task_id=queued.hex()[:48])] == ["PENDING_ARGS_AVAIL"], 15,
               what="the call waiting for its argument")
    ray.cancel(queued)
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(queued, timeout=30)
    go.write_text("")
    assert ray.get(gate, timeout=30) == 1
    assert ray.get(c.incr.remote(), timeout=30) == 2  # the cancelled call never ran
    wait_until(lambda: [(r.state, r.error_type, r.type) for r in _tasks(task_id=queued.hex()[:48])]
               == [("FAILED", "TASK_CANCELLED", "ACTOR_TASK")], 15, what="the cancelled call, FAILED")

    dying, after = c.die.remote(), None
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(dying, timeout=30)
    after = c.incr.remote()  # the actor is dead: never sent
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(after, timeout=30)
    for ref in (dying, after):
        wait_until(lambda: [(r.state, r.error_type, r.actor_id) for r in _tasks(task_id=ref.hex()[:48])]
                   == [("FAILED", "ACTOR_DIED", aid)], 15, what="a call to the dead actor, FAILED")
    # the constructor ran and returned: its task stays FINISHED when the actor dies later
    assert [r.state for r in _tasks(type="ACTOR_CREATION_TASK", actor_id=aid)] == ["FINISHED"]

    b = BrokenInit.remote()
    with pytest.raises(ray.exceptions.ActorDiedError):
        ray.get(b.ping.remote(), timeout=30)
    baid = b._actor_id.hex()
    wait_until(lambda: [(r.state, r.error_type, r.name) for r in _tasks(type="ACTOR_CREATION_TASK", actor_id=baid)]
               == [("FAILED", "TASK_EXECUTION_EXCEPTION", "BrokenInit.__init__")], 15,
               what="the failed creation task")
    wait_until(lambda: [(r.state, r.error_type) for r in _tasks(actor_id=baid, type="ACTOR_TASK")]
               == [("FAILED", "ACTOR_DIED")], 15, what="the call to the actor whose constructor failed")


def test_restarted_actor_runs_its_creation_task_again(cluster):
    c = StateCounter.options(max_restarts=1).remote()
    aid = c._actor_id.hex()
    ray.get(c.incr.remote(), timeout=30)
    creation = lambda: _tasks(type="ACTOR_CREATION_TASK", actor_id=aid)  # noqa: E731
    # (a process killed by os._exit loses the events it has not sent yet: wait for them first)
    wait_until(lambda: [bool(r.worker_pid) for r in creation()] == [True], 15, what="the first run's events")
    with pytest.raises((ray.exceptions.ActorDiedError, ray.exceptions.ActorUnavailableError)):
        ray.get(c.die.remote(), timeout=30)
    wait_until(lambda: _restarted_and_called(c), 30, what="a call to the restarted actor")
    wait_until(lambda: [(r.state, r.attempt_number, bool(r.worker_pid)) for r in creation()] == [("FINISHED", 1, True)],
               15, what="the creation task's second attempt, FINISHED, with its worker's events")
    attempts = state.get_task(creation()[0].task_id)
    assert [(a.attempt_number, a.state) for a in attempts] == [(0, "FAILED"), (1, "FINISHED")]
    runs = {e["args"]["attempt"]: e["tid"] for e in ray.timeline()
            if e["ph"] == "X" and e["args"]["actor_id"] == aid and e["name"] == "StateCounter.__init__"}
    assert sorted(runs) == [0, 1] and runs[0] != runs[1]  # each attempt ran in its own process


def _restarted_and_called(handle) -> bool:
    try:
        return ray.get(handle.incr.remote(), timeout=30) == 1
    except ray.exceptions.ActorUnavailableError:
        return False


def _cli(args, timeout=60):
    env = dict(os.environ, COLUMNS="250")
    return subprocess.run([sys.executable, "-m", "kernelray.cli", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def test_cli_list_summary_timeline_status(cluster, tmp_path):
    ray.get([square.remote(i) for i in range(3)])
    wait_until(lambda: len(_tasks(name="square")) >= 3, 10, what="squares")
    addr = ["--address", cluster["address"]]
    r = _cli(["list", "tasks", "--filter", "name=square", "--limit", "500", "--format", "json", *addr])
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert rows and all(x["name"] == "square" for x in rows)
    r = _cli(["list", "tasks", "--filter", "name=square", "--filter", "state!=FAILED", "--limit", "2", *addr])
    assert r.returncode == 0, r.stderr
    assert "square" in r.stdout and "FINISHED" in r.stdout and "(limit 2)" in r.stdout
    r = _cli(["list", "tasks", "--filter", "nope=1", *addr])
    assert r.returncode == 2 and "not a filterable column" in r.stdout
    for resource in ("nodes", "workers", "actors", "objects", "placement-groups"):
        r = _cli(["list", resource, *addr])
        assert r.returncode == 0, (resource, r.stderr)
    r = _cli(["summary", "tasks", *addr])
    assert r.returncode == 0, r.stderr
    assert "square" in r.stdout and "FINISHED" in r.stdout
    out = tmp_path / "tl.json"
    r = _cli(["timeline", "--output", str(out), *addr])
    assert r.returncode == 0, r.stderr
    assert any(e["ph"] == "X" and e["name"] == "square" for e in json.loads(out.read_text()))
    r = _cli(["status", *addr])
    assert r.returncode == 0, r.stderr
    assert "Tasks:" in r.stdout and "FINISHED" in r.stdout


def test_task_events_can_be_turned_off(run_python):
    code, out, err = run_python(
        """
        import time, kernelray as ray
        from kernelray.util import state
        ray.init(num_cpus=1)
        ray.get([ray.remote(lambda: 1).remote() for _ in range(20)])

        @ray.remote
        class A:
            def f(self):
                return 1

        a = A.remote()
        ray.get([a.f.remote() for _ in range(5)])
        time.sleep(1.2)
        print(len(state.list_tasks()))
        ray.shutdown()
        """,
        env={"KERNELRAY_TASK_EVENTS": "0"},
    )
    assert code == 0, err
    assert out.split()[-1] == "0"


# -- the GCS task table on its own ---------------------------------------------------------------
def _ev(mgr, events, header=None):
    mgr.ingest(header or {"node_id": "n1", "worker_id": "w1", "pid": 7, "address": "a"}, events)


def test_task_table_orders_events_and_counts_deltas():
    mgr = TaskManager(server=None, max_tasks=3)
    t1 = b"\x01" * 24
    _ev(mgr, [(t1, "RUNNING", 2.0, 0)])  # the worker's batch arrives first
    _ev(mgr, [(t1, "PENDING_ARGS_AVAIL", 1.0, 0, "f", b"\x01\x00\x00\x00", None, None),
              (t1, "PENDING_NODE_ASSIGNMENT", 1.1, 0), (t1, "SUBMITTED_TO_WORKER", 1.2, 0, "n1", "w1")])
    rec = mgr.tasks[t1]
    assert rec.state == "RUNNING" and rec.name == "f" and rec.worker_pid == 7
    assert mgr.counts == {"": {"RUNNING": 0}, "f": {"RUNNING": 1}}
    v = mgr.version
    _ev(mgr, [(t1, "RUN_END", 3.0, 0), (t1, "FAILED", 3.1, 0, "WorkerCrashedError")])
    assert rec.state == "FAILED" and rec.end_time == 3.0
    # a retry (attempt 1) starts over; a late event of attempt 0 changes nothing
    _ev(mgr, [(t1, "PENDING_NODE_ASSIGNMENT", 4.0, 1)])
    _ev(mgr, [(t1, "RUNNING", 3.5, 0)])
    assert rec.state == "PENDING_NODE_ASSIGNMENT" and rec.attempt == 1 and rec.error_type is None
    assert mgr.totals["FAILED"] == 0 and mgr.totals["PENDING_NODE_ASSIGNMENT"] == 1
    assert mgr.group_version["f"] > v
    # eviction: the least recently updated goes; finished tasks stay counted
    for i in range(2, 6):
        tid = bytes([i]) * 24
        _ev(mgr, [(tid, "PENDING_ARGS_AVAIL", 5.0, 0, "g", b"\x01\x00\x00\x00", None, None),
                  (tid, "FINISHED", 5.1, 0, None)])
    assert len(mgr.tasks) == 3 and mgr.evicted == 2 and t1 not in mgr.tasks
    assert mgr.counts["g"]["FINISHED"] == 4 and mgr.totals["PENDING_NODE_ASSIGNMENT"] == 0


def test_task_table_types():
    mgr = TaskManager(server=None)
    job, actor = b"\x01\x00\x00\x00", b"\x02" * 16
    create, call, plain = b"\x0a" * 24, b"\x0b" * 24, b"\x0c" * 24
    mgr.record_creation(create, "PENDING_NODE_ASSIGNMENT", 0)  # the GCS's event may come first
    _ev(mgr, [(create, "PENDING_ARGS_AVAIL", 1.0, 0, "C.__init__", job, actor, None, "ACTOR_CREATION_TASK"),
              (call, "PENDING_ARGS_AVAIL", 1.0, 0, "C.m", job, actor, None),
              (plain, "PENDING_ARGS_AVAIL", 1.0, 0, "f", job, None, None)])
    mgr.record_creation(create, "FINISHED", 0, None)
    from kernelray.gcs.task_manager import row, task_type

    assert [task_type(mgr.tasks[t]) for t in (create, call, plain)] == ["ACTOR_CREATION_TASK", "ACTOR_TASK",
                                                                       "NORMAL_TASK"]
    assert row(mgr.tasks[create])["state"] == "FINISHED"
    assert mgr.group_type == {"C.__init__": "ACTOR_CREATION_TASK", "C.m": "ACTOR_TASK", "f": "NORMAL_TASK"}
