"""Caller side of actors (loop thread, except ``submit_method``).

Every process that holds an ActorHandle keeps one ``ActorQueue`` per actor:

* what the GCS last said about the actor.  The owner is subscribed when it registers the
  actor; any other process subscribes (``subscribe_actor_request``) when its first
  handle to the actor appears.  Updates arrive as ``actor_state_changed``;
* the calls not sent yet, in sequence-number order.  A call whose ObjectRef arguments
  are not ready holds back the calls after it, and every call travels on the one
  connection to the actor's worker, so one caller's calls run in submission order;
* the calls in flight, by task id.

Calls go straight to the actor's worker (its task socket) as ``push_task_request``
batches; replies are ``push_task_reply`` and finish through the TaskSubmitter exactly
like task results (its ``_deps_ready``/``_finish``/``_retry`` hooks call back here).
Calls made before the actor is ALIVE wait in the queue; so do calls made while it is
RESTARTING if they may be retried, and the others fail at once (actor_restarting.py).
When the worker dies, calls in flight are sent again to the restarted actor while
``max_task_retries`` allows, else fail with ActorUnavailableError (the actor restarts)
or ActorDiedError (it is dead; so do all later calls).

Pending-calls limit (``max_pending_calls``, Ray's rule): the user thread that calls
``.remote()`` checks and takes a slot in ``pending_calls`` (per actor, under
``pending_lock``) before it builds anything, and raises PendingCallsLimitExceeded when
the actor's limit is reached.  The loop thread gives the slot back when the call
finishes or fails (``task_finished``); a call being retried keeps its slot.  The loop
thread stores a call's results just before it gets there, so a caller that has seen a
result (``get`` returned) may run ahead of it: at the limit, the user thread first
frees the slots of calls whose results are already stored.

Handle counting: ActorHandle instances post +1/-1 (and "escaped" when one is pickled) with
``loop.call_soon`` -- lock-free, so safe from ``__del__`` -- which keeps them in order with
the calls the same thread submitted: a handle dropped right after a call is counted
after that call is queued.

Lifetime across processes (Ray's scheme): a non-detached actor's handles hold a ref to
its "dummy" object (``ids.actor_handle_object_id``), owned by the creator.  A pickled
handle carries that ref, so every process a handle reaches (task or actor arguments,
``put`` objects, returns) is a borrower, counted by the ordinary borrower protocol.  A
borrower's queue keeps its handles' ref while it has handles or calls not finished,
then lets go (``borrow_removed``).  The owner asks the GCS to kill the actor ("out of
scope") when it holds no handle, has no call pending, and the dummy object's entry is
gone (no local ref, pending task, containing object or borrower left); ``scope_freed``
is called when that entry is freed.  Handles pickled outside kernelray's serialization
("escaped") keep the actor until its owner exits.  Refs inside a non-detached actor's
constructor arguments are held by its owner until the actor is dead.
"""

from __future__ import annotations

import logging
import pickle
import threading
from collections import deque
from dataclasses import dataclass, field

from .. import ids
from ..exceptions import (ActorDiedError, ActorUnavailableError, PendingCallsLimitExceeded, RaySystemError,
                          RuntimeEnvSetupError)
from . import context
from . import task_events as _task_events
from .actor_restarting import fail_calls_without_retries
from .memory_store import ERROR, StoredObject
from .serialization import serialize_error
from ..options import retry_exceptions_wire
from .task_spec import FAILED, PENDING_NODE_ASSIGNMENT, STREAMING, SUBMITTED_TO_WORKER, TaskSpec

log = logging.getLogger("kernelray.actors")
_EVENTS = _task_events.ENABLED  # task events: calls record SUBMITTED_TO_WORKER here, the rest in TaskSubmitter
_record = _task_events.record

ALIVE, DEAD = "ALIVE", "DEAD"
MAX_BATCH = 256
HANDLE_ADDED, HANDLE_DROPPED, HANDLE_ESCAPED = 1, -1, 2


@dataclass(eq=False)
class ActorConnection:
    """Where the current incarnation of an actor takes calls (a TaskSubmitter "lease")."""

    lease_id: str
    address: str
    core_address: str
    sock: object
    node_id: str = ""  # (for the calls' SUBMITTED_TO_WORKER task events)
    worker_id: str = ""


@dataclass(eq=False)
class ActorQueue:
    actor_id: bytes
    state: str = "UNKNOWN"
    info: dict | None = None
    conn: ActorConnection | None = None
    pending: deque = field(default_factory=deque)  # specs not sent yet, in sequence order
    ready: set = field(default_factory=set)  # task ids in ``pending`` whose arguments are resolved
    in_flight: dict = field(default_factory=dict)
    next_seq: int = 0
    handles: int = 0
    owned: bool = False
    detached: bool = False
    escaped: bool = False
    released: bool = False
    scoped: int = 0  # handles here that hold a ref to the actor's dummy object
    scope_ref: object = None  # (not the owner) one of those refs, kept while handles or calls remain
    ctor_refs: tuple = ()  # (the owner) refs inside the constructor's arguments, held until DEAD
    subscribed: bool = False
    pump_scheduled: bool = False
    death_error: StoredObject | None = None


class ActorSubmitter:
    def __init__(self, core):
        self.core = core
        self.queues: dict[bytes, ActorQueue] = {}
        self.pending_lock = threading.Lock()
        # limited actors only: actor id -> {task id of a call holding a slot: its return ids (None: streaming)}
        self.pending_calls: dict[bytes, dict[bytes, list | None]] = {}

    # -- user thread ---------------------------------------------------------------------------
    def submit_method(self, handle, method: str, args, kwargs, opts: dict):
        meta = handle._meta
        limit = meta.max_pending_calls
        if limit is None or limit <= 0:
            return self._submit_method(handle, method, args, kwargs, opts)
        core = self.core
        actor_id = handle._actor_id.binary()
        task_id = ids.new_task_id(current_job_id(core), actor_id)
        num_returns = opts.get("num_returns", 1)
        returns = None
        if num_returns != "streaming":
            count = 1 if num_returns == "dynamic" else max(int(num_returns), 0)
            returns = [task_id + (i + 1).to_bytes(4, "little") for i in range(count)]
        with self.pending_lock:
            slots = self.pending_calls.setdefault(actor_id, {})
            if len(slots) >= limit:
                store = core.store
                for done in [tid for tid, oids in slots.items() if oids and any(o in store for o in oids)]:
                    del slots[done]  # finished: the loop thread is about to free it
            if len(slots) >= limit:
                raise PendingCallsLimitExceeded(
                    f"The call {meta.class_name}.{method} was not submitted: this process already has {len(slots)} "
                    f"calls to the actor {meta.class_name} ({actor_id.hex()}) submitted and not finished, and the "
                    f"actor's max_pending_calls is {limit}. Wait for some of them (kernelray.get / kernelray.wait) "
                    f"before calling again, or raise the limit with {meta.class_name}.options(max_pending_calls=...).")
            slots[task_id] = returns
        try:
            return self._submit_method(handle, method, args, kwargs, opts, task_id)
        except BaseException:
            self._release_slot(actor_id, task_id)  # nothing was submitted
            raise

    def _release_slot(self, actor_id: bytes, task_id: bytes) -> None:
        with self.pending_lock:
            slots = self.pending_calls.get(actor_id)
            if slots is not None and slots.pop(task_id, False) is not False and not slots:
                del self.pending_calls[actor_id]

    def _submit_method(self, handle, method: str, args, kwargs, opts: dict, task_id: bytes | None = None):
        from ..object_ref import ObjectRef, ObjectRefGenerator

        core = self.core
        name = f"{handle._meta.class_name}.{method}"
        args_blob, deps, nested = core.serialize_args(name, None, args, kwargs)
        num_returns = opts.get("num_returns", 1)
        dynamic = num_returns == "dynamic"  # one ref, whose value is a DynamicObjectRefGenerator
        streaming = num_returns == "streaming"
        nret = STREAMING if streaming else 1 if dynamic else int(num_returns)
        retry_exceptions = opts.get("retry_exceptions") or False
        retry_exceptions = retry_exceptions_wire(retry_exceptions)
        ctx = context.current_task()
        job_id = current_job_id(core)
        actor_id = handle._actor_id.binary()
        spec = TaskSpec(
            task_id=task_id or ids.new_task_id(job_id, actor_id),
            name=opts.get("name") or name,
            fn_id="",
            fn_blob=b"",
            args_blob=args_blob,
            deps=deps,
            num_returns=nret,
            resources={},
            max_retries=int(opts.get("max_task_retries") or 0),
            retry_exceptions=retry_exceptions,
            job_id=job_id,
            owner=core.address,
            parent_task_id=ctx.task_id if ctx is not None else None,
            route=core.route(),
            actor_id=actor_id,
            extra={"m": method, "dynamic": True} if dynamic else {"m": method},
            nested_refs=nested,
        )
        group = opts.get("concurrency_group")
        if group is not None:
            spec.extra["cg"] = group  # the actor runs the call in this concurrency group
        if streaming:
            state = core.submitter.register_generator(spec.task_id)
            core.loop.call_soon(self.submit, spec)
            return ObjectRefGenerator(spec.task_id, core.address, state)
        refs = [ObjectRef(oid, core.address) for oid in spec.return_ids()]
        core.loop.call_soon(self.submit, spec)
        if nret == 1:
            return refs[0]
        return None if nret == 0 else refs

    # -- submission (loop thread) ------------------------------------------------------------------
    def submit_creation(self, spec: TaskSpec, detached: bool, ctor_refs=()) -> None:
        """The owner's creation task: resolve its arguments, then hand it to the GCS."""
        q = self._queue(spec.actor_id, owned=True, detached=detached)
        q.ctor_refs = tuple(ctor_refs)
        self.core.submitter.submit(spec, "ACTOR_CREATION_TASK")
        self._maybe_release(q)

    def submit(self, spec: TaskSpec) -> None:
        q = self._queue(spec.actor_id)
        spec.extra["seq"] = q.next_seq
        q.next_seq += 1
        q.pending.append(spec)
        self.core.submitter.submit(spec)

    def deps_ready(self, spec: TaskSpec) -> None:
        """From TaskSubmitter._deps_ready: the spec's ObjectRef arguments are resolved."""
        if spec.extra.get("kind") == "create":
            self._send_creation(spec)
            return
        q = self.queues.get(spec.actor_id)
        if q is None:
            self.core.submitter._fail(spec, RaySystemError(f"no queue for the actor of {spec.name}"))
            return
        spec.state = PENDING_NODE_ASSIGNMENT  # (cancel() takes it out of the queue in this state)
        q.ready.add(spec.task_id)
        if not q.in_flight and not q.pump_scheduled and q.conn is not None:
            self._pump(q)  # an idle actor: send now; the calls that follow in a burst go as one batch
        else:
            self._schedule_pump(q)

    def _send_creation(self, spec: TaskSpec) -> None:
        core = self.core
        d, frames = spec.to_wire(True)
        aid = spec.actor_id.hex()

        def on_reply(msg):
            c = msg.content
            if c.get("status") != "ok":
                log.warning("the GCS refused to create actor %s: %s", aid, c.get("evalue"))
            if _EVENTS and not c.get("created"):  # (killed before its arguments were ready): it never runs
                _record((spec.task_id, FAILED, _task_events.now(), spec.attempt, "ActorDiedError"))

        core.request(core.gcs, "create_actor_request", {"actor_id": aid, "task": d}, on_reply, buffers=frames)
        # the GCS has the arguments now: release them.  The GCS schedules the task and records its states
        core.submitter._finish(spec, [], "FINISHED", event=False)

    def _creation_failed(self, spec: TaskSpec) -> None:
        store = self.core.store
        errors = [store.get(r._id) for r in spec.deps]
        err = next((o for o in errors if o is not None and o.kind == ERROR), None)
        if err is None:
            err = serialize_error(RaySystemError(f"an argument of {spec.name} could not be resolved"))
        try:
            text = str(pickle.loads(err.data))
        except Exception:  # noqa: BLE001
            text = "an argument of the constructor failed"
        core = self.core
        core.request(core.gcs, "create_actor_request",
                     {"actor_id": spec.actor_id.hex(), "dependency_error": text}, _ignore, buffers=[err.data])

    def _schedule_pump(self, q: ActorQueue) -> None:
        if not q.pump_scheduled:
            q.pump_scheduled = True
            self.core.loop.call_soon(self._pump, q)  # after the submissions already posted: one batch

    def _pump(self, q: ActorQueue) -> None:
        q.pump_scheduled = False
        if q.state == DEAD:
            self._fail_ready(q)
            return
        if q.conn is None:
            fail_calls_without_retries(q, self.core.submitter._fail)
            return
        pending, ready = q.pending, q.ready
        batch = []
        while pending and pending[0].task_id in ready:
            spec = pending.popleft()
            ready.discard(spec.task_id)
            batch.append(spec)
            if len(batch) >= MAX_BATCH:
                self._push(q, batch)
                batch = []
        if batch:
            self._push(q, batch)

    def _push(self, q: ActorQueue, batch: list) -> None:
        conn = q.conn
        tasks, frames = [], []
        t_now = _task_events.now() if _EVENTS else 0.0
        for spec in batch:
            d, f = spec.to_wire(False)
            tasks.append(d)
            frames += f
            spec.state = SUBMITTED_TO_WORKER
            if _EVENTS:
                _record((spec.task_id, SUBMITTED_TO_WORKER, t_now, spec.attempt, conn.node_id, conn.worker_id))
            spec.lease = conn
            q.in_flight[spec.task_id] = spec
        self.core.send(conn.sock, "push_task_request", {"tasks": tasks, "lease_id": conn.lease_id}, frames)

    # -- results (loop thread; called by the TaskSubmitter) ------------------------------------------
    def task_finished(self, spec: TaskSpec) -> None:
        if self.pending_calls:
            self._release_slot(spec.actor_id, spec.task_id)  # its max_pending_calls slot, if it holds one
        if spec.extra.get("kind") == "create":
            if spec.state == FAILED:  # an argument of the constructor failed: so does the actor
                self._creation_failed(spec)
            return
        q = self.queues.get(spec.actor_id)
        if q is None:
            return
        if q.in_flight.pop(spec.task_id, None) is None:  # failed before it was sent (cancelled, bad argument)
            q.ready.discard(spec.task_id)
            try:
                q.pending.remove(spec)
            except ValueError:
                pass
            if q.pending and q.pending[0].task_id in q.ready:
                self._schedule_pump(q)
        if q.scope_ref is not None:
            self._check_scope(q)
        if q.handles <= 0:
            self._on_no_handles(q)

    def retry(self, spec: TaskSpec) -> None:
        """Send a call again (retry_exceptions): back into the queue in sequence order."""
        q = self.queues.get(spec.actor_id)
        if q is None:
            self.core.submitter._fail(spec, RaySystemError(f"no queue for the actor of {spec.name}"))
            return
        q.in_flight.pop(spec.task_id, None)
        self._requeue(q, [spec])
        self._schedule_pump(q)

    def _requeue(self, q: ActorQueue, specs: list) -> None:
        seq = lambda s: s.extra["seq"]  # noqa: E731
        merged = sorted([*specs, *q.pending], key=seq) if q.pending and specs else sorted(specs, key=seq)
        for spec in specs:
            spec.state = PENDING_NODE_ASSIGNMENT
            spec.lease = None
            q.ready.add(spec.task_id)
        q.pending = deque(merged)

    # -- what the GCS says (loop thread) ---------------------------------------------------------------
    def handle_state_changed(self, msg) -> None:
        c = msg.content
        self.on_state(bytes.fromhex(c["actor_id"]), c, msg.buffers)

    def on_state(self, actor_id: bytes, info: dict | None, buffers=()) -> None:
        q = self.queues.get(actor_id)
        if q is None:
            return
        if info is None:  # the GCS does not know it (any more)
            info = {"actor_id": actor_id.hex(), "state": DEAD, "death_cause": {
                "kind": "unknown", "message": "The GCS does not know this actor: it died long ago or never existed."}}
        state = info["state"]
        q.info = info
        if state == ALIVE:
            lease_id = f"actor-{info['lease_id']}"
            if q.conn is not None and q.conn.lease_id != lease_id:
                self._connection_lost(q, dead=False)  # a restart we did not hear about in between
            if q.conn is None:
                core = self.core
                q.conn = ActorConnection(lease_id, info["address"], info.get("core_address") or "",
                                         core.peer(info["address"]), info.get("node_id") or "",
                                         info.get("worker_id") or "")
            q.state = ALIVE
            self._pump(q)
        elif state == DEAD:
            if q.state == DEAD:
                return
            q.state = DEAD
            q.ctor_refs = ()  # no restart will need them
            q.death_error = serialize_error(actor_died_error(info, buffers))
            self._connection_lost(q, dead=True)
            self._fail_ready(q)
            if q.handles <= 0:
                self._on_no_handles(q)
        else:  # DEPENDENCIES_UNREADY, PENDING_CREATION, RESTARTING: calls wait
            if q.conn is not None:
                self._connection_lost(q, dead=False)
            q.state = state

    def _connection_lost(self, q: ActorQueue, dead: bool) -> None:
        """The worker of the actor's incarnation is gone: retry or fail the calls in flight."""
        conn, q.conn = q.conn, None
        if conn is not None:
            self._drain_replies(conn)  # results that already arrived still count
            self.core.drop_peer(conn.address)
        lost = sorted(q.in_flight.values(), key=lambda s: s.extra["seq"])
        q.in_flight.clear()
        retry, failed = [], []
        for spec in lost:
            if spec.task_id not in self.core.submitter.tasks:
                continue
            if not dead and not spec.cancelled and (spec.max_retries < 0 or spec.attempt < spec.max_retries):
                spec.attempt += 1
                retry.append(spec)
            else:
                failed.append(spec)
        if retry:  # first, so the queue is not idle (and dropped) while the others fail
            self._requeue(q, retry)
        for spec in failed:
            if dead:
                self._fail(spec, q.death_error)
            else:
                info = q.info or {}
                err = ActorUnavailableError(
                    f"The actor {info.get('class_name', '')} ({q.actor_id.hex()}) is restarting: its worker process "
                    f"died while this call was in flight, and the call's max_task_retries ({spec.max_retries}) "
                    "are used up."
                )
                self.core.submitter._fail(spec, err)

    def _drain_replies(self, conn: ActorConnection) -> None:
        core = self.core
        from ..protocol.session import recv_frames

        for _ in range(1024):
            try:
                if not conn.sock.poll(0):
                    return
                msg = core.session.unpack(recv_frames(conn.sock))
            except Exception:  # noqa: BLE001 - a closing socket
                return
            if msg is not None:
                core.dispatch(msg, conn.sock, None)

    def _fail_ready(self, q: ActorQueue) -> None:
        """DEAD: fail every queued call whose arguments are resolved (the rest fail when they are)."""
        ready = [s for s in q.pending if s.task_id in q.ready]
        if not ready:
            return
        q.pending = deque(s for s in q.pending if s.task_id not in q.ready)
        q.ready.clear()
        for spec in ready:
            self._fail(spec, q.death_error)

    def _fail(self, spec: TaskSpec, err: StoredObject) -> None:
        """The actor is dead: the call fails with ``err`` (the actor's ActorDiedError)."""
        self.core.submitter._finish(spec, [err] * max(spec.num_returns, 1), FAILED, "ActorDiedError")
        # (_finish calls task_finished, streaming calls included, which frees the max_pending_calls slot)

    # -- handles and the actor's lifetime (loop thread) ----------------------------------------------
    def _queue(self, actor_id: bytes, owned: bool = False, detached: bool = False) -> ActorQueue:
        q = self.queues.get(actor_id)
        if q is None:
            q = self.queues[actor_id] = ActorQueue(actor_id)
        if owned and not q.owned:
            q.owned, q.detached, q.subscribed = True, detached, True  # registering subscribed us
            if q.state == "UNKNOWN":
                q.state = "DEPENDENCIES_UNREADY"
        if not q.subscribed:
            q.subscribed = True
            core = self.core
            core.request(core.gcs, "subscribe_actor_request", {"actor_id": actor_id.hex()},
                         lambda m: self.on_state(actor_id, m.content.get("actor"), m.buffers))
        return q

    def handle_event(self, kind: int, actor_id: bytes, owned: bool = False, detached: bool = False,
                     scope=None) -> None:
        """An ActorHandle of ``actor_id`` appeared, went, or was pickled (posted by the handle).

        ``scope``: added -- the handle's ref to the actor's dummy object (None: it has none);
        dropped -- whether it had one."""
        if kind == HANDLE_ADDED:
            q = self._queue(actor_id, owned, detached)
            q.handles += 1
            if scope is not None:
                q.scoped += 1
                if q.scope_ref is None and not q.owned:
                    q.scope_ref = scope  # this process stays a borrower until its handles and calls are gone
            return
        q = self.queues.get(actor_id)
        if q is None:
            return
        if kind == HANDLE_ESCAPED:
            q.escaped = True
        else:
            q.handles -= 1
            if scope:
                q.scoped -= 1
                self._check_scope(q)
            if q.handles <= 0:
                self._on_no_handles(q)

    def _check_scope(self, q: ActorQueue) -> None:
        """(A borrower) no handle holding the dummy ref and no call left: give the ref up."""
        if q.scope_ref is not None and q.scoped <= 0 and not q.pending and not q.in_flight:
            q.scope_ref = None

    def scope_freed(self, actor_id: bytes) -> None:
        """(The owner) the actor's dummy object has no reference left anywhere (from object_freed)."""
        q = self.queues.get(actor_id)
        if q is not None and q.owned:
            self._maybe_release(q, drain=False)

    def _on_no_handles(self, q: ActorQueue) -> None:
        if q.pending or q.in_flight or self.queues.get(q.actor_id) is not q:
            return
        if q.owned and q.state != DEAD:
            self._maybe_release(q)  # the queue stays until the GCS says DEAD
            return
        del self.queues[q.actor_id]
        q.scope_ref = None
        q.ctor_refs = ()
        if q.conn is not None:  # nothing in flight: the socket to its worker can go
            self.core.drop_peer(q.conn.address)
            q.conn = None
        if q.state != DEAD and q.subscribed:
            self.core.request(self.core.gcs, "unsubscribe_actor_request", {"actor_id": q.actor_id.hex()}, _ignore)

    def _maybe_release(self, q: ActorQueue, drain: bool = True) -> None:
        """No handle to the actor is left anywhere: it goes out of scope (Ray's rule)."""
        if (q.handles > 0 or not q.owned or q.detached or q.escaped or q.released or q.state == DEAD
                or q.pending or q.in_flight):
            return
        refs = self.core.refs
        if drain:
            refs.drain()  # ref drops posted so far count (this may release it through scope_freed)
        if q.released or ids.actor_handle_object_id(q.actor_id) in refs.entries:
            return  # a handle lives on: in a pending task, an object, or a borrower
        q.released = True
        core = self.core
        core.request(core.gcs, "kill_actor_request",
                     {"actor_id": q.actor_id.hex(), "no_restart": True, "reason": "out_of_scope"}, _ignore)

    def stats(self) -> dict:
        return {
            "actors": len(self.queues),
            "pending": sum(len(q.pending) for q in self.queues.values()),
            "in_flight": sum(len(q.in_flight) for q in self.queues.values()),
        }


def _ignore(reply) -> None:
    """For requests whose reply changes nothing (a failure shows in the actor's state)."""


def current_job_id(core) -> bytes:
    """The job of the code running now: the task's job inside a worker, else the driver's."""
    ctx = context.current_task()
    if ctx is not None and ctx.job_id:
        return bytes.fromhex(ctx.job_id) if isinstance(ctx.job_id, str) else ctx.job_id
    return core.job_id


def current_namespace(core) -> str:
    return core.namespace or (core.job_config or {}).get("namespace") or ""


def actor_died_error(info: dict, buffers=()) -> ActorDiedError | RuntimeEnvSetupError:
    """The error every call to a dead actor raises, in Ray's words."""
    cause = info.get("death_cause") or {}
    if cause.get("kind") == "creation_task_error" and buffers:
        try:
            task_error = pickle.loads(bytes(buffers[0]))
        except Exception:  # noqa: BLE001 - the exception's class may not load here
            task_error = None
        text = str(task_error) if task_error is not None else cause.get("message", "")
        if isinstance(task_error, RuntimeEnvSetupError):  # Ray raises this one as it is, not as ActorDiedError
            return RuntimeEnvSetupError("Could not create the actor because its associated runtime env failed to be "
                                        f"created.\n{text}")
        return ActorDiedError(f"The actor died because of an error raised in its creation task, {text}", task_error)
    lines = ["The actor died unexpectedly before finishing this task."]
    for label, key in (("class_name", "class_name"), ("actor_id", "actor_id"), ("pid", "pid"),
                       ("name", "name"), ("namespace", "namespace")):
        if info.get(key):
            lines.append(f"\t{label}: {info[key]}")
    if cause.get("message"):
        lines.append(cause["message"])
    return ActorDiedError("\n".join(lines))
