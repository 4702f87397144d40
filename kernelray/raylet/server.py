"""The raylet: one per node.  Grants worker leases against the node's resources.

Owners ask for a lease for a resource shape; the raylet grants an idle worker of the
right job and runtime env when the resources fit, starts one (through the worker
factory) when none is idle, and queues the request otherwise.  A worker blocked in
``get`` inside a task gives its CPU back until it resumes, so nested fan-out never
deadlocks.  Requests that no node could ever fit are "infeasible": the owner is told
once and the request waits, as in Ray.  Resources go to the GCS in a heartbeat every
100 ms.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import time
from collections import deque
from dataclasses import dataclass, field

from .. import _process
from ..object_store.store import ObjectStore
from ..protocol.endpoint import Endpoint
from ..runtime_env.merge import env_key as runtime_env_key
from ..runtime_env.worker_setup import RUNTIME_ENV_VAR
from . import resources as res
from .graceful_stop import stop_gracefully
from .object_manager import ObjectManagerHandlers
from .store_handlers import StoreHandlers
from .worker_pool import WorkerFactory

log = logging.getLogger("kernelray.raylet")

STARTING, IDLE, LEASED, DEAD = "STARTING", "IDLE", "LEASED", "DEAD"
HEARTBEAT_S = 0.1
IDLE_WORKER_KILL_S = 10.0
MAX_REMOVED_GROUPS_KEPT = 10_000  # removed placement groups remembered, to refuse their late lease requests


JOB_WORKER_GRACE_S = 0.3  # a finished job's workers exit by themselves; the raylet kills what is left after this


@dataclass(eq=False)
class WorkerInfo:
    worker_id: str
    env_key: str
    state: str = STARTING
    pid: int = 0
    address: str = ""
    task_address: str = ""
    job_id: str | None = None
    lease_id: str | None = None
    idle_since: float = 0.0
    started_at: float = field(default_factory=time.monotonic)


@dataclass(eq=False)
class Lease:
    lease_id: str
    worker: WorkerInfo
    resources: dict
    owner_address: str
    owner_idents: list
    blocked: bool = False
    gpu_ids: list = field(default_factory=list)


@dataclass(eq=False)
class LeaseRequest:
    request_id: str
    resources: dict
    job_id: str
    owner_address: str
    env: dict
    env_key: str
    msg: object
    idents: list
    infeasible_told: bool = False
    strategy: dict | None = None
    spilled: bool = False
    preferred_node: str | None = None


def env_key_of(runtime_env: dict | None) -> str:
    return runtime_env_key(runtime_env)


def worker_environ(runtime_env: dict | None) -> dict:
    """The environment variables a worker for this runtime_env starts with (it applies the rest itself)."""
    env = dict((runtime_env or {}).get("env_vars") or {})
    if runtime_env:  # the worker applies the rest, and its nested work inherits it
        env[RUNTIME_ENV_VAR] = json.dumps(runtime_env)
    return env


class BundleHandlers:
    """Placement-group bundles on this node: the raylet half of the two-phase commit."""

    def handle_prepare_bundle_request(self, msg, sock, idents) -> None:
        c = msg.content
        key = (c["placement_group_id"], c["bundle_index"])
        want = {k: float(v) for k, v in c["resources"].items()}
        if key[0] in self.removed_groups:
            self.reply_error(sock, idents, msg, "PlacementGroupRemoved", f"placement group {key[0]} was removed")
            return
        if key not in self.bundles:
            if not res.fits(want, self.available):
                self.reply_error(sock, idents, msg, "BundleDoesNotFit", f"node {self.node_id[:8]} has {self.available}")
                return
            res.subtract(self.available, want)
            self.bundles[key] = {"resources": want, "committed": False}
        self.reply(sock, idents, msg, "prepare_bundle_reply", {})

    def _group_resources(self, pg_id: str, index: int, want: dict) -> dict:
        return res.bundle_resources(pg_id, index, want)

    def handle_bundle_committed(self, msg, sock, idents) -> None:
        c = msg.content
        b = self.bundles.get((c["placement_group_id"], c["bundle_index"]))
        if b is None or b["committed"]:
            return
        b["committed"] = True
        extra = self._group_resources(c["placement_group_id"], c["bundle_index"], b["resources"])
        res.add(self.total, extra)
        res.add(self.available, extra)
        self._schedule()

    def handle_bundle_cancelled(self, msg, sock, idents) -> None:
        b = self.bundles.pop((msg.content["placement_group_id"], msg.content["bundle_index"]), None)
        if b is not None and not b["committed"]:
            res.add(self.available, b["resources"])

    def handle_bundle_returned(self, msg, sock, idents) -> None:
        """The group was removed (every live raylet hears it): kill what runs in it, free its
        bundles here, fail the lease requests waiting for it, and refuse later ones."""
        c = msg.content
        pg_id = c["placement_group_id"]
        what = f"{c['name']!r} ({pg_id})" if c.get("name") else pg_id
        self.removed_groups[pg_id] = what
        while len(self.removed_groups) > MAX_REMOVED_GROUPS_KEPT:
            self.removed_groups.pop(next(iter(self.removed_groups)))
        for lease in [lease for lease in self.leases.values() if _in_group(lease.resources, pg_id)]:
            self._kill_group_lease(lease, what)
        for req in [req for req in self.pending if _in_group(req.resources, pg_id)]:
            self.pending.remove(req)
            self._refuse_removed(req, what)
        for key in [key for key in self.bundles if key[0] == pg_id]:
            b = self.bundles.pop(key)
            if b["committed"]:
                for k, v in self._group_resources(pg_id, key[1], b["resources"]).items():
                    self.total[k] = self.total.get(k, 0.0) - v
                    self.available[k] = self.available.get(k, 0.0) - v
                    if self.total[k] <= 1e-9:
                        self.total.pop(k, None)
                        self.available.pop(k, None)
            res.add(self.available, b["resources"])
        self._schedule()

    def _kill_group_lease(self, lease, what: str) -> None:
        """A worker leased into a removed group: its lease ends now (the group's resources go
        with the bundle), its owner hears why, and the process is killed."""
        self.leases.pop(lease.lease_id, None)
        self.gpu_free += lease.gpu_ids
        w = lease.worker
        w.lease_id = None
        w.state = DEAD  # never handed out again; _on_worker_exit forgets it when it is gone
        self.send(self.router, "worker_died", {
            "lease_id": lease.lease_id, "worker_id": w.worker_id, "placement_group_removed": what,
            "reason": f"its placement group {what} was removed, which kills the tasks and actors in it",
        }, idents=lease.owner_idents)
        self._kill_worker(w)

    def _refuse_removed(self, req, what: str) -> None:
        self.reply_error(self.router, req.idents, req.msg, "TaskPlacementGroupRemoved",
                         f"its placement group {what} was removed, so nothing can run in it any more")

    def _removed_group_of(self, resources: dict) -> str | None:
        """The removed group a resource request names, if any (the id ends each bundle resource name)."""
        for k in resources:
            if "_group_" in k:
                what = self.removed_groups.get(k.rsplit("_", 1)[-1])
                if what is not None:
                    return what
        return None


def _in_group(resources: dict, pg_id: str) -> bool:
    return any(k.endswith(pg_id) and "_group_" in k for k in resources)


class Raylet(StoreHandlers, ObjectManagerHandlers, BundleHandlers, Endpoint):
    msg_types = [
        "register_worker_request",
        "request_worker_lease_request",
        "lease_returned",
        "lease_request_cancelled",
        "worker_blocked",
        "worker_unblocked",
        "get_node_info_request",
        "job_finished",
        "kill_worker_request",
        "resource_view",
        "node_removed",
        "pull_object_request",
        "object_copy_freed",
        "prepare_bundle_request",
        "bundle_committed",
        "bundle_cancelled",
        "bundle_returned",
        # the object store
        "create_object_request",
        "object_sealed",
        "store_get_request",
        "objects_released",
        "objects_freed",
        "store_stats_request",
        "owner_died",
    ]

    def __init__(self, *, arena, key: bytes, gcs_address: str, factory: WorkerFactory, total: dict, node_id: str,
                 session_dir: str, ip: str = "127.0.0.1", port: int | None = None, prestart: int = 0,
                 is_head: bool = False, parent_pid: int | None = None):
        super().__init__(key, ip=ip, port=port, name="raylet")
        self._init_store_handlers()
        self.node_id = node_id
        self.session_dir = session_dir
        self.factory = factory
        self.total = dict(total)
        self.available = dict(total)
        self.is_head = is_head
        self.gcs = self.peer(gcs_address)
        self.gcs_address = gcs_address
        self.workers: dict[str, WorkerInfo] = {}
        self.by_pid: dict[int, WorkerInfo] = {}
        self.leases: dict[str, Lease] = {}
        self.pending: deque[LeaseRequest] = deque()
        self.prestart = prestart
        self.parent = _process.ParentWatch(parent_pid)
        self._lease_ids = itertools.count(1)
        self._worker_ids = itertools.count(1)
        self.loop.add_fd(factory.events_fd, self._poll_factory)
        self.arena = arena
        self.store = ObjectStore(arena, os.path.join(session_dir, "spill", node_id[:8]))
        self.stopping = False
        self.view: dict[str, dict] = {}  # other nodes: node_id -> {address, total, available}
        self.view_received = False  # no infeasibility verdict before we know the other nodes
        self._spread_next = 0
        self.gpu_free = list(range(int(self.total.get("GPU", 0))))
        self.bundles: dict[tuple, dict] = {}  # (pg id, index) -> reserved resources (prepared or committed)
        self.removed_groups: dict[str, str] = {}  # pg id -> how to name it, oldest first

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        for _ in range(self.prestart):
            self._spawn("")
        self.loop.call_every(HEARTBEAT_S, self._heartbeat)
        self.loop.call_every(0.5, self._housekeeping)
        self.send(self.gcs, "subscribe_request", {"channels": ["job_finished", "owner_died", "resource_view",
                                                               "node_removed"]})

    def register_with_gcs(self, timeout: float = 30.0) -> None:
        info = self.node_info()
        self.call(self.gcs, "register_node_request", info, timeout=timeout)

    def node_info(self) -> dict:
        return {
            "node_id": self.node_id,
            "address": self.address,
            "ip": self.ip,
            "pid": os.getpid(),
            "resources_total": self.total,
            "resources_available": self.available,
            "is_head": self.is_head,
            "session_dir": self.session_dir,
            "arena": self.arena.describe(),
            "object_store_used": self.store.alloc.used,
        }

    def _heartbeat(self) -> None:
        self.send(
            self.gcs,
            "node_heartbeat",
            {
                "node_id": self.node_id,
                "resources_available": self.available,
                "pending": len(self.pending),
                "workers": len(self.workers),
                "object_store_used": self.store.alloc.used,
                "resources_total": self.total,
            },
        )

    def _housekeeping(self) -> None:
        self.parent.check(self.kill_everything)
        self.check_pulls()
        now = time.monotonic()
        idle = [w for w in self.workers.values() if w.state == IDLE]
        excess = len(idle) - max(self.prestart, 1)
        for w in sorted(idle, key=lambda w: w.idle_since):
            if excess <= 0:
                break
            if now - w.idle_since > IDLE_WORKER_KILL_S:
                self._kill_worker(w)
                excess -= 1

    def kill_everything(self) -> None:
        """Stop every worker and the factory now, reaping them (SIGTERM and parent death)."""
        self.stopping = True
        for w in list(self.workers.values()):
            if w.pid:
                try:
                    os.kill(w.pid, signal.SIGKILL)
                except OSError:
                    pass
        self.factory.stop()
        import shutil

        shutil.rmtree(self.store.spill.directory, ignore_errors=True)

    # -- workers ------------------------------------------------------------------------
    def _spawn(self, env_key: str, env: dict | None = None) -> WorkerInfo:
        wid = os.urandom(16).hex()
        w = WorkerInfo(wid, env_key)
        self.workers[wid] = w
        self.factory.spawn(wid, env)
        return w

    def _poll_factory(self) -> None:
        for ev in self.factory.read_events():
            kind = ev.get("event")
            if kind == "started":
                w = self.workers.get(ev["worker_id"])
                if w is not None:
                    w.pid = ev["pid"]
                    self.by_pid[w.pid] = w
            elif kind == "exited":
                self._on_worker_exit(ev.get("worker_id"), ev.get("exit_code"))
            elif kind == "factory_exited" and not self.stopping:
                log.error("the worker factory died; the raylet stops")
                self.kill_everything()
                os._exit(1)

    def _on_worker_exit(self, wid: str | None, exit_code) -> None:
        w = self.workers.pop(wid, None) if wid else None
        if w is None:
            return
        self.by_pid.pop(w.pid, None)
        prev = w.state
        w.state = DEAD
        if w.lease_id is not None:
            lease = self.leases.pop(w.lease_id, None)
            if lease is not None:
                self.gpu_free += lease.gpu_ids
                if not lease.blocked:
                    res.add(self.available, lease.resources)
                reason = _describe_exit(exit_code)
                self.send(self.router, "worker_died", {"lease_id": lease.lease_id, "worker_id": w.worker_id,
                                                        "reason": reason}, idents=lease.owner_idents)
        if w.address:
            self.store.client_gone(w.address)
            self.store.owner_gone(w.address)
            self.send(self.gcs, "worker_died", {"worker_id": w.worker_id, "address": w.address,
                                                "node_id": self.node_id, "exit_code": exit_code})
        if prev == STARTING and not self.stopping:
            log.warning("worker %s exited while starting (code %s); see its log in %s/logs",
                        w.worker_id[:8], exit_code, self.session_dir)
        if not self.stopping:
            self._schedule()

    def _kill_if_still_there(self, w: WorkerInfo) -> None:
        if self.workers.get(w.worker_id) is w:
            self._kill_worker(w)

    def _kill_worker(self, w: WorkerInfo) -> None:
        if w.pid:
            try:
                os.kill(w.pid, signal.SIGKILL)
            except OSError:
                pass

    def handle_register_worker_request(self, msg, sock, idents) -> None:
        c = msg.content
        w = self.workers.get(c["worker_id"])
        if w is None:
            self.reply_error(sock, idents, msg, "UnknownWorker", "this raylet did not start that worker")
            return
        w.address = c["address"]
        w.task_address = c.get("task_address") or c["address"]
        w.pid = c.get("pid", w.pid)
        self.by_pid[w.pid] = w
        w.state = IDLE
        w.idle_since = time.monotonic()
        self.reply(sock, idents, msg, "register_worker_reply", {"node_id": self.node_id, "arena": self.arena.describe()})
        self._schedule()

    def handle_kill_worker_request(self, msg, sock, idents) -> None:
        w = self.workers.get(msg.content.get("worker_id", ""))
        if w is not None:
            self._kill_worker(w)
        self.reply(sock, idents, msg, "kill_worker_reply", {"killed": w is not None})

    # -- leases ---------------------------------------------------------------------------
    def handle_request_worker_lease_request(self, msg, sock, idents) -> None:
        c = msg.content
        env = worker_environ(c.get("runtime_env"))
        req = LeaseRequest(
            c["request_id"],
            {k: float(v) for k, v in (c.get("resources") or {}).items() if v},
            c.get("job_id", ""),
            c.get("owner_address", ""),
            env,
            env_key_of(c.get("runtime_env")),
            msg,
            idents,
            strategy=c.get("strategy"),
            spilled=bool(c.get("spilled")),
            preferred_node=c.get("preferred_node"),
        )
        if self.removed_groups:
            what = self._removed_group_of(req.resources)
            if what is not None:
                self._refuse_removed(req, what)
                return
        if self._route_elsewhere(req):
            return
        self.pending.append(req)
        self._schedule()

    # -- several nodes: spillback ------------------------------------------------------------
    def handle_resource_view(self, msg, sock, idents) -> None:
        self.view = {n["node_id"]: n for n in msg.content.get("nodes", []) if n["node_id"] != self.node_id
                     and n.get("state") == "ALIVE"}
        self.view_received = True
        if self.pending:
            self._schedule()

    def handle_node_removed(self, msg, sock, idents) -> None:
        self.view.pop(msg.content.get("node_id"), None)
        address = msg.content.get("address")
        for pull in list(getattr(self, "pulls", {}).values()):  # copies from a dead node will never come
            if pull.source == address:
                self._fail_pull(pull, f"its node {msg.content.get('node_id', '')[:8]} died")

    def _spill_to(self, req: LeaseRequest, node: dict) -> None:
        avail = node.get("resources_available")
        if avail is not None:  # count what we send there until its next report says otherwise
            node["resources_available"] = dict(avail)
            res.subtract(node["resources_available"], req.resources)
        self.reply(self.router, req.idents, req.msg, "request_worker_lease_reply",
                   {"request_id": req.request_id, "spillback": {"raylet": node["address"], "node_id": node["node_id"]}})

    def _node_with_room(self, req: LeaseRequest, key: str = "resources_available") -> dict | None:
        for node in self.view.values():
            if res.fits(req.resources, node.get(key) or {}):
                return node
        return None

    def _route_elsewhere(self, req: LeaseRequest) -> bool:
        """Strategies that name a node, or SPREAD: send the owner there (True if sent)."""
        strategy = req.strategy or {}
        kind = strategy.get("type")
        if kind == "NODE_AFFINITY":
            target = strategy["node_id"]
            if target == self.node_id:
                return False
            node = self.view.get(target)
            if node is not None:
                self._spill_to(req, node)
                return True
            if strategy.get("soft"):
                return False
            self.reply_error(self.router, req.idents, req.msg, "TaskUnschedulableError",
                             f"NodeAffinitySchedulingStrategy(soft=False) names node {target[:8]}, which is not alive")
            return True
        if req.spilled:
            return False
        if kind == "SPREAD" and self.view:
            nodes = [{"node_id": self.node_id, "address": self.address, "resources_available": self.available,
                      "resources_total": self.total}]
            nodes += sorted(self.view.values(), key=lambda n: n["node_id"])
            room = [n for n in nodes if res.fits(req.resources, n.get("resources_total") or self.total)] or nodes
            choice = room[self._spread_next % len(room)]
            self._spread_next += 1
            if choice["node_id"] != self.node_id:
                self._spill_to(req, choice)
                return True
            return False
        preferred = self.view.get(req.preferred_node or "")
        if preferred is not None and res.fits(req.resources, preferred.get("resources_available") or {}):
            self._spill_to(req, preferred)
            return True
        return False

    def handle_lease_request_cancelled(self, msg, sock, idents) -> None:
        rid = msg.content.get("request_id")
        for req in list(self.pending):
            if req.request_id == rid:
                self.pending.remove(req)
                self.reply_error(self.router, req.idents, req.msg, "LeaseRequestCancelled", "cancelled by the owner")
                return

    def handle_lease_returned(self, msg, sock, idents) -> None:
        c = msg.content
        lease = self.leases.pop(c.get("lease_id", ""), None)
        if lease is None:
            return
        self.gpu_free += lease.gpu_ids
        if not lease.blocked:
            res.add(self.available, lease.resources)
        w = lease.worker
        w.lease_id = None
        if c.get("kill") and c.get("graceful"):  # an actor out of scope: its hooks run first
            stop_gracefully(self, w)
        elif c.get("kill"):
            self._kill_worker(w)
        elif w.state == LEASED:
            w.state = IDLE
            w.idle_since = time.monotonic()
        self._schedule()

    def handle_worker_blocked(self, msg, sock, idents) -> None:
        lease = self._lease_of(msg.content.get("worker_id"))
        if lease is not None and not lease.blocked:
            lease.blocked = True
            res.add(self.available, {"CPU": lease.resources.get("CPU", 0.0)})
            self._schedule()

    def handle_worker_unblocked(self, msg, sock, idents) -> None:
        lease = self._lease_of(msg.content.get("worker_id"))
        if lease is not None and lease.blocked:
            lease.blocked = False
            res.subtract(self.available, {"CPU": lease.resources.get("CPU", 0.0)})

    def _lease_of(self, worker_id):
        w = self.workers.get(worker_id or "")
        return self.leases.get(w.lease_id) if w is not None and w.lease_id else None

    def _schedule(self) -> None:
        """Grant what fits, start workers for what lacks one, tell owners what never fits."""
        if not self.pending or self.stopping:
            return
        starting: dict[str, int] = {}
        for w in self.workers.values():
            if w.state == STARTING:
                starting[w.env_key] = starting.get(w.env_key, 0) + 1
        still = deque()
        while self.pending:
            req = self.pending.popleft()
            if not res.fits(req.resources, self.available):
                if not req.spilled:
                    node = self._node_with_room(req)
                    if node is None and not res.fits(req.resources, self.total):
                        node = self._node_with_room(req, "resources_total")
                    if node is not None:
                        self._spill_to(req, node)
                        continue
                if self.view_received and not req.infeasible_told and not res.fits(req.resources, self.total) \
                        and not any("_group_" in k for k in req.resources) \
                        and self._node_with_room(req, "resources_total") is None:
                    req.infeasible_told = True
                    self.send(self.router, "lease_infeasible", {"request_id": req.request_id,
                                                                 "resources": req.resources,
                                                                 "total": self.total}, idents=req.idents)
                still.append(req)
                continue
            w = self._idle_worker(req)
            if w is None:
                if starting.get(req.env_key, 0) > 0:
                    starting[req.env_key] -= 1
                else:
                    self._spawn(req.env_key, req.env)
                still.append(req)
                continue
            self._grant(req, w)
        self.pending = still

    def _idle_worker(self, req: LeaseRequest) -> WorkerInfo | None:
        best = None
        for w in self.workers.values():
            if w.state != IDLE or w.env_key != req.env_key:
                continue
            if w.job_id == req.job_id:
                return w
            if w.job_id is None and best is None:
                best = w
        return best

    def _grant(self, req: LeaseRequest, w: WorkerInfo) -> None:
        lease_id = f"{self.node_id[:8]}-{next(self._lease_ids)}"
        res.subtract(self.available, req.resources)
        w.state = LEASED
        w.job_id = req.job_id
        w.lease_id = lease_id
        ngpu = int(req.resources.get("GPU", 0))
        gpu_ids, self.gpu_free = self.gpu_free[:ngpu], self.gpu_free[ngpu:]
        self.leases[lease_id] = Lease(lease_id, w, req.resources, req.owner_address, req.idents, gpu_ids=gpu_ids)
        self.reply(
            self.router,
            req.idents,
            req.msg,
            "request_worker_lease_reply",
            {
                "request_id": req.request_id,
                "lease_id": lease_id,
                "worker_id": w.worker_id,
                "worker_address": w.task_address,
                "core_address": w.address,
                "node_id": self.node_id,
                "gpu_ids": gpu_ids if "GPU" in req.resources else None,
            },
        )

    # -- info and jobs ----------------------------------------------------------------------
    def handle_get_node_info_request(self, msg, sock, idents) -> None:
        info = self.node_info()
        info["workers"] = [
            {"worker_id": w.worker_id, "pid": w.pid, "state": w.state, "job_id": w.job_id, "lease_id": w.lease_id,
             "address": w.address, "task_address": w.task_address}
            for w in self.workers.values()
        ]
        info["pending_leases"] = len(self.pending)
        self.reply(sock, idents, msg, "get_node_info_reply", info)

    def handle_job_finished(self, msg, sock, idents) -> None:
        """A driver left: its workers go, the leases it held come back."""
        job_id = msg.content.get("job_id")
        driver = msg.content.get("driver_address")
        if driver:
            self.store.client_gone(driver)
            self.store.owner_gone(driver)
        for w in list(self.workers.values()):
            if w.job_id == job_id:  # they heard it too and exit on their own, their task events sent first
                self.loop.call_later(JOB_WORKER_GRACE_S, self._kill_if_still_there, w)
        for req in list(self.pending):
            if req.job_id == job_id:
                self.pending.remove(req)


def _describe_exit(code) -> str:
    if code is None:
        return "it exited"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"it was killed by {name}"
    return f"it exited with code {code}"
