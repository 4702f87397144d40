"""The GCS's actor table: registration, names, scheduling and the lifecycle of every actor.

As in Ray, the GCS owns actor metadata and lifecycle; callers talk to the actor's worker
directly.  The life of an actor::

    register_actor_request     the creator reserves the ID (and the name)   DEPENDENCIES_UNREADY
    create_actor_request       the creator resolved the constructor's arguments and hands
                               over the creation task; the GCS leases a worker from a raylet,
                               exactly as an owner leases one for a task    PENDING_CREATION
    push_task_reply            the constructor returned                     ALIVE
                               (or raised: no restart)                      DEAD
    worker_died                from the raylet; while max_restarts allows   RESTARTING -> ALIVE
                               the creation task runs again on a new worker, else DEAD
    kill_actor_request         kernelray.kill(), or the owner dropped its last handle   DEAD
    remove_placement_group     the actor's placement group was removed (no restart)     DEAD
    report_actor_exit_request  exit_actor() inside the actor (never restarted)          DEAD

Non-detached actors also die with their owner (the worker or driver that created them:
``worker_died`` of its address, or its job finishing); detached ones live until killed
or until the cluster stops.  The GCS keeps the creation task (class and arguments) while
the actor may need it again, and remembers the last ``MAX_DEAD_ACTORS_KEPT`` dead actors.

Every state change goes to the processes subscribed to that actor (``actor_state_changed``):
its owner (subscribed when it registers the actor) and every process that holds a handle.
The manager's ``handle_<msg_type>`` methods are plugged into the GcsServer's handler table.

Task events: the owner reports the creation task's PENDING_ARGS_AVAIL (as an
ACTOR_CREATION_TASK) and the worker its RUNNING; the GCS, which schedules it, records the
rest in its task table: PENDING_NODE_ASSIGNMENT, SUBMITTED_TO_WORKER, then FINISHED when
the constructor returned, FAILED when it raised or the actor died first.  Each restart is
a new attempt of the creation task (attempt number = ``num_restarts``).
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections import deque
from dataclasses import dataclass, field

from ..core import task_events
from ..core.task_spec import FAILED, FINISHED, PENDING_NODE_ASSIGNMENT, SUBMITTED_TO_WORKER

log = logging.getLogger("kernelray.gcs.actors")

DEPENDENCIES_UNREADY = "DEPENDENCIES_UNREADY"
PENDING_CREATION = "PENDING_CREATION"
ALIVE = "ALIVE"
RESTARTING = "RESTARTING"
DEAD = "DEAD"
MAX_DEAD_ACTORS_KEPT = 1000
INTENDED_EXIT_MESSAGE = ("The actor is dead because its worker process has died. Worker exit type: INTENDED_USER_EXIT "
                         "Worker exit detail: Worker exits by an user request. Worker exits with an exit code 0. "
                         "exit_actor() is called.")  # (Ray's words)
SCHEDULE_RETRY_S = 0.1  # a raylet's spillback named a dead node: ask again after its view updates


@dataclass(eq=False)
class ActorLease:
    lease_id: str
    worker_id: str
    task_address: str  # the worker's task socket: creation and calls go there
    core_address: str  # the worker's core worker (cancel requests)
    node_id: str
    raylet_address: str


@dataclass(eq=False)
class ActorRecord:
    actor_id: str
    class_name: str
    name: str
    namespace: str
    job_id: str
    owner_address: str
    detached: bool
    max_restarts: int
    resources: dict
    runtime_env: dict | None
    node_hint: str
    job_config: dict
    handle_meta: bytes  # pickled by the creator; handed to get_actor() callers as is
    strategy: dict | None = None  # scheduling strategy, as the raylets understand it
    state: str = DEPENDENCIES_UNREADY
    num_restarts: int = 0
    death_cause: dict | None = None
    error_frame: bytes | None = None  # the pickled RayTaskError of a failed constructor
    creation: tuple | None = None  # (task dict, frames), kept for restarts
    lease: ActorLease | None = None
    pending_request: tuple | None = None  # (raylet address, request id)
    pid: int = 0
    node_id: str = ""  # where it runs, or last ran
    start_time: float = field(default_factory=time.time)
    end_time: float | None = None
    subscribers: list = field(default_factory=list)  # ROUTER identities of subscribed processes
    infeasible_told: bool = False
    creation_task: bytes | None = None  # the creation task's id (task events)
    creation_open: bool = False  # its current attempt has not ended yet


class ActorManager:
    msg_types = [
        "register_actor_request",
        "create_actor_request",
        "subscribe_actor_request",
        "unsubscribe_actor_request",
        "get_actor_info_request",
        "get_named_actor_request",
        "list_actors_request",
        "kill_actor_request",
        "report_actor_exit_request",
        # from raylets and workers, as the holder of actor leases
        "push_task_reply",
        "lease_infeasible",
    ]

    def __init__(self, server):
        self.server = server
        self.actors: dict[str, ActorRecord] = {}
        self.named: dict[tuple, str] = {}  # (namespace, name) -> actor id
        self.by_lease: dict[str, ActorRecord] = {}
        self.by_worker: dict[str, ActorRecord] = {}
        self.by_request: dict[str, ActorRecord] = {}
        self.by_owner: dict[str, set] = {}
        self.dead: deque = deque()
        self._request_ids = itertools.count(1)

    @property
    def handlers(self) -> dict:
        return {name: getattr(self, "handle_" + name) for name in self.msg_types}

    # -- views ----------------------------------------------------------------------------
    def info(self, a: ActorRecord) -> dict:
        lease = a.lease
        return {
            "actor_id": a.actor_id,
            "state": a.state,
            "class_name": a.class_name,
            "name": a.name,
            "namespace": a.namespace,
            "job_id": a.job_id,
            "detached": a.detached,
            "owner_address": a.owner_address,
            "num_restarts": a.num_restarts,
            "max_restarts": a.max_restarts,
            "pid": a.pid,
            "lease_id": lease.lease_id if lease else None,
            "address": lease.task_address if lease else None,
            "core_address": lease.core_address if lease else None,
            "worker_id": lease.worker_id if lease else None,
            "node_id": lease.node_id if lease else None,
            "death_cause": a.death_cause,
        }

    def row(self, a: ActorRecord) -> dict:
        """One line of ``list_actors``."""
        return {
            "actor_id": a.actor_id,
            "class_name": a.class_name,
            "name": a.name,
            "namespace": a.namespace,
            "state": a.state,
            "pid": a.pid,
            "node_id": a.node_id or None,
            "num_restarts": a.num_restarts,
            "death_cause": (a.death_cause or {}).get("message"),
            "job_id": a.job_id,
            "is_detached": a.detached,
            "start_time": a.start_time,
            "end_time": a.end_time,
        }

    def _named(self, namespace: str, name: str) -> ActorRecord | None:
        a = self.actors.get(self.named.get((namespace, name), ""))
        return a if a is not None and a.state != DEAD else None

    def _reply(self, sock, idents, msg, content: dict, buffers=()) -> None:
        self.server.reply(sock, idents, msg, msg.msg_type.replace("_request", "_reply"), content, buffers)

    # -- registration and creation ----------------------------------------------------------
    def handle_register_actor_request(self, msg, sock, idents) -> None:
        c = msg.content
        name, namespace = c.get("name") or "", c.get("namespace") or ""
        if name:
            existing = self._named(namespace, name)
            if existing is not None:
                if c.get("get_if_exists"):
                    self._reply(sock, idents, msg, {"existing": True, "actor": self.info(existing)},
                                [existing.handle_meta])
                else:
                    self._reply(sock, idents, msg, {"taken": True})
                return
        a = ActorRecord(
            actor_id=c["actor_id"],
            class_name=c.get("class_name", ""),
            name=name,
            namespace=namespace,
            job_id=c.get("job_id", ""),
            owner_address=c.get("owner_address", ""),
            detached=bool(c.get("detached")),
            max_restarts=int(c.get("max_restarts") or 0),
            resources=c.get("resources") or {},
            runtime_env=c.get("runtime_env"),
            node_hint=c.get("node_id", ""),
            job_config=c.get("job_config") or {},
            handle_meta=bytes(msg.buffers[0]) if msg.buffers else b"",
            strategy=c.get("strategy"),
        )
        self.actors[a.actor_id] = a
        if name:
            self.named[(namespace, name)] = a.actor_id
        if not a.detached:
            self.by_owner.setdefault(a.owner_address, set()).add(a.actor_id)
        a.subscribers.append(idents)
        self.server.tables.save_actor(a)
        self._reply(sock, idents, msg, {"existing": False, "actor": self.info(a)})

    def handle_create_actor_request(self, msg, sock, idents) -> None:
        a = self.actors.get(msg.content.get("actor_id", ""))
        if a is None or a.state != DEPENDENCIES_UNREADY:
            state = a.state if a is not None else "unknown"
            self._reply(sock, idents, msg, {"created": False, "state": state})
            return
        if "dependency_error" in msg.content:  # an argument of the constructor failed at the owner
            frame = bytes(msg.buffers[0]) if msg.buffers else None
            self._mark_dead(a, "creation_task_error", msg.content["dependency_error"], error_frame=frame)
            self._reply(sock, idents, msg, {"created": False, "state": DEAD})
            return
        a.creation = (msg.content["task"], [bytes(b) for b in msg.buffers])
        a.creation_task = bytes.fromhex(msg.content["task"]["task_id"])
        a.creation_open = True
        self._creation_event(a, PENDING_NODE_ASSIGNMENT)
        a.state = PENDING_CREATION
        self._publish(a)
        self._schedule(a)
        self._reply(sock, idents, msg, {"created": True})

    # -- scheduling ---------------------------------------------------------------------------
    def _pick_node(self, a: ActorRecord) -> dict | None:
        """A live node whose total resources fit the actor; the owner's node first."""
        alive = [n for n in self.server.nodes.nodes.values() if n["state"] == "ALIVE"]
        fitting = [n for n in alive if _fits(a.resources, n.get("resources_total") or {})] or alive
        wanted = (a.strategy or {}).get("node_id") or a.node_hint  # node affinity, else the owner's node
        for n in fitting:
            if n["node_id"] == wanted:
                return n
        if not fitting:
            return None
        return max(fitting, key=lambda n: (n.get("resources_available") or {}).get("CPU", 0.0))

    def _schedule(self, a: ActorRecord, spilled_to: str | None = None) -> None:
        """Ask a raylet for a worker (the one a raylet's spillback named, if any)."""
        raylet = spilled_to
        if raylet is None:
            node = self._pick_node(a)
            if node is None:
                self._mark_dead(a, "scheduling_failed", "The actor could not be scheduled: no node is alive.")
                return
            raylet = node["address"]
        server = self.server
        rid = f"actor-{a.actor_id[:12]}-{next(self._request_ids)}"
        a.pending_request = (raylet, rid)
        self.by_request[rid] = a
        content = {
            "request_id": rid,
            "resources": a.resources,
            "job_id": "" if a.detached else a.job_id,  # a raylet kills a job's workers when it ends
            "owner_address": server.address,
            "runtime_env": a.runtime_env,
            "strategy": a.strategy,
            "spilled": spilled_to is not None,
        }
        server.request(server.peer(raylet), "request_worker_lease_request", content,
                       lambda m: self._on_lease_reply(a, rid, raylet, m))

    def _raylet_alive(self, address: str) -> bool:
        return any(n["address"] == address and n["state"] == "ALIVE" for n in self.server.nodes.nodes.values())

    def _schedule_if_waiting(self, a: ActorRecord) -> None:
        if a.state in (PENDING_CREATION, RESTARTING) and a.lease is None and a.pending_request is None:
            self._schedule(a)

    def _on_lease_reply(self, a: ActorRecord, rid: str, raylet: str, msg) -> None:
        server = self.server
        self.by_request.pop(rid, None)
        c = msg.content
        current = a.pending_request is not None and a.pending_request[1] == rid
        if c.get("status") != "ok":
            if current:
                a.pending_request = None
                if c.get("ename") == "TaskPlacementGroupRemoved":  # created after its group was removed
                    self._mark_dead(a, "placement_group_removed", f"The actor is dead: {c.get('evalue')}")
                else:
                    self._mark_dead(a, "scheduling_failed",
                                    f"The actor could not be scheduled: {c.get('ename')}: {c.get('evalue')}")
            return
        if "spillback" in c:  # that raylet says another node has room: ask it
            if current:
                a.pending_request = None
                target = c["spillback"]["raylet"]
                if self._raylet_alive(target):
                    self._schedule(a, spilled_to=target)
                else:  # its view of the cluster is stale: ask again once it caught up
                    server.loop.call_later(SCHEDULE_RETRY_S, self._schedule_if_waiting, a)
            return
        lease = ActorLease(c["lease_id"], c["worker_id"], c["worker_address"], c.get("core_address") or "",
                           c.get("node_id", ""), raylet)
        if not current or a.state not in (PENDING_CREATION, RESTARTING):
            server.send(server.peer(raylet), "lease_returned",
                        {"lease_id": lease.lease_id, "worker_id": lease.worker_id, "kill": False})
            return
        a.pending_request = None
        a.lease = lease
        a.node_id = lease.node_id
        self.by_lease[lease.lease_id] = a
        self.by_worker[lease.worker_id] = a
        task, frames = a.creation
        extra = dict(task.get("extra") or {}, num_restarts=a.num_restarts, name=a.name)
        # the creation result comes back here; a restart is the next attempt of the creation task
        task = dict(task, owner=server.address, extra=extra, attempt=a.num_restarts, resources=a.resources)
        if c.get("gpu_ids") is not None:  # the actor's process sees only its GPUs (CUDA_VISIBLE_DEVICES)
            task["gpu_ids"] = c["gpu_ids"]
        content = {"tasks": [task], "lease_id": lease.lease_id, "job_config": a.job_config}
        server.send(server.peer(lease.task_address), "push_task_request", content, frames)
        self._creation_event(a, SUBMITTED_TO_WORKER, lease.node_id, lease.worker_id)

    def handle_push_task_reply(self, msg, sock, idents) -> None:
        """The creation task finished on the actor's worker."""
        a = self.by_lease.get(msg.content.get("lease_id", ""))
        if a is None or a.lease is None:
            return
        self._close_later(a.lease.task_address)  # callers talk to the worker; the GCS is done with it
        for r in msg.content.get("results", ()):
            if r.get("status") == "ok":
                a.pid = r.get("pid", 0)
                a.state = ALIVE
                self._creation_ended(a, FINISHED)
                self._publish(a)
            else:
                self._creation_ended(a, FAILED, r.get("ename") or "RayTaskError")
                frame = bytes(msg.buffers[0]) if msg.buffers else None
                self._mark_dead(a, "creation_task_error",
                                r.get("error_message") or "The actor's constructor raised an exception.",
                                error_frame=frame)

    def handle_lease_infeasible(self, msg, sock, idents) -> None:
        a = self.by_request.get(msg.content.get("request_id", ""))
        if a is None or a.infeasible_told:
            return
        a.infeasible_told = True
        total = {k: v for k, v in (msg.content.get("total") or {}).items()
                 if not k.startswith("node:") and k not in ("memory", "object_store_memory")}
        text = (f"Warning: the actor {a.class_name} requires {a.resources}, more than any node of the cluster "
                f"has ({total}); it stays pending (infeasible) until a node with those resources joins.\n")
        try:
            self.server.send(self.server.peer(a.owner_address), "output_emitted",
                             {"stream": "stderr", "text": text, "name": "gcs", "pid": os.getpid()})
        except Exception:  # noqa: BLE001 - a bad owner address must not break the GCS
            log.warning("%s", text.strip())

    # -- lookups and subscriptions -----------------------------------------------------------
    def handle_subscribe_actor_request(self, msg, sock, idents) -> None:
        a = self.actors.get(msg.content.get("actor_id", ""))
        if a is None:
            self._reply(sock, idents, msg, {"actor": None})
            return
        if a.state != DEAD and idents not in a.subscribers:
            a.subscribers.append(idents)
        self._reply(sock, idents, msg, {"actor": self.info(a)}, [a.error_frame] if a.error_frame else [])

    def handle_unsubscribe_actor_request(self, msg, sock, idents) -> None:
        a = self.actors.get(msg.content.get("actor_id", ""))
        if a is not None and idents in a.subscribers:
            a.subscribers.remove(idents)
        self._reply(sock, idents, msg, {})

    def handle_get_actor_info_request(self, msg, sock, idents) -> None:
        a = self.actors.get(msg.content.get("actor_id", ""))
        self._reply(sock, idents, msg, {"actor": self.info(a) if a else None})

    def handle_get_named_actor_request(self, msg, sock, idents) -> None:
        c = msg.content
        a = self._named(c.get("namespace") or "", c.get("name") or "")
        if a is None:
            self._reply(sock, idents, msg, {"actor": None})
        else:
            self._reply(sock, idents, msg, {"actor": self.info(a)}, [a.handle_meta])

    def handle_list_actors_request(self, msg, sock, idents) -> None:
        rows = [self.row(a) for a in self.actors.values()]
        self._reply(sock, idents, msg, {"actors": rows})

    # -- ending actors ---------------------------------------------------------------------------
    def handle_kill_actor_request(self, msg, sock, idents) -> None:
        c = msg.content
        a = self.actors.get(c.get("actor_id", ""))
        if a is None or a.state == DEAD:
            self._reply(sock, idents, msg, {"killed": False})
            return
        if not c.get("no_restart", True) and self._can_restart(a) and a.state != DEPENDENCIES_UNREADY:
            self._release_worker(a, kill=True)
            self._restart(a)
        elif c.get("reason") == "out_of_scope":
            self._mark_dead(a, "out_of_scope", "The actor is dead because all references to the actor were removed.",
                            graceful=True)  # its worker runs __ray_shutdown__ and atexit before it exits
        else:
            self._mark_dead(a, "killed", "The actor is dead because it was killed by `kernelray.kill`.")
        self._reply(sock, idents, msg, {"killed": True})

    def handle_report_actor_exit_request(self, msg, sock, idents) -> None:
        a = self.actors.get(msg.content.get("actor_id", ""))
        if a is not None and a.state != DEAD:
            self._mark_dead(a, "exit_actor", INTENDED_EXIT_MESSAGE)
        self._reply(sock, idents, msg, {})

    def on_lease_worker_died(self, c: dict) -> None:
        """The raylet tells us (as the lease holder) that an actor's worker died."""
        a = self.by_lease.get(c.get("lease_id", ""))
        if a is not None:
            self._worker_gone(a, c.get("reason") or "it exited")

    def on_worker_died(self, c: dict) -> None:
        """A raylet reports any worker's death: the actor it hosted, the actors it owned."""
        a = self.by_worker.get(c.get("worker_id", ""))
        if a is not None:
            self._worker_gone(a, _describe_exit(c.get("exit_code")))
        address = c.get("address")
        for aid in list(self.by_owner.get(address, ())):
            owned = self.actors.get(aid)
            if owned is not None and owned.state != DEAD:
                self._mark_dead(owned, "owner_died", f"The actor is dead because its owner has died. "
                                                     f"Owner address: {address}.")

    def on_job_finished(self, job: dict) -> None:
        job_id = job.get("job_id")
        for a in list(self.actors.values()):
            if a.job_id == job_id and not a.detached and a.state != DEAD:
                self._mark_dead(a, "owner_died", f"The actor is dead because its job {job_id} finished "
                                                 f"(its driver exited: {job.get('message', '')}).")

    def on_placement_group_removed(self, pg_id: str, what: str) -> None:
        """The group's actors die with it, never restarted (their raylets kill the workers)."""
        from .placement_group_manager import uses_group

        for a in list(self.actors.values()):
            if a.state != DEAD and uses_group(a.resources, pg_id):
                self._mark_dead(a, "placement_group_removed", _group_removed(what))

    def on_node_dead(self, node_id: str) -> None:
        node = self.server.nodes.nodes.get(node_id) or {}
        for a in list(self.actors.values()):
            if a.lease is not None and a.lease.node_id == node_id:
                self._worker_gone(a, f"its node {node_id[:8]} died")
            elif a.pending_request is not None and a.pending_request[0] == node.get("address"):
                self.by_request.pop(a.pending_request[1], None)
                a.pending_request = None
                self._schedule(a)

    def _worker_gone(self, a: ActorRecord, reason: str) -> None:
        self._forget_lease(a)
        if a.state == DEAD:
            return
        if self._can_restart(a):
            self._restart(a)
        else:
            self._mark_dead(a, "worker_died", f"The actor is dead because its worker process died ({reason}).")

    def _can_restart(self, a: ActorRecord) -> bool:
        return a.creation is not None and (a.max_restarts < 0 or a.num_restarts < a.max_restarts)

    def _restart(self, a: ActorRecord) -> None:
        a.num_restarts += 1
        a.state = RESTARTING
        a.pid = 0
        if a.creation_task is not None:  # the creation task runs again: its next attempt
            a.creation_open = True
            self._creation_event(a, PENDING_NODE_ASSIGNMENT)
        self._publish(a)
        self._schedule(a)

    def _mark_dead(self, a: ActorRecord, kind: str, message: str, error_frame: bytes | None = None,
                   graceful: bool = False) -> None:
        if a.state == DEAD:
            return
        self._release_worker(a, kill=True, graceful=graceful)
        self._creation_ended(a, FAILED, "ActorDiedError")  # died before its constructor returned
        a.state = DEAD
        a.death_cause = {"kind": kind, "message": message}
        a.error_frame = error_frame
        a.end_time = time.time()
        a.creation = None
        if a.name and self.named.get((a.namespace, a.name)) == a.actor_id:
            del self.named[(a.namespace, a.name)]
        owned = self.by_owner.get(a.owner_address)
        if owned is not None:
            owned.discard(a.actor_id)
            if not owned:
                del self.by_owner[a.owner_address]
        self._publish(a)
        a.subscribers = []
        self.dead.append(a.actor_id)
        while len(self.dead) > MAX_DEAD_ACTORS_KEPT:
            self.actors.pop(self.dead.popleft(), None)

    # -- the creation task's events -----------------------------------------------------------------
    def _creation_event(self, a: ActorRecord, state: str, *rest) -> None:
        if task_events.ENABLED and a.creation_task is not None:
            self.server.tasks.record_creation(a.creation_task, state, a.num_restarts, *rest)

    def _creation_ended(self, a: ActorRecord, state: str, error_type: str | None = None) -> None:
        if a.creation_open:
            a.creation_open = False
            self._creation_event(a, state, error_type)

    # -- workers ------------------------------------------------------------------------------------
    def _release_worker(self, a: ActorRecord, kill: bool, graceful: bool = False) -> None:
        server = self.server
        if a.pending_request is not None:
            raylet, rid = a.pending_request
            a.pending_request = None
            self.by_request.pop(rid, None)
            server.send(server.peer(raylet), "lease_request_cancelled", {"request_id": rid})
        lease = a.lease
        if lease is not None:
            self._forget_lease(a)
            server.send(server.peer(lease.raylet_address), "lease_returned",
                        {"lease_id": lease.lease_id, "worker_id": lease.worker_id, "kill": kill, "graceful": graceful})

    def _forget_lease(self, a: ActorRecord) -> None:
        lease = a.lease
        if lease is None:
            return
        a.lease = None
        self.by_lease.pop(lease.lease_id, None)
        self.by_worker.pop(lease.worker_id, None)
        self._close_later(lease.task_address)

    def _close_later(self, address: str) -> None:
        """Drop our socket to a worker after the message being handled (it may be on it)."""
        if address in self.server.peers:
            self.server.loop.call_soon(self.server.drop_peer, address)

    def _publish(self, a: ActorRecord) -> None:
        self.server.tables.save_actor(a)  # every state change comes here: it is durable before it is told
        if not a.subscribers:
            return
        buffers = [a.error_frame] if a.error_frame else []
        self.server.send_to_all(a.subscribers, "actor_state_changed", self.info(a), buffers)


def _group_removed(what: str) -> str:
    return (f"The actor is dead because its placement group {what} was removed "
            "(remove_placement_group kills the actors and tasks that use the group's bundles).")


def _fits(request: dict, total: dict) -> bool:
    return all(total.get(k, 0.0) + 1e-9 >= v for k, v in request.items())


def _describe_exit(code) -> str:
    if code is None:
        return "it exited"
    if code < 0:
        return f"it was killed by signal {-code}"
    return f"it exited with code {code}"
