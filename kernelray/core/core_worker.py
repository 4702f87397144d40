"""CoreWorker: what a driver or worker process runs to own objects and submit tasks.

One loop thread owns every socket:

* ``router``  bound on this process's own address; owners push tasks here (workers),
              borrowers ask for objects here, workers send output here (drivers);
* ``raylet``  the local raylet: worker leases, blocked/unblocked notices;
* ``gcs``     the control store: jobs, KV, pub/sub of node, job and worker deaths;
* ``peers``   one DEALER per other process we talk to (workers we lease, owners).

User threads never touch a socket: they serialize in their own thread, then post to the
loop with ``loop.call_soon`` and wait on the in-process store.
"""

from __future__ import annotations

import concurrent.futures
import pickle
import logging
import os
import sys
import threading
import time
from collections import defaultdict, deque

import zmq

from .. import ids
from .. import runtime_env as _runtime_env
from ..exceptions import (
    GetTimeoutError,
    ObjectLostError,
    OwnerDiedError,
    RaySystemError,
)
from ..protocol.endpoint import Endpoint
from . import context
from .memory_store import ERROR, MemoryStore, StoredObject
from .reference_counter import ReferenceCounter
from .serialization import deserialize, serialize, serialize_error, serialize_inband, stored_from_frames
from .actor_submitter import ActorSubmitter
from ..options import retry_exceptions_wire
from .task_submitter import TaskSubmitter
from ..object_store import INLINE_THRESHOLD
from ..object_store.client import PLASMA, location
from . import fetch_local as fetch_local_module
from ..object_ref import ObjectRef, ObjectRefGenerator
from .executor import DepMarker
from .task_spec import STREAMING, TaskSpec

log = logging.getLogger("kernelray.core")

DRIVER = "driver"
WORKER = "worker"


class CoreWorker(Endpoint):
    msg_types = [
        # from owners (workers only) and from borrowers
        "push_task_request",
        "cancel_task_request",
        "get_object_request",
        "output_emitted",
        # replies and notifications from workers we lease
        "push_task_reply",
        "generator_item_yielded",
        # from the raylet
        "worker_died",
        "lease_infeasible",
        # from the GCS
        "job_finished",
        "owner_died",
        "node_removed",
        "actor_state_changed",
        "get_core_worker_stats_request",
        # borrowers of objects we own, and hand-offs of refs returned inside values
        "borrow_added",
        "borrow_removed",
        "handoff_completed",
    ]

    def __init__(self, *, mode, key: bytes, gcs_address: str, raylet_address: str, node_id: bytes, ip="127.0.0.1"):
        self.ref_events: deque = deque()
        super().__init__(key, ip=ip, name=f"kernelray {mode}")
        self.mode = mode
        self.store = MemoryStore()
        self.refs = ReferenceCounter(self)
        self.worker_id = ids.new_worker_id()
        self.node_id = node_id
        self.gcs_address = gcs_address
        self.raylet_address = raylet_address
        self.raylet = self.peer(raylet_address)
        self.gcs = self.peer(gcs_address)
        self._object_waiters: dict[bytes, list] = defaultdict(list)
        self._fetching: dict[bytes, str] = {}
        self._captured: dict[bytes, tuple] = {}
        self.call_sites: dict[bytes, str] = {}
        self.dead_owners: set = set()  # processes the GCS told us died: their objects are lost  # where each object this process owns was made  # outer object -> ObjectRefs inside it, held while it lives
        self.submitter = TaskSubmitter(self)
        self.actor_submitter = ActorSubmitter(self)  # calls to actors (actor_submitter.py)
        self.executor = None  # set by the worker process
        self.store_client = None  # the node's shared-memory store (None: everything stays inline)
        self.output_handler = None  # set by drivers: how worker output is shown
        self.job_id = b"\x00" * 4
        self.namespace = ""
        self.job_config: dict = {}
        self.applied_env = None  # a worker's runtime_env, as applied (runtime_env/worker_setup.py)
        self.put_counter = 0
        self.driver_task_id = ids.driver_task_id(self.job_id)
        self.connected = True

    def before_dispatch(self) -> None:
        if self.ref_events:
            self.refs.drain()

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        context.core = self
        self.loop.call_every(0.02, self._flush_periodic)
        from . import task_events

        task_events.start(self)  # task state changes go to the GCS every 0.5 s
        self.loop.start_thread(f"kernelray-{self.mode}-io")

    def _flush_periodic(self) -> None:
        if self.ref_events:
            self.refs.drain()
        if self.executor is not None:
            self.executor.flush_output(min_age=0.05)

    def shutdown(self) -> None:
        self.connected = False
        if context.core is self:
            context.core = None
        self.loop.stop()
        if self.loop.thread is not None and self.loop.thread is not threading.current_thread():
            self.loop.thread.join(timeout=2)
        self.close()

    # -- objects: put / get / wait ----------------------------------------------------
    def next_put_id(self) -> bytes:
        self.put_counter += 1
        spec = context.current_task()
        base = spec.task_id if spec is not None else self.driver_task_id
        return ids.object_id(base, ids.PUT_INDEX_BASE + self.put_counter)

    def put(self, value, _owner=None):
        obj = serialize(value)
        oid = self.next_put_id()
        contained = obj.contained
        if obj.nbytes >= INLINE_THRESHOLD and self.store_client is not None:
            obj = self.store_client.write(oid, obj)  # copied into shared memory: a snapshot
        elif obj.buffers:  # the caller may mutate its array after put: the object is a snapshot
            obj = StoredObject(obj.kind, obj.data, [bytes(b) for b in obj.buffers], obj.contained)
        ref = ObjectRef(oid, self.address)
        self.record_call_site(oid)
        self.loop.call_soon(self._put_local_from_user, oid, obj, contained)
        self.store.put(oid, obj)
        return ref

    def object_from_reply(self, target: str, msg_type: str, content: dict, resolve) -> "ObjectRef":
        """An object this process owns, made from a request's reply: ``resolve(reply)`` gives the
        value or raises the error to store (loop thread).  E.g. ``PlacementGroup.ready()``."""
        oid = self.next_put_id()
        ref = ObjectRef(oid, self.address)
        self.record_call_site(oid)

        def on_reply(msg):
            try:
                obj = serialize(resolve(msg))
            except Exception as exc:  # noqa: BLE001 - the error is the object
                obj = serialize_error(exc)
            self.refs.drain()
            if oid in self.refs.entries:  # nobody holds the ref any more: nothing to store
                self.put_local(oid, obj)

        self.loop.call_soon(lambda: self.request(self.peer(target), msg_type, content, on_reply))
        return ref

    def _put_local_from_user(self, oid, obj, contained) -> None:
        self.refs.drain()
        if contained:
            self.capture(oid, contained)
        self._notify_object(oid, obj)

    def capture(self, outer: bytes, refs) -> None:
        """Hold the refs inside ``outer`` (an object we own) for as long as it lives."""
        if outer not in self.refs.entries:
            return
        self._captured[outer] = tuple(refs)
        for r in refs:
            e = self.refs.entries.get(r._id)
            if e is not None:
                e.captured += 1

    def put_local(self, oid: bytes, obj: StoredObject) -> None:
        """Store an object this process owns or fetched (loop thread)."""
        self.store.put(oid, obj)
        self._notify_object(oid, obj)

    def _notify_object(self, oid: bytes, obj: StoredObject) -> None:
        waiters = self._object_waiters.pop(oid, None)
        if waiters:
            for fn in waiters:
                fn(obj)
        self.submitter.on_object_ready(oid)

    def object_freed(self, oid: bytes, entry) -> None:
        obj = self.store.delete(oid)
        self._object_waiters.pop(oid, None)
        self.call_sites.pop(oid, None)
        self.submitter.lineage.pop(oid, None)
        inner = self._captured.pop(oid, None)
        if inner:
            for r in inner:
                e = self.refs.entries.get(r._id)
                if e is not None:
                    e.captured -= 1
        if obj is not None and obj.kind == PLASMA and entry.owned and self.store_client is not None:
            self.store_client.free([oid])
        if entry.owned and oid[:8] == ids.ACTOR_HANDLE_PREFIX:
            actor_id = ids.actor_of_handle_object(oid)
            if actor_id is not None:  # the last handle to an actor we own is gone, everywhere
                self.actor_submitter.scope_freed(actor_id)

    def refs_flush(self) -> None:
        """Apply pending ref drops now (frees reach the store before the next request)."""
        self.loop.call_soon(self.refs.drain)

    def get_objects(self, refs, timeout: float | None) -> list:
        """The StoredObjects for ``refs``, fetching borrowed ones; GetTimeoutError on timeout."""
        store = self.store
        oids = [r._id for r in refs]
        missing = [r for r in refs if r._id not in store]
        if missing:
            remote = [r for r in missing if r._owner != self.address]
            if remote:
                self.loop.call_soon(self._fetch_remote, remote)
            uniq = set(oids)
            blocked = self._notify_blocked()
            try:
                ready = store.wait(uniq, len(uniq), timeout, poll=self._poll_interrupt)
            finally:
                if blocked:
                    self._notify_unblocked()
            if len(ready) < len(uniq):
                pending = [r for r in refs if r._id not in ready]
                raise GetTimeoutError(
                    f"get timed out after {timeout} s: {len(pending)} of {len(uniq)} objects not ready "
                    f"(first: {pending[0]!r})"
                )
        return [store.get(o) for o in oids]

    def get_values(self, refs, timeout: float | None) -> list:
        objs = self.get_objects(refs, timeout)
        for ref, obj in zip(refs, objs):
            if obj is None:  # freed between wait and read: cannot happen while the ref is held
                raise ObjectLostError(ref.hex(), ref._owner, reason="The object was freed.")
        for attempt in range(3):
            try:
                return self.materialize(objs)
            except ObjectLostError:
                # our own objects may be being rebuilt (their node died): once the node's death
                # reaches us their old locations are dropped; then wait for the new copies
                mine = [(r, o) for r, o in zip(refs, objs) if r._owner == self.address]
                deadline = time.monotonic() + 5.0
                while time.monotonic() < deadline and all(self.store.get(r._id) is o for r, o in mine):
                    time.sleep(0.05)
                if attempt == 2 or all(self.store.get(r._id) is o for r, o in mine):
                    raise
                objs = self.get_objects(refs, timeout)
        raise AssertionError("unreachable")

    def materialize(self, objs: list) -> list:
        """Values of stored objects; store-resident ones are read zero-copy in one round trip."""
        plasma = [location(o) for o in objs if o.kind == PLASMA]
        parts = {}
        if plasma:
            mine = self.node_id.hex()
            remote = {loc["object_id"]: {"raylet": loc["raylet"], "size": loc["size"]}
                      for loc in plasma if loc["node_id"] != mine}
            if self.store_client is None:
                raise RaySystemError("this process has no access to the node's object store")
            parts = self.store_client.read_many(list({bytes.fromhex(loc["object_id"]) for loc in plasma}), remote)
        out = []
        for o in objs:
            if o.kind == PLASMA:
                p = parts[bytes.fromhex(location(o)["object_id"])]
                out.append(pickle.loads(p[0], buffers=p[1:]))
            else:
                out.append(deserialize(o))
        return out

    def wait(self, refs, num_returns: int, timeout: float | None, fetch_local: bool = True):
        remote = [r for r in refs if r._owner != self.address and r._id not in self.store]
        if remote:
            self.loop.call_soon(self._fetch_remote, remote)
        blocked = self._notify_blocked() if num_returns else False
        try:
            ready_ids = self.store.wait({r._id for r in refs}, num_returns, timeout, poll=self._poll_interrupt)
            if fetch_local:
                fetch_local_module.pull_ready(self, ready_ids)
        finally:
            if blocked:
                self._notify_unblocked()
        ready, not_ready = [], []
        for r in refs:
            (ready if r._id in ready_ids and len(ready) < num_returns else not_ready).append(r)
        return ready, not_ready

    def future_of(self, ref) -> concurrent.futures.Future:
        fut: concurrent.futures.Future = concurrent.futures.Future()

        def resolve(_obj=None):
            try:
                fut.set_result(self.materialize([self.store.get(ref._id)])[0])
            except BaseException as exc:  # noqa: BLE001 - the error is the result
                fut.set_exception(exc)

        def arm():
            if ref._id in self.store:
                resolve()
            else:
                self._object_waiters[ref._id].append(resolve)
                if ref._owner != self.address:
                    self._fetch_remote([ref])

        self.loop.call_soon(arm)
        fut._kernelray_ref = ref  # keep the ref (and the object) alive while the future is
        return fut

    def wait_generator_item(self, state, index: int, timeout: float | None) -> bool:
        """Block until item ``index`` of a streaming generator arrived or the task ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        blocked = False
        try:
            with state.cond:
                while state.received < index and not state.done:
                    if not blocked:
                        blocked = self._notify_blocked()
                    left = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
                    if left <= 0:
                        return False
                    state.cond.wait(left)
                    self._poll_interrupt()
        finally:
            if blocked:
                self._notify_unblocked()
        return True

    def _poll_interrupt(self) -> None:
        if self.mode == DRIVER and not self.connected:
            raise RaySystemError("kernelray was shut down while waiting")

    def _notify_blocked(self) -> bool:
        if self.mode != WORKER or context.current_task() is None:
            return False
        ex = self.executor
        if ex is not None and threading.get_ident() == ex.main_ident:
            ex._send_output_direct()  # what the task printed so far goes out before it waits
        self.loop.call_soon(self.send, self.raylet, "worker_blocked", {"worker_id": self.worker_id.hex()})
        return True

    def _notify_unblocked(self) -> None:
        self.loop.call_soon(self.send, self.raylet, "worker_unblocked", {"worker_id": self.worker_id.hex()})

    # -- fetching borrowed objects from their owners (loop thread) ----------------------
    def _fetch_remote(self, refs) -> None:
        self.refs.drain()
        for r in refs:
            oid = r._id
            if oid in self.store or oid in self._fetching:
                continue
            if r._owner in self.dead_owners:
                self._store_error(oid, OwnerDiedError(oid.hex(), r._owner))
                continue
            self._fetching[oid] = r._owner
            try:
                sock = self.peer(r._owner)
            except zmq.ZMQError as exc:
                self._fetching.pop(oid, None)
                self._store_error(oid, ObjectLostError(oid.hex(), r._owner, reason=f"Bad owner address: {exc}"))
                continue
            self.request(sock, "get_object_request", {"object_id": oid.hex()}, self._on_object_reply)

    def _on_object_reply(self, msg) -> None:
        c = msg.content
        oid = bytes.fromhex(c["object_id"])
        owner = self._fetching.pop(oid, None)
        if c.get("status") == "ok":
            obj = stored_from_frames(c["kind"], msg.buffers)
        else:
            obj = serialize_error(ObjectLostError(oid.hex(), owner or "", reason=c.get("evalue", "")))
        if oid in self.refs.entries or self._object_waiters.get(oid):
            self.put_local(oid, obj)
        elif self.executor is not None or self.mode == DRIVER:
            self.store.put(oid, obj)  # a get() in progress still wants it; freed with its ref
            self._notify_object(oid, obj)

    def handle_get_object_request(self, msg, sock, idents) -> None:
        oid = bytes.fromhex(msg.content["object_id"])

        def send(obj):
            self.reply(
                sock,
                idents,
                msg,
                "get_object_reply",
                {"status": "ok", "object_id": oid.hex(), "kind": obj.kind},
                obj.frames(),
            )

        obj = self.store.get(oid)
        if obj is not None:
            send(obj)
        elif oid in self.refs.entries or self.submitter.produces(oid):
            self._object_waiters[oid].append(send)
        else:
            self.reply(
                sock,
                idents,
                msg,
                "get_object_reply",
                {
                    "status": "error",
                    "object_id": oid.hex(),
                    "ename": "ObjectLostError",
                    "evalue": "The owner no longer has this object: all references to it were dropped.",
                },
            )

    def _store_error(self, oid: bytes, exc: BaseException) -> None:
        self.put_local(oid, serialize_error(exc))

    def send_borrow(self, msg_type: str, oid: bytes, owner: str, borrower: str) -> None:
        try:
            self.send(self.peer(owner), msg_type, {"object_id": oid.hex(), "borrower": borrower})
        except zmq.ZMQError:
            log.debug("cannot reach owner %s", owner)

    def record_call_site(self, oid: bytes, depth: int = 3) -> None:
        """Remember the user code line that made ``oid`` (for `kernelray memory`)."""
        try:
            f = sys._getframe(depth)
        except ValueError:
            return
        while f is not None and f.f_globals.get("__name__", "").startswith("kernelray"):
            f = f.f_back
        if f is not None:
            code = f.f_code
            where = _CELL_NAMES.get(code.co_filename) or _cell_name(code.co_filename)
            self.call_sites[oid] = f"{where}:{f.f_lineno} ({code.co_name})"

    def handle_get_core_worker_stats_request(self, msg, sock, idents) -> None:
        self.refs.drain()
        rows = []
        for oid, e in self.refs.entries.items():
            obj = self.store.get(oid)
            rows.append({
                "object_id": oid.hex(),
                "owner": e.owner,
                "owned": e.owned,
                "reference_types": self.refs.reference_types(e),
                "local": e.local,
                "submitted": e.submitted,
                "borrowers": sum(v for v in (e.borrowers or {}).values() if v > 0),
                "size": obj.nbytes if obj is not None else None,
                "in_store": obj is not None and obj.kind == PLASMA,
                "ready": obj is not None,
                "call_site": self.call_sites.get(oid, ""),
            })
        self.reply(sock, idents, msg, "get_core_worker_stats_reply", {
            "address": self.address, "mode": self.mode, "pid": os.getpid(), "job_id": self.job_id.hex(),
            "objects": rows, "tasks": self.submitter.stats(),
        })

    def handle_borrow_added(self, msg, sock, idents) -> None:
        c = msg.content
        oid = bytes.fromhex(c["object_id"])
        if not self.refs.borrower_delta(oid, c["borrower"], +1):
            log.warning("kernelray: %s borrowed object %s after it was freed", c["borrower"], c["object_id"])
        if self.executor is not None:
            self.executor.handoff_received(oid)

    def handle_borrow_removed(self, msg, sock, idents) -> None:
        c = msg.content
        self.refs.borrower_delta(bytes.fromhex(c["object_id"]), c["borrower"], -1)

    def handle_handoff_completed(self, msg, sock, idents) -> None:
        if self.executor is not None:
            for o in msg.content.get("object_ids", ()):
                self.executor.handoff_received(bytes.fromhex(o))

    def run_in_loop(self, fn, timeout: float = 30.0):
        """Run ``fn()`` on the loop thread and return its result (from another thread)."""
        fut: concurrent.futures.Future = concurrent.futures.Future()

        def run():
            try:
                fut.set_result(fn())
            except BaseException as exc:  # noqa: BLE001
                fut.set_exception(exc)

        self.loop.call_soon(run)
        return fut.result(timeout)

    def handle_owner_died(self, msg, sock, idents) -> None:
        """The GCS says a process died: fail fetches of objects it owned, forget its borrows."""
        address = msg.content.get("address")
        if not address:
            return
        self.dead_owners.add(address)
        self.refs.borrower_gone(address)
        for oid, owner in list(self._fetching.items()):
            if owner == address:
                self._fetching.pop(oid, None)
                self._store_error(oid, OwnerDiedError(oid.hex(), owner))
        self.drop_peer(address)

    def handle_job_finished(self, msg, sock, idents) -> None:
        address = msg.content.get("driver_address")
        if address:
            self.handle_owner_died(type(msg)("owner_died", {"address": address}, {}, {}, {}), sock, idents)
        if self.mode == WORKER:  # the raylet stops a finished job's workers in a moment: report what ran first
            from . import task_events

            if task_events.ENABLED:
                task_events.flush(self)
        if self.executor is not None and msg.content.get("job_id") == self.job_id.hex() and self.mode == WORKER:
            log.info("job %s finished; worker exits", msg.content.get("job_id"))
            time.sleep(0.05)  # ZeroMQ's I/O thread puts the last messages on the wire
            os._exit(0)

    def handle_node_removed(self, msg, sock, idents) -> None:
        self.submitter.on_node_removed(msg.content.get("node_id"), msg.content.get("address"))

    # -- submitting tasks (user thread) -------------------------------------------------
    def route(self) -> dict:
        """Where output of work submitted now goes: inherited inside a task, else this driver."""
        ctx = context.current_task()
        if ctx is not None and ctx.route:
            return ctx.route
        route = {"driver": self.address, "job_id": self.job_id.hex()}
        hook = self.route_hook
        if hook is not None:
            route["parent"] = hook()
        return route

    route_hook = None  # the Jupyter extension sets this to capture the submitting cell

    def serialize_args(self, name, fn, args, kwargs):
        """(blob, deps): top-level ObjectRefs become markers the worker swaps for values."""
        if not args and not kwargs:
            return _EMPTY_ARGS, [], ()
        deps = []
        a2 = []
        for a in args:
            if type(a) is ObjectRef:
                a2.append(DepMarker(len(deps)))
                deps.append(a)
            else:
                a2.append(a)
        kw2 = {}
        for k, v in kwargs.items():
            if type(v) is ObjectRef:
                kw2[k] = DepMarker(len(deps))
                deps.append(v)
            else:
                kw2[k] = v
        try:
            blob, contained = serialize_inband((a2, kw2))
        except Exception as exc:
            raise _arg_error(name, fn, args, kwargs, exc) from exc
        if len(blob) >= INLINE_THRESHOLD and self.store_client is not None:
            return self._put_large_args(a2, kw2, deps)
        return blob, deps, tuple(contained)

    def _put_large_args(self, a2, kw2, deps):
        """As Ray does: arguments of 100 KiB or more go to the object store once."""

        def maybe_put(value):
            if isinstance(value, DepMarker):
                return value
            obj = serialize(value)
            if obj.nbytes < INLINE_THRESHOLD:
                return value
            ref = self.put(value)
            deps.append(ref)
            return DepMarker(len(deps) - 1)

        a3 = [maybe_put(a) for a in a2]
        kw3 = {k: maybe_put(v) for k, v in kw2.items()}
        blob, contained = serialize_inband((a3, kw3))
        return blob, deps, tuple(contained)

    def submit_task(self, *, name, fn_id, fn_blob, signature, args, kwargs, num_returns, resources,
                    max_retries, retry_exceptions, runtime_env, strategy=None):
        args_blob, deps, nested = self.serialize_args(name, signature, args, kwargs)
        dynamic = num_returns == "dynamic"  # one ref, whose value is a DynamicObjectRefGenerator
        streaming = num_returns == "streaming"
        nret = STREAMING if streaming else 1 if dynamic else int(num_returns)
        env = self.merge_runtime_env(runtime_env)
        ctx = context.current_task()
        retry_exceptions = retry_exceptions_wire(retry_exceptions)
        job_id = self.job_id
        tid = ids.new_task_id(job_id)
        spec = TaskSpec(
            task_id=tid,
            name=name,
            fn_id=fn_id,
            fn_blob=fn_blob,
            args_blob=args_blob,
            deps=deps,
            num_returns=nret,
            resources=resources,
            max_retries=max_retries,
            retry_exceptions=retry_exceptions,
            job_id=job_id,
            owner=self.address,
            parent_task_id=ctx.task_id if ctx is not None else None,
            route=self.route(),
            runtime_env=env,
            scheduling_key=(tuple(sorted(resources.items())), _env_key(env), repr(strategy) if strategy else ""),
            nested_refs=nested,
            strategy=strategy,
            extra={"dynamic": True} if dynamic else None,
        )
        if streaming:
            state = self.submitter.register_generator(tid)
            self.loop.call_soon(self.submitter.submit, spec)
            return ObjectRefGenerator(tid, self.address, state)
        refs = [ObjectRef(oid, self.address) for oid in spec.return_ids()]
        if refs:
            self.record_call_site(refs[0]._id)
        self.loop.call_soon(self.submitter.submit, spec)
        if nret == 1:
            return refs[0]
        if nret == 0:
            return None
        return refs

    def merge_runtime_env(self, runtime_env):
        """The runtime_env a task or actor submitted from here runs with (see runtime_env/merge.py)."""
        if runtime_env:
            runtime_env = _runtime_env.prepare(runtime_env, self, "runtime_env")
        return _runtime_env.merge(self.parent_runtime_env(), runtime_env)

    def parent_runtime_env(self) -> dict:
        """Inside a task or actor: its own runtime_env; in a driver: the job's."""
        if self.applied_env is not None and self.applied_env.env:
            return self.applied_env.env
        return self.job_config.get("runtime_env") or {}

    def cancel(self, ref, force: bool, recursive: bool) -> None:
        """Cancel here if we own the ref, else ask its owner (as Ray routes a borrower's cancel)."""
        if ref._owner == self.address:
            self.loop.call_soon(self.submitter.cancel, ref._id[:24], force, recursive)
            return
        content = {"task_id": ref._id[:24].hex(), "force": force, "recursive": recursive, "at_owner": True}
        self.loop.call_soon(lambda: self.send(self.peer(ref._owner), "cancel_task_request", content))

    # -- tasks (delegated) --------------------------------------------------------------
    def handle_push_task_request(self, msg, sock, idents) -> None:
        if self.executor is None:
            self.reply(sock, idents, msg, "push_task_reply", {"status": "error", "ename": "RaySystemError",
                                                              "evalue": "this process does not run tasks"})
            return
        self.executor.accept(msg, idents)

    def handle_cancel_task_request(self, msg, sock, idents) -> None:
        c = msg.content
        if c.get("at_owner"):  # from a borrower of the ref: we own the task
            self.submitter.cancel(bytes.fromhex(c["task_id"]), c.get("force", False), c.get("recursive", True))
        elif self.executor is not None:
            self.executor.cancel(bytes.fromhex(c["task_id"]), c.get("force", False), c.get("recursive", True))

    def handle_push_task_reply(self, msg, sock, idents) -> None:
        self.submitter.on_push_reply(msg)

    def handle_generator_item_yielded(self, msg, sock, idents) -> None:
        self.submitter.on_generator_item(msg)

    def handle_worker_died(self, msg, sock, idents) -> None:
        self.submitter.on_worker_died(msg.content)

    def handle_actor_state_changed(self, msg, sock, idents) -> None:
        self.actor_submitter.handle_state_changed(msg)

    def handle_lease_infeasible(self, msg, sock, idents) -> None:
        self.submitter.on_infeasible(msg.content)

    def handle_output_emitted(self, msg, sock, idents) -> None:
        handler = self.output_handler or print_worker_output
        handler(msg.content)


_EMPTY_ARGS = __import__("pickle").dumps(((), {}), protocol=5)


_CELL_NAMES: dict = {}


def _cell_name(filename: str) -> str:
    """``In [N]`` for code a notebook cell defined (IPython names its code by a hash), else the file."""
    name = filename
    if filename.startswith("<ipython-input-") or "ipykernel_" in filename:
        ip = sys.modules.get("IPython")
        shell = ip.get_ipython() if ip is not None else None
        number = getattr(getattr(shell, "compile", None), "_filename_map", {}).get(filename)
        if number is None:
            return name  # (not cached: the cell may be numbered later)
        name = f"In [{number}]"
    if len(_CELL_NAMES) < 100_000:
        _CELL_NAMES[filename] = name
    return name


def _env_key(env) -> str:
    return _runtime_env.env_key(env)


def _arg_error(name, fn, args, kwargs, exc) -> TypeError:
    from ..remote_function import argument_names
    from .serialization import serialize as _ser

    names = argument_names(fn, args, kwargs)
    values = list(args) + list(kwargs.values())
    for label, value in zip(names, values):
        try:
            _ser(value)
        except Exception as inner:  # noqa: BLE001
            return TypeError(
                f"Could not serialize the argument {label} ({type(value).__name__}) of {name}: "
                f"{type(inner).__name__}: {inner}. Nothing was submitted."
            )
    return TypeError(f"Could not serialize the arguments of {name}: {type(exc).__name__}: {exc}. Nothing was submitted.")


def print_worker_output(content: dict) -> None:
    """Ray's default: each line prefixed with ``(name pid=N)``."""
    stream = sys.stderr if content.get("stream") == "stderr" else sys.stdout
    prefix = f"({content.get('name', 'worker')} pid={content.get('pid')}) "
    text = content.get("text", "")
    lines = text.splitlines()
    try:
        stream.write("".join(prefix + ln + "\n" for ln in lines))
        stream.flush()
    except Exception:  # noqa: BLE001 - a closed stream must not break the loop
        pass


def wait_for(predicate, timeout: float, interval: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


__all__ = ["CoreWorker", "DRIVER", "WORKER", "ERROR"]
