"""Owner-side task submission (loop thread only).

The owner resolves a task's dependencies (PENDING_ARGS_AVAIL), queues it under its
scheduling key (resources + runtime env: PENDING_NODE_ASSIGNMENT), leases workers from
the raylet for that key and pushes tasks straight to them (SUBMITTED_TO_WORKER).
Leases are reused for every task of the key and returned after a short idle linger.

Batches follow guided self-scheduling: an idle leased worker gets
``ceil(queued / (2 * leases))`` tasks (at most 64), so 10,000 no-ops travel in few
messages while four 0.5 s sleeps still spread over four workers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from ..exceptions import RaySystemError, TaskCancelledError, TaskPlacementGroupRemoved, WorkerCrashedError
from .function_cache import resend_with_function
from .generator_returns import store_dynamic_items
from .memory_store import ERROR
from .serialization import serialize_error, stored_from_frames
from . import task_events as _task_events
from .task_spec import (
    FAILED,
    FINISHED,
    PENDING_ARGS_AVAIL,
    PENDING_NODE_ASSIGNMENT,
    STREAMING,
    SUBMITTED_TO_WORKER,
    TaskSpec,
)

log = logging.getLogger("kernelray.submitter")
_EVENTS = _task_events.ENABLED  # task events (task_events.py): one tuple per state change
_record = _task_events.record
_now = _task_events.now

MAX_BATCH = 64
MAX_PENDING_LEASE_REQUESTS = 8
LEASE_LINGER_S = 0.05


@dataclass(eq=False)
class Lease:
    lease_id: str
    worker_id: str
    address: str
    node_id: str
    sock: object
    core_address: str = ""
    raylet: str = ""  # the raylet that granted the lease (leases go back there)
    gpu_ids: list = field(default_factory=list)
    in_flight: dict = field(default_factory=dict)
    linger: object = None  # a timer returning the lease (one-off keys only)
    idle_since: float | None = None  # when the lease last went idle; the queue's sweeper returns it


@dataclass(eq=False)
class SchedulingQueue:
    key: tuple
    resources: dict
    runtime_env: dict | None
    queue: deque = field(default_factory=deque)
    leases: dict = field(default_factory=dict)
    pending_requests: dict = field(default_factory=dict)  # request id -> raylet asked
    warned_infeasible: bool = False
    strategy: dict | None = None
    preferred_node: str | None = None
    sweeper: object = None  # one timer per queue returns leases idle for LEASE_LINGER_S

    @property
    def one_off(self) -> bool:
        """Keys tied to one placement group (its ready() check): nothing to reuse the lease for."""
        return any(k.startswith("bundle_group_") for k in self.resources)


def _preferred_node(dep_values) -> str | None:
    """The node holding the most bytes of these arguments in its store (prefer to run there)."""
    import json

    weight: dict = {}
    for obj in dep_values:
        if obj.kind == "plasma":
            loc = json.loads(bytes(obj.data))
            weight[loc["node_id"]] = weight.get(loc["node_id"], 0) + loc.get("size", 0)
    return max(weight, key=weight.get) if weight else None


class GeneratorState:
    """What the owner knows of a streaming generator task's items."""

    def __init__(self):
        self.received = 0  # items stored, 1..received
        self.total = None  # known once the task ends
        self.done = False
        self.cond = threading.Condition()

    def available(self) -> int:
        return self.received if self.total is None else min(self.received, self.total)


class TaskSubmitter:
    def __init__(self, core):
        self.core = core
        self.tasks: dict[bytes, TaskSpec] = {}
        self.on_submit = None  # callable(spec), loop thread: the Jupyter bridge notes which cell submitted what
        self.queues: dict[tuple, SchedulingQueue] = {}
        self.leases: dict[str, tuple] = {}  # lease_id -> (queue, lease)
        self.waiting_on: dict[bytes, list] = {}  # dependency oid -> specs waiting for it
        self.sent_fns: dict[str, set] = {}
        self.sent_job_config: set = set()
        self.children: dict[bytes, list] = {}
        self.generators: dict[bytes, GeneratorState] = {}
        self.lineage: dict[bytes, TaskSpec] = {}  # store-resident results -> the task that made them
        self.dead_raylets: set = set()  # raylets of nodes the GCS declared dead
        self._request_ids = 0
        self.finished_count = 0
        self.failed_count = 0

    # -- submission ----------------------------------------------------------------------
    def submit(self, spec: TaskSpec, task_type: str | None = None) -> None:
        """``task_type``: "ACTOR_CREATION_TASK" for an actor's creation (else the GCS tells by actor_id)."""
        core = self.core
        core.refs.drain()
        self.tasks[spec.task_id] = spec
        if self.on_submit is not None:
            self.on_submit(spec)
        straight = not spec.deps and spec.actor_id is None and task_type is None  # queued for a lease at once
        if _EVENTS:
            if straight:  # one event for both states, at the same moment (task_events.py)
                _record((spec.task_id, PENDING_NODE_ASSIGNMENT, _now(), spec.attempt, spec.name, spec.job_id,
                         spec.actor_id, spec.parent_task_id))
            elif task_type is None:
                _record((spec.task_id, PENDING_ARGS_AVAIL, _now(), spec.attempt, spec.name, spec.job_id,
                         spec.actor_id, spec.parent_task_id))
            else:
                _record((spec.task_id, PENDING_ARGS_AVAIL, _now(), spec.attempt, spec.name, spec.job_id,
                         spec.actor_id, spec.parent_task_id, task_type))
        if spec.parent_task_id is not None:
            self.children.setdefault(spec.parent_task_id, []).append(spec.task_id)
        if straight:
            spec.dep_values = []
            self._enqueue(spec, recorded=True)
            return
        if spec.deps:
            core.refs.add_submitted(spec.deps)
            missing = 0
            for ref in spec.deps:
                if ref._id not in core.store:
                    missing += 1
                    self.waiting_on.setdefault(ref._id, []).append(spec)
            if missing:
                remote = [r for r in spec.deps if r._owner != core.address and r._id not in core.store]
                if remote:
                    core._fetch_remote(remote)
                spec.extra = dict(spec.extra or {}, _missing=missing)
                return
        self._deps_ready(spec)

    def produces(self, oid: bytes) -> bool:
        spec = self.tasks.get(oid[:24])
        return spec is not None

    def on_object_ready(self, oid: bytes) -> None:
        specs = self.waiting_on.pop(oid, None)
        if not specs:
            return
        for spec in specs:
            if spec.cancelled or spec.task_id not in self.tasks:
                continue
            spec.extra["_missing"] -= 1
            if spec.extra["_missing"] == 0:
                del spec.extra["_missing"]
                self._deps_ready(spec)

    def _deps_ready(self, spec: TaskSpec) -> None:
        store = self.core.store
        values = []
        for ref in spec.deps:
            obj = store.get(ref._id)
            if obj is None:
                self._fail(spec, RaySystemError(f"dependency {ref.hex()} vanished before {spec.name} ran"))
                return
            if obj.kind == ERROR:  # a failed dependency fails this task with the same error
                self._finish(spec, [obj] * max(spec.num_returns, 1), FAILED)
                return
            values.append(obj)
        spec.dep_values = values
        if spec.actor_id is not None:
            self.core.actor_submitter.deps_ready(spec)
            return
        self._enqueue(spec)

    def _enqueue(self, spec: TaskSpec, recorded: bool = False) -> None:
        q = self.queues.get(spec.scheduling_key)
        if q is None:
            q = self.queues[spec.scheduling_key] = SchedulingQueue(spec.scheduling_key, spec.resources, spec.runtime_env,
                                                                   strategy=spec.strategy)
        spec.state = PENDING_NODE_ASSIGNMENT
        if _EVENTS and not recorded:
            _record((spec.task_id, PENDING_NODE_ASSIGNMENT, _now(), spec.attempt))
        if spec.dep_values and not q.leases:
            q.preferred_node = _preferred_node(spec.dep_values)
        q.queue.append(spec)
        self._pump(q)

    # -- leases and dispatch -----------------------------------------------------------
    def _pump(self, q: SchedulingQueue) -> None:
        queue = q.queue
        idle = [lease for lease in q.leases.values() if not lease.in_flight]
        # ask for workers first, so batch sizes count the leases that are on their way
        want = min(len(queue) - len(idle), MAX_PENDING_LEASE_REQUESTS) - len(q.pending_requests)
        for _ in range(max(0, want)):
            self._request_lease(q)
        if queue:
            workers = len(q.leases) + len(q.pending_requests)  # leases granted and coming
            for lease in idle:
                if not queue:
                    break
                size = max(1, min(MAX_BATCH, -(-len(queue) // (2 * max(1, workers)))))
                if q.strategy:  # SPREAD and affinity: one task per push, the placement is the point
                    size = 1
                batch = []
                while queue and len(batch) < size:
                    spec = queue.popleft()
                    if not spec.cancelled:
                        batch.append(spec)
                if batch:
                    self._push(lease, batch)
        if not queue:
            if q.one_off:
                for lease in q.leases.values():
                    if not lease.in_flight and lease.linger is None:
                        lease.linger = self.core.loop.call_later(0.0, self._linger_done, q, lease)
                return
            now = None
            for lease in q.leases.values():
                if not lease.in_flight and lease.idle_since is None:
                    lease.idle_since = now = now or time.monotonic()
            if now is not None and q.sweeper is None:  # no timer per task: one sweep per linger period
                q.sweeper = self.core.loop.call_later(LEASE_LINGER_S, self._sweep_idle, q)

    def _request_lease(self, q: SchedulingQueue, raylet: str | None = None) -> None:
        """Ask the local raylet (or, after a spillback, the raylet it named) for a worker."""
        core = self.core
        self._request_ids += 1
        rid = f"{core.worker_id.hex()[:8]}-{self._request_ids}"
        target = raylet or core.raylet_address
        q.pending_requests[rid] = target
        content = {
            "request_id": rid,
            "resources": q.resources,
            "job_id": core.job_id.hex(),
            "owner_address": core.address,
            "runtime_env": q.runtime_env,
            "strategy": q.strategy,
            "preferred_node": q.preferred_node,
            "spilled": raylet is not None,
        }
        core.request(core.peer(target), "request_worker_lease_request", content,
                     lambda m: self._on_lease_reply(q, rid, target, m))

    def _on_lease_reply(self, q: SchedulingQueue, rid: str, raylet: str, msg) -> None:
        q.pending_requests.pop(rid, None)
        c = msg.content
        if c.get("status") != "ok":
            if c.get("ename") != "LeaseRequestCancelled":
                from ..exceptions import TaskUnschedulableError

                cls = TaskUnschedulableError if c.get("ename") == "TaskUnschedulableError" else RaySystemError
                err = cls(f"the raylet refused a worker lease: {c.get('ename')}: {c.get('evalue')}")
                if c.get("ename") == "TaskPlacementGroupRemoved":  # the group is gone: never runs
                    err = TaskPlacementGroupRemoved(f"The task cannot run: {c.get('evalue')}.")
                while q.queue:
                    self._fail(q.queue.popleft(), err)
            return
        if "spillback" in c:  # another node has room: ask it directly
            target = c["spillback"]["raylet"]
            if target in self.dead_raylets:  # the raylet's view is behind: ask again shortly
                self.core.loop.call_later(0.2, self._pump, q)
            elif q.queue:
                self._request_lease(q, target)
            return
        lease = Lease(c["lease_id"], c["worker_id"], c["worker_address"], c.get("node_id", ""),
                      self.core.peer(c["worker_address"]), c.get("core_address", c["worker_address"]),
                      raylet, c.get("gpu_ids") or [])
        q.leases[lease.lease_id] = lease
        self.leases[lease.lease_id] = (q, lease)
        self._pump(q)

    def _sweep_idle(self, q: SchedulingQueue) -> None:
        """Return the leases idle for LEASE_LINGER_S; look again for those idle for less."""
        q.sweeper = None
        if q.queue:
            return
        now = time.monotonic()
        next_due = None
        for lease in list(q.leases.values()):
            if lease.in_flight or lease.idle_since is None:
                continue
            due = lease.idle_since + LEASE_LINGER_S
            if due <= now + 0.001:
                self._return_lease(q, lease)
            elif next_due is None or due < next_due:
                next_due = due
        if next_due is not None:
            q.sweeper = self.core.loop.call_later(next_due - now, self._sweep_idle, q)

    def _linger_done(self, q: SchedulingQueue, lease: Lease) -> None:
        lease.linger = None
        if lease.in_flight or q.queue or lease.lease_id not in q.leases:
            return
        self._return_lease(q, lease)

    def _return_lease(self, q: SchedulingQueue, lease: Lease, kill: bool = False) -> None:
        q.leases.pop(lease.lease_id, None)
        self.leases.pop(lease.lease_id, None)
        core = self.core
        core.send(core.peer(lease.raylet or core.raylet_address), "lease_returned",
                  {"lease_id": lease.lease_id, "worker_id": lease.worker_id, "kill": kill})
        if not q.queue and q.pending_requests:
            for rid, raylet in list(q.pending_requests.items()):
                core.send(core.peer(raylet), "lease_request_cancelled", {"request_id": rid})

    def _push(self, lease: Lease, batch: list) -> None:
        core = self.core
        lease.idle_since = None
        if lease.linger is not None:
            lease.linger.cancel()
            lease.linger = None
        sent = self.sent_fns.setdefault(lease.address, set())
        tasks, frames = [], []
        t_now = _now() if _EVENTS else 0.0
        for spec in batch:
            include_fn = spec.fn_id not in sent
            if include_fn:
                sent.add(spec.fn_id)
            d, f = spec.to_wire(include_fn)
            if lease.gpu_ids:
                d["gpu_ids"] = lease.gpu_ids
            tasks.append(d)
            frames += f
            spec.state = SUBMITTED_TO_WORKER
            if _EVENTS:
                _record((spec.task_id, SUBMITTED_TO_WORKER, t_now, spec.attempt, lease.node_id, lease.worker_id))
            spec.lease = lease
            lease.in_flight[spec.task_id] = spec
        content = {"tasks": tasks, "lease_id": lease.lease_id}
        if lease.address not in self.sent_job_config:
            self.sent_job_config.add(lease.address)
            content["job_config"] = core.job_config
        core.send(lease.sock, "push_task_request", content, frames)

    # -- results -----------------------------------------------------------------------
    def on_push_reply(self, msg) -> None:
        c = msg.content
        frames = msg.buffers
        pos = 0
        touched = set()
        for r in c.get("results", ()):
            tid = bytes.fromhex(r["task_id"])
            spec = self.tasks.get(tid)
            lease_entry = self.leases.get(c.get("lease_id", ""))
            n = r.get("nframes", 0)
            my_frames = frames[pos : pos + n]
            pos += n
            if lease_entry is not None:
                lease_entry[1].in_flight.pop(tid, None)
                touched.add(lease_entry[0])
            if "worker" in c:
                r["worker"] = c["worker"]
            if spec is not None and r.get("status") == "fn_missing" and lease_entry is not None:
                resend_with_function(self, lease_entry[1], spec)
                continue
            if spec is None:
                self._register_borrows(r)
                self._take_contained(None, r)
                continue
            self._on_result(spec, r, my_frames)
        for q in touched:
            self._pump(q)

    def _register_borrows(self, r: dict) -> None:
        """The worker still holds refs it got during the task: it borrows them now."""
        worker = r.get("worker")
        if not worker:
            return
        core = self.core
        for oid_hex, owner in r.get("borrowed", ()):
            oid = bytes.fromhex(oid_hex)
            if owner == core.address:
                core.refs.borrower_delta(oid, worker, +1)
            else:  # on the worker's behalf, before our own hold on it can go
                core.send_borrow("borrow_added", oid, owner, worker)

    def _take_contained(self, spec, r: dict, task_id: bytes | None = None) -> None:
        """Refs inside returned (or streamed) values: held with their outer object, then the
        worker lets go."""
        contained = r.get("contained")
        if not contained:
            return
        from ..object_ref import ObjectRef

        core = self.core
        released = []
        if task_id is None and spec is not None:
            task_id = spec.task_id
        for index, refs in contained:
            outer = task_id + index.to_bytes(4, "little") if task_id is not None else None
            inner = [ObjectRef(bytes.fromhex(h), owner) for h, owner in refs]
            released += [h for h, _ in refs]
            if outer is not None and core.refs.wanted(outer):
                core.refs.drain()
                core.capture(outer, inner)
            del inner
        core.refs.drain()  # borrow_added to the inner refs' owners goes out before handoff_done
        worker = r.get("worker")
        if worker:
            core.send(core.peer(worker), "handoff_completed", {"object_ids": released})

    def _on_result(self, spec: TaskSpec, r: dict, frames: list) -> None:
        self._register_borrows(r)
        objs, pos = [], 0
        for kind, n in r.get("returns", ()):
            objs.append(stored_from_frames(kind, frames[pos : pos + n]))
            pos += n
        status = r.get("status")
        if status == "error" and r.get("retryable") and self._can_retry(spec):
            self._retry(spec)
            return
        if spec.num_returns == STREAMING:
            self._finish_generator(spec, r, objs)
            return
        if status != "ok":
            objs = objs[:1] * max(spec.num_returns, 1)
        elif len(objs) > 1 and spec.num_returns == 1:  # num_returns="dynamic": the items follow the generator
            store_dynamic_items(self.core, spec, objs)
        self._finish(spec, objs, FINISHED if status == "ok" else FAILED, r.get("ename"))
        self._take_contained(spec, r)

    def _can_retry(self, spec: TaskSpec) -> bool:
        return not spec.cancelled and (spec.max_retries < 0 or spec.attempt < spec.max_retries)

    def _retry(self, spec: TaskSpec) -> None:
        spec.attempt += 1
        spec.lease = None
        log.info("retrying %s (attempt %d)", spec.name, spec.attempt + 1)
        if spec.actor_id is not None:
            self.core.actor_submitter.retry(spec)
            return
        self._enqueue(spec)

    def _finish(self, spec: TaskSpec, objs: list, state: str, error_type: str | None = None,
                event: bool = True) -> None:
        """``event=False``: the task ends here but its state is reported by another (an actor's creation
        task handed to the GCS)."""
        core = self.core
        spec.state = state
        if _EVENTS and event:
            _record((spec.task_id, state, _now(), spec.attempt, error_type))
        self.tasks.pop(spec.task_id, None)
        if spec.deps:
            core.refs.remove_submitted(spec.deps)
        if state == FINISHED:
            self.finished_count += 1
        else:
            self.failed_count += 1
        if spec.num_returns == STREAMING:
            if spec.actor_id is not None:  # (the task is out of self.tasks now, so _finish_generator would not)
                core.actor_submitter.task_finished(spec)
            self._finish_generator(spec, {"num_items": self.generators[spec.task_id].received}, objs)
            return
        wanted = core.refs.wanted
        for oid, obj in zip(spec.return_ids(), objs):
            if wanted(oid) or core._object_waiters.get(oid):
                core.put_local(oid, obj)
                if obj.kind == "plasma" and spec.actor_id is None:
                    self.lineage[oid] = spec  # how to make it again if its node dies
        self.children.pop(spec.task_id, None)
        if spec.actor_id is not None:
            core.actor_submitter.task_finished(spec)

    def _fail(self, spec: TaskSpec, exc: BaseException) -> None:
        err = serialize_error(exc)
        self._finish(spec, [err] * max(spec.num_returns, 1), FAILED, type(exc).__name__)

    # -- streaming generators -------------------------------------------------------------
    def register_generator(self, task_id: bytes) -> GeneratorState:
        state = GeneratorState()
        self.generators[task_id] = state
        return state

    def on_generator_item(self, msg) -> None:
        c = msg.content
        tid = bytes.fromhex(c["task_id"])
        state = self.generators.get(tid)
        if state is None:
            return
        index = c["index"]
        oid = tid + index.to_bytes(4, "little")
        self.core.refs.hold(oid, +1)
        self.core.put_local(oid, stored_from_frames(c["kind"], msg.buffers))
        if "contained" in c:  # refs inside the item live as long as the item
            self._take_contained(None, c, task_id=tid)
        with state.cond:
            state.received = max(state.received, index)
            state.cond.notify_all()

    def _finish_generator(self, spec: TaskSpec, r: dict, objs: list) -> None:
        if spec.actor_id is not None and spec.task_id in self.tasks:
            self.core.actor_submitter.task_finished(spec)
        state = self.generators.get(spec.task_id)
        self.tasks.pop(spec.task_id, None)
        if spec.deps and spec.state not in (FINISHED, FAILED):
            self.core.refs.remove_submitted(spec.deps)
        if _EVENTS and spec.state not in (FINISHED, FAILED):
            _record((spec.task_id, FINISHED, _now(), spec.attempt, None))
        spec.state = FINISHED
        if state is None:
            return
        total = r.get("num_items", state.received)
        if objs and objs[0].kind == ERROR:  # the generator raised (or the task failed): one more item, the error
            total = state.received + 1
            oid = spec.task_id + total.to_bytes(4, "little")
            self.core.refs.hold(oid, +1)
            self.core.put_local(oid, objs[0])
            state.received = total
        with state.cond:
            state.total = total
            state.done = True
            state.cond.notify_all()

    def release_generator(self, task_id: bytes, state: GeneratorState) -> None:
        """The ObjectRefGenerator was dropped: release the items it never handed out."""
        self.generators.pop(task_id, None)
        for index in range(1, state.received + 1):
            oid = task_id + index.to_bytes(4, "little")
            if oid in self.core.refs.entries:
                self.core.refs.hold(oid, -1)

    def item_handed_out(self, task_id: bytes, index: int) -> None:
        self.core.refs.drain()
        oid = task_id + index.to_bytes(4, "little")
        if oid in self.core.refs.entries:
            self.core.refs.hold(oid, -1)

    # -- failures ------------------------------------------------------------------------
    def on_worker_died(self, c: dict) -> None:
        entry = self.leases.pop(c.get("lease_id", ""), None)
        if entry is None:
            return
        q, lease = entry
        q.leases.pop(lease.lease_id, None)
        if lease.linger is not None:
            lease.linger.cancel()
        self.core.drop_peer(lease.address)
        self.core.drop_peer(lease.core_address)
        self.sent_fns.pop(lease.address, None)
        self.sent_job_config.discard(lease.address)
        why = c.get("reason") or "the worker process died"
        for spec in list(lease.in_flight.values()):
            if spec.cancelled:
                self._fail(spec, TaskCancelledError(spec.task_id.hex()))
            elif c.get("placement_group_removed"):  # killed with its group: no retry, the group is gone
                self._fail(spec, TaskPlacementGroupRemoved(f"The task {spec.name} was killed: {why}."))
            elif spec.num_returns != STREAMING and self._can_retry(spec):
                self._retry(spec)
            else:
                self._fail(
                    spec,
                    WorkerCrashedError(
                        f"The worker running {spec.name} died unexpectedly ({why}) "
                        f"and the task's {spec.max_retries} retries are used up."
                    ),
                )
        lease.in_flight.clear()
        self._pump(q)

    def recover_objects(self, node_id: str) -> None:
        """Objects we own whose only copy was on a dead node: re-run the tasks that made them
        (lineage reconstruction); a lost ``put`` object becomes ObjectLostError."""
        import json

        from ..exceptions import ObjectLostError

        core = self.core
        rerun: dict = {}
        for oid, e in list(core.refs.entries.items()):
            obj = core.store.get(oid)
            if not e.owned or obj is None or obj.kind != "plasma":
                continue
            if json.loads(bytes(obj.data))["node_id"] != node_id:
                continue
            spec = self.lineage.pop(oid, None)
            core.store.delete(oid)
            if spec is not None:
                rerun[spec.task_id] = spec
            else:
                core.put_local(oid, serialize_error(ObjectLostError(
                    oid.hex(), core.address,
                    reason=f"Its only copy was in the store of node {node_id[:8]}, which died; an object made by "
                           "put() cannot be rebuilt (one made by a task would be re-run).")))
        for spec in rerun.values():
            for other in spec.return_ids():
                self.lineage.pop(other, None)
                core.store.delete(other)
            spec.attempt += 1
            spec.state = PENDING_ARGS_AVAIL
            spec.lease = None
            spec.dep_values = []
            log.warning("kernelray: re-running %s to rebuild its results lost with node %s", spec.name, node_id[:8])
            self.submit(spec)

    def on_node_removed(self, node_id, raylet_address=None) -> None:
        """A node died: its leases' tasks are retried elsewhere, requests waiting there are re-asked."""
        if raylet_address:
            self.dead_raylets.add(raylet_address)
        self.recover_objects(node_id)
        for lease_id, (q, lease) in list(self.leases.items()):
            if lease.node_id == node_id:
                self.on_worker_died({"lease_id": lease_id, "reason": f"its node {node_id[:8]} died"})
        if raylet_address:
            self.core.drop_peer(raylet_address)
            for q in self.queues.values():
                stale = [rid for rid, addr in q.pending_requests.items() if addr == raylet_address]
                for rid in stale:
                    del q.pending_requests[rid]
                if stale:
                    self._pump(q)

    def on_infeasible(self, c: dict) -> None:
        for q in self.queues.values():
            if c.get("request_id") in q.pending_requests and not q.warned_infeasible:
                q.warned_infeasible = True
                name = q.queue[0].name if q.queue else "a task"
                total = {k: v for k, v in (c.get("total") or {}).items()
                         if not k.startswith("node:") and k not in ("memory", "object_store_memory")}
                import sys

                print(
                    f"Warning: the task {name} requires {q.resources}, more than any node of the cluster has "
                    f"({total}); it stays pending (infeasible) until a node with those resources joins.",
                    file=sys.stderr,
                )

    # -- cancellation ----------------------------------------------------------------------
    def cancel(self, task_id: bytes, force: bool, recursive: bool) -> None:
        spec = self.tasks.get(task_id)
        if spec is None:
            return
        spec.cancelled = True
        spec.force_cancel = force
        if spec.state in (PENDING_ARGS_AVAIL, PENDING_NODE_ASSIGNMENT):
            if spec.state == PENDING_NODE_ASSIGNMENT:
                q = self.queues.get(spec.scheduling_key)
                if q is not None:
                    try:
                        q.queue.remove(spec)
                    except ValueError:
                        pass
            self._fail(spec, TaskCancelledError(task_id.hex()))
        elif spec.lease is not None:
            core = self.core
            core.send(core.peer(spec.lease.core_address), "cancel_task_request", {"task_id": task_id.hex(), "force": force, "recursive": recursive})
        if recursive:
            self.cancel_children(task_id, force)

    def cancel_children(self, parent_id: bytes, force: bool) -> None:
        for child in self.children.pop(parent_id, ()):
            self.cancel(child, force, True)

    def stats(self) -> dict:
        return {
            "pending": sum(len(q.queue) for q in self.queues.values()),
            "in_flight": sum(len(lease.in_flight) for _, lease in self.leases.values()),
            "leases": len(self.leases),
            "finished": self.finished_count,
            "failed": self.failed_count,
        }
