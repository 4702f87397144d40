"""The GCS's durable tables: what each manager writes to storage, and the reload at start.

Writes are synchronous and happen before the reply that announces them (a kv_put is
stored when ``kv_put_reply`` leaves).  Actors are written at each state change (the
actor manager calls ``save_actor``); placement groups are compared with what was last
written after every message and timer tick, and written when they changed.
Task events stay in memory, as in Ray.

On reload the GCS knows every node, job, actor, group and key it knew before, but not
who subscribed: ROUTER identities die with the process.  ``announce_restart`` tells every
live raylet and driver so they subscribe again (see ``raylet/gcs_reconnect.py``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pickle
import time

from .storage import GcsStorage

log = logging.getLogger("kernelray.gcs.tables")
RESCHEDULE_AFTER_RELOAD_S = 1.5  # raylets re-register first; then pending actors are leased again


def _kv_row(value: str | bytes) -> bytes:
    """A KV value as stored: a one-byte tag (``s`` text, ``b`` binary, as runtime_env packages are) and the bytes."""
    return b"b" + bytes(value) if isinstance(value, (bytes, bytearray, memoryview)) else b"s" + value.encode()


def _kv_value(row: bytes) -> str | bytes:
    return row[1:] if row[:1] == b"b" else row[1:].decode()


def _kv_key(ns: str, key: str) -> str:
    return json.dumps([ns, key])


class DurableTables:
    def __init__(self, storage: GcsStorage):
        self.storage = storage
        self._pg_written: dict[str, str] = {}  # a live group -> its JSON as last written
        self._pg_final: set = set()  # REMOVED groups already written

    # -- writes ------------------------------------------------------------------------------
    def save_node(self, node: dict) -> None:
        row = {k: v for k, v in node.items() if k != "last_heartbeat"}
        self.storage.put("nodes", node["node_id"], json.dumps(row).encode())

    def save_job(self, job: dict, next_job: int | None = None) -> None:
        row = {k: v for k, v in job.items() if k != "last_heartbeat"}
        with self.storage.batch():
            self.storage.put("jobs", job["job_id"], json.dumps(row).encode())
            if next_job is not None:
                self.storage.put("meta", "next_job", str(next_job).encode())

    def save_actor(self, a) -> None:
        if a.state == "DEAD":  # dead actors are kept for views only: drop the big creation spec
            a_copy = dataclasses.replace(a, subscribers=[], pending_request=None, creation=None, lease=None)
        else:
            a_copy = dataclasses.replace(a, subscribers=[], pending_request=None)
        self.storage.put("actors", a.actor_id, pickle.dumps(a_copy))

    def kv_put(self, ns: str, key: str, value: str | bytes, overwrite: bool) -> bool:
        k = _kv_key(ns, key)
        if overwrite:
            self.storage.put("kv", k, _kv_row(value))
            return True
        return self.storage.put_if_absent("kv", k, _kv_row(value))

    def kv_delete(self, ns: str, key: str) -> bool:
        return self.storage.delete("kv", _kv_key(ns, key))

    def flush_placement_groups(self, groups: dict) -> None:
        """Write the groups that changed; a REMOVED group, once written, never changes again."""
        for pg_id, pg in groups.items():
            if pg_id in self._pg_final:
                continue
            text = json.dumps(pg, default=str)
            if self._pg_written.get(pg_id) != text:
                self.storage.put("placement_groups", pg_id, text.encode())
                self._pg_written[pg_id] = text
            if pg["state"] == "REMOVED":
                self._pg_final.add(pg_id)
                self._pg_written.pop(pg_id, None)

    # -- reload ------------------------------------------------------------------------------
    def reload(self, server) -> bool:
        """Fill the managers from storage; True if there was anything (a restart)."""
        nodes = self.storage.get_all("nodes")
        jobs = self.storage.get_all("jobs")
        now = time.monotonic()
        for raw in nodes.values():
            node = dict(json.loads(raw), last_heartbeat=now)  # a live raylet beats again within 100 ms
            server.nodes.nodes[node["node_id"]] = node
        for raw in jobs.values():
            job = dict(json.loads(raw), last_heartbeat=now)
            server.jobs.jobs[job["job_id"]] = job
        server.jobs._next = int(self.storage.get("meta", "next_job") or b"1")
        for k, raw in self.storage.get_all("kv").items():
            ns, key = json.loads(k)
            server.kv.data[(ns, key)] = _kv_value(raw)
        self._reload_groups(server.placement_groups)
        self._reload_actors(server.actors)
        return bool(nodes or jobs)

    def _reload_groups(self, pgs) -> None:
        for pg_id, raw in self.storage.get_all("placement_groups").items():
            pg = json.loads(raw)
            pgs.groups[pg_id] = pg
            if pg["state"] == "REMOVED":
                self._pg_final.add(pg_id)
            else:
                self._pg_written[pg_id] = raw.decode()
            if pg.get("name") and pg["state"] != "REMOVED":
                pgs.named[(pg["namespace"], pg["name"])] = pg_id

    def _reload_actors(self, actors) -> None:
        for raw in self.storage.get_all("actors").values():
            a = pickle.loads(raw)
            actors.actors[a.actor_id] = a
            if a.state == "DEAD":
                actors.dead.append(a.actor_id)
                continue
            if a.name:
                actors.named[(a.namespace, a.name)] = a.actor_id
            if not a.detached:
                actors.by_owner.setdefault(a.owner_address, set()).add(a.actor_id)
            if a.lease is not None:
                actors.by_lease[a.lease.lease_id] = a
                actors.by_worker[a.lease.worker_id] = a
            elif a.state in ("PENDING_CREATION", "RESTARTING"):
                actors.server.loop.call_later(RESCHEDULE_AFTER_RELOAD_S, actors._schedule_if_waiting, a)

    def announce_restart(self, server) -> None:
        """Tell live raylets and drivers that the GCS came back: they subscribe again."""
        for node in server.nodes.nodes.values():
            if node["state"] == "ALIVE" and node.get("address"):
                server.send(server.peer(node["address"]), "gcs_restarted", {})
        for job in server.jobs.jobs.values():
            if job["state"] == "RUNNING" and job.get("driver_address"):
                server.send(server.peer(job["driver_address"]), "gcs_restarted", {})
