"""The Global Control Store: cluster metadata, one process on the head node.

One manager per table, as Ray's GCS is laid out: nodes (with heartbeats), jobs (with
driver heartbeats), the internal KV, and pub/sub.  Objects are not here: their owners
track them.  Managers say what changed through ``publish``; the server turns that into
messages to subscribers.
"""

from __future__ import annotations

import logging
import os
import time

from .. import _process
from ..protocol.endpoint import Endpoint
from ..protocol.session import send_frames
from .actor_manager import ActorManager
from .placement_group_manager import PlacementGroupManager
from .storage import open_storage
from .resource_view import ResourceViewBroadcaster
from .tables import DurableTables
from .task_manager import TaskManager

log = logging.getLogger("kernelray.gcs")

NODE_TIMEOUT_S = 3.0  # a raylet silent this long is dead (it beats every 100 ms)
JOB_TIMEOUT_S = 5.0  # a driver silent this long is gone (it beats every second)
ALIVE, DEAD = "ALIVE", "DEAD"


class NodeManager:
    def __init__(self, publish, tables: DurableTables):
        self.nodes: dict[str, dict] = {}
        self.publish = publish
        self.tables = tables
        self.listeners = []

    def register(self, info: dict) -> None:
        info = dict(info, state=ALIVE, last_heartbeat=time.monotonic(), start_time=time.time())
        self.nodes[info["node_id"]] = info
        self.tables.save_node(info)
        self.publish("node_added", {"node_id": info["node_id"], "address": info["address"],
                                    "resources_total": info.get("resources_total")})

    def heartbeat(self, c: dict) -> None:
        node = self.nodes.get(c.get("node_id", ""))
        if node is None or node["state"] != ALIVE:
            return
        node["last_heartbeat"] = time.monotonic()
        node["resources_available"] = c.get("resources_available", node.get("resources_available"))
        if "resources_total" in c:  # bundles of placement groups add resources
            node["resources_total"] = c["resources_total"]
        node["pending"] = c.get("pending", 0)

    def check(self) -> None:
        now = time.monotonic()
        for node in self.nodes.values():
            if node["state"] == ALIVE and now - node["last_heartbeat"] > NODE_TIMEOUT_S:
                self.mark_dead(node["node_id"], f"no heartbeat for {NODE_TIMEOUT_S} s")

    def mark_dead(self, node_id: str, reason: str) -> None:
        node = self.nodes.get(node_id)
        if node is None or node["state"] == DEAD:
            return
        node["state"] = DEAD
        node["death_reason"] = reason
        node["end_time"] = time.time()
        self.tables.save_node(node)
        log.warning("node %s is dead: %s", node_id[:8], reason)
        self.publish("node_removed", {"node_id": node_id, "reason": reason, "address": node.get("address")})
        for fn in self.listeners:
            fn(node_id)

    def view(self) -> list:
        return [
            {k: v for k, v in n.items() if k != "last_heartbeat"}
            for n in self.nodes.values()
        ]


class JobManager:
    def __init__(self, publish, tables: DurableTables):
        self.jobs: dict[str, dict] = {}
        self.publish = publish
        self.tables = tables
        self.listeners = []  # called with the job when it finishes (the actor manager)
        self._next = 1

    def register(self, c: dict) -> dict:
        job_int = self._next
        self._next += 1
        job_id = job_int.to_bytes(4, "little").hex()
        job = {
            "job_id": job_id,
            "driver_address": c.get("driver_address"),
            "driver_pid": c.get("pid"),
            "namespace": c.get("namespace") or f"anonymous-{job_id}",
            "entrypoint": c.get("entrypoint", ""),
            "state": "RUNNING",
            "start_time": time.time(),
            "last_heartbeat": time.monotonic(),
        }
        self.jobs[job_id] = job
        self.tables.save_job(job, next_job=self._next)
        return job

    def heartbeat(self, job_id: str) -> None:
        job = self.jobs.get(job_id)
        if job is not None:
            job["last_heartbeat"] = time.monotonic()

    def finish(self, job_id: str, reason: str) -> None:
        job = self.jobs.get(job_id)
        if job is None or job["state"] != "RUNNING":
            return
        job["state"] = "FINISHED" if reason == "shutdown" else "FAILED"
        job["end_time"] = time.time()
        job["message"] = reason
        self.tables.save_job(job)
        for fn in self.listeners:
            fn(job)
        self.publish("job_finished", {"job_id": job_id, "driver_address": job["driver_address"], "reason": reason})

    def check(self) -> None:
        now = time.monotonic()
        for job in list(self.jobs.values()):
            if job["state"] == "RUNNING" and now - job["last_heartbeat"] > JOB_TIMEOUT_S:
                self.finish(job["job_id"], f"the driver stopped answering for {JOB_TIMEOUT_S} s")

    def view(self) -> list:
        return [{k: v for k, v in j.items() if k != "last_heartbeat"} for j in self.jobs.values()]


class KVManager:
    def __init__(self, tables: DurableTables):
        self.data: dict[tuple, str] = {}
        self.tables = tables

    def put(self, ns: str, key: str, value: str, overwrite: bool) -> bool:
        k = (ns, key)
        if k in self.data and not overwrite:
            return False
        self.tables.kv_put(ns, key, value, True)
        self.data[k] = value
        return True

    def get(self, ns: str, key: str):
        return self.data.get((ns, key))

    def delete(self, ns: str, key: str) -> bool:
        self.tables.kv_delete(ns, key)
        return self.data.pop((ns, key), None) is not None

    def keys(self, ns: str, prefix: str) -> list:
        return [k for (n, k) in self.data if n == ns and k.startswith(prefix)]


class GcsServer(Endpoint):
    msg_types = [
        "register_node_request",
        "node_heartbeat",
        "get_all_nodes_request",
        "register_job_request",
        "job_heartbeat",
        "mark_job_finished_request",
        "get_all_jobs_request",
        "kv_put_request",
        "kv_get_request",
        "kv_del_request",
        "kv_keys_request",
        "kv_exists_request",
        "subscribe_request",
        "create_placement_group_request",
        "remove_placement_group_request",
        "get_placement_group_request",
        "placement_group_table_request",
        "wait_placement_group_ready_request",
        "worker_died",
        "get_cluster_info_request",
    ]

    def __init__(self, *, key: bytes, ip: str, port: int, session_dir: str, parent_pid: int | None = None,
                 storage: str | None = None):
        super().__init__(key, ip=ip, port=port, name="gcs")
        self.session_dir = session_dir
        self.subscribers: dict[str, list] = {}
        self.subscriber_idents: dict[str, list] = {}  # a subscribed worker's address -> its identities
        self.tables = DurableTables(open_storage(storage, session_dir))
        self.nodes = NodeManager(self.publish, self.tables)
        self.jobs = JobManager(self.publish, self.tables)
        self.kv = KVManager(self.tables)
        self.actors = ActorManager(self)
        self.placement_groups = PlacementGroupManager(self)
        self.nodes.listeners.append(self.placement_groups.on_node_removed)
        self.handlers.update(self.actors.handlers)  # the actor table's messages (see actor_manager.py)
        self.tasks = TaskManager(self)
        self.handlers.update(self.tasks.handlers)  # the task table, from task events (see task_manager.py)
        self.jobs.listeners.append(self.actors.on_job_finished)
        self.jobs.listeners.append(self.placement_groups.on_job_finished)
        self.nodes.listeners.append(self.actors.on_node_dead)
        self.parent = _process.ParentWatch(parent_pid)
        self.started = time.time()
        self.resource_view = ResourceViewBroadcaster(self)
        self.restarted = self.tables.reload(self)

    def start(self) -> None:
        if self.restarted:
            log.warning("the GCS restarted: tables reloaded, telling raylets and drivers")
            self.tables.announce_restart(self)
        self.loop.call_every(0.25, self._checks)
        self.loop.call_every(0.1, self._broadcast_resources)

    def _broadcast_resources(self) -> None:
        """Every raylet learns what the others have free (spillback decisions): what changed."""
        self.resource_view.broadcast()

    def _checks(self) -> None:
        self.parent.check()
        self.nodes.check()
        self.jobs.check()
        self.placement_groups.check()
        self.tables.flush_placement_groups(self.placement_groups.groups)

    def dispatch(self, msg, sock, idents) -> None:
        super().dispatch(msg, sock, idents)
        self.tables.flush_placement_groups(self.placement_groups.groups)

    # -- pub/sub --------------------------------------------------------------------------
    def publish(self, channel: str, content: dict) -> None:
        self.send_to_all(self.subscribers.get(channel, ()), channel, content)

    def send_to_all(self, subscribers, msg_type: str, content: dict, buffers=()) -> None:
        """One message to many ROUTER peers: packed and signed once (replay checks are per receiver)."""
        if not subscribers:
            return
        frames = self.session.pack(msg_type, content, buffers)
        for idents in subscribers:
            send_frames(self.router, [*idents, *frames])

    def handle_subscribe_request(self, msg, sock, idents) -> None:
        for channel in msg.content.get("channels", ()):
            lst = self.subscribers.setdefault(channel, [])
            if idents not in lst:
                lst.append(idents)
        if msg.content.get("address"):  # so its subscriptions end with it (see handle_worker_died)
            self.subscriber_idents[msg.content["address"]] = idents
        self.reply(sock, idents, msg, "subscribe_reply", {})
        if "resource_view" in msg.content.get("channels", ()):
            self.resource_view.send_full(sock, idents)

    def _unsubscribe_dead(self, address) -> None:
        idents = self.subscriber_idents.pop(address, None)
        if idents is not None:
            for lst in self.subscribers.values():
                if idents in lst:
                    lst.remove(idents)

    # -- nodes ------------------------------------------------------------------------------
    def handle_register_node_request(self, msg, sock, idents) -> None:
        self.nodes.register(dict(msg.content))
        self.reply(sock, idents, msg, "register_node_reply", {"session_dir": self.session_dir})

    def handle_node_heartbeat(self, msg, sock, idents) -> None:
        self.nodes.heartbeat(msg.content)

    def handle_get_all_nodes_request(self, msg, sock, idents) -> None:
        self.reply(sock, idents, msg, "get_all_nodes_reply", {"nodes": self.nodes.view()})

    def handle_worker_died(self, msg, sock, idents) -> None:
        if "lease_id" in msg.content:  # to us as the holder of an actor's lease
            self.actors.on_lease_worker_died(msg.content)
            return
        self._unsubscribe_dead(msg.content.get("address"))
        self.publish("owner_died", {"address": msg.content.get("address"), "worker_id": msg.content.get("worker_id")})
        self.actors.on_worker_died(msg.content)

    # -- placement groups ---------------------------------------------------------------------
    def handle_create_placement_group_request(self, msg, sock, idents) -> None:
        pg = self.placement_groups.create(msg.content)
        self.tables.flush_placement_groups(self.placement_groups.groups)
        self.reply(sock, idents, msg, "create_placement_group_reply", {"placement_group": pg})

    def handle_remove_placement_group_request(self, msg, sock, idents) -> None:
        self.placement_groups.remove(msg.content["placement_group_id"])
        self.reply(sock, idents, msg, "remove_placement_group_reply", {})

    def handle_get_placement_group_request(self, msg, sock, idents) -> None:
        c = msg.content
        if c.get("name"):
            pg = self.placement_groups.get_named(c["name"], c.get("namespace") or "")
        else:
            pg = self.placement_groups.groups.get(c.get("placement_group_id", ""))
        self.reply(sock, idents, msg, "get_placement_group_reply", {"placement_group": pg})

    def handle_wait_placement_group_ready_request(self, msg, sock, idents) -> None:
        """``pg.ready()``: the reply waits until the group is CREATED (an error if it is removed)."""
        self.placement_groups.wait_ready(msg.content["placement_group_id"], sock, idents, msg)

    def handle_placement_group_table_request(self, msg, sock, idents) -> None:
        self.reply(sock, idents, msg, "placement_group_table_reply", {"placement_groups": self.placement_groups.table()})

    # -- jobs --------------------------------------------------------------------------------
    def handle_register_job_request(self, msg, sock, idents) -> None:
        job = self.jobs.register(msg.content)
        self.reply(sock, idents, msg, "register_job_reply", {"job_id": job["job_id"], "namespace": job["namespace"],
                                                              "session_dir": self.session_dir})

    def handle_job_heartbeat(self, msg, sock, idents) -> None:
        self.jobs.heartbeat(msg.content.get("job_id", ""))

    def handle_mark_job_finished_request(self, msg, sock, idents) -> None:
        self.jobs.finish(msg.content.get("job_id", ""), "shutdown")
        self.reply(sock, idents, msg, "mark_job_finished_reply", {})

    def handle_get_all_jobs_request(self, msg, sock, idents) -> None:
        self.reply(sock, idents, msg, "get_all_jobs_reply", {"jobs": self.jobs.view()})

    # -- KV ------------------------------------------------------------------------------------
    def handle_kv_put_request(self, msg, sock, idents) -> None:
        c = msg.content
        value = bytes(msg.buffers[0]) if msg.buffers else c["value"]  # binary values (packages) travel as a buffer
        added = self.kv.put(c.get("namespace", ""), c["key"], value, c.get("overwrite", True))
        self.reply(sock, idents, msg, "kv_put_reply", {"added": added})

    def handle_kv_get_request(self, msg, sock, idents) -> None:
        c = msg.content
        value = self.kv.get(c.get("namespace", ""), c["key"])
        if isinstance(value, bytes):
            self.reply(sock, idents, msg, "kv_get_reply", {"value": None, "binary": True}, buffers=[value])
            return
        self.reply(sock, idents, msg, "kv_get_reply", {"value": value})

    def handle_kv_exists_request(self, msg, sock, idents) -> None:
        c = msg.content
        self.reply(sock, idents, msg, "kv_exists_reply", {"exists": self.kv.get(c.get("namespace", ""), c["key"]) is not None})

    def handle_kv_del_request(self, msg, sock, idents) -> None:
        c = msg.content
        self.reply(sock, idents, msg, "kv_del_reply", {"deleted": self.kv.delete(c.get("namespace", ""), c["key"])})

    def handle_kv_keys_request(self, msg, sock, idents) -> None:
        c = msg.content
        self.reply(sock, idents, msg, "kv_keys_reply", {"keys": self.kv.keys(c.get("namespace", ""), c.get("prefix", ""))})

    def handle_get_cluster_info_request(self, msg, sock, idents) -> None:
        self.reply(sock, idents, msg, "get_cluster_info_reply", {
            "session_dir": self.session_dir, "pid": os.getpid(), "started": self.started,
            "nodes": len([n for n in self.nodes.nodes.values() if n["state"] == ALIVE]),
        })
