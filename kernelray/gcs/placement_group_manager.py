"""Placement groups in the GCS: place bundles on nodes, reserve them with a two-phase commit.

States, as Ray names them: PENDING (not placed yet: no fit, or a prepare failed and was
rolled back), CREATED (every bundle committed on its node), RESCHEDULING (a node holding a
bundle died: those bundles are placed again), REMOVED.

Placement uses the node table (totals and the available resources raylets report every
100 ms).  Then ``prepare_bundle_request`` to every chosen raylet reserves the resources;
if all prepare, ``bundle_committed`` turns each reservation into the bundle's
resources (``CPU_group_<i>_<pg>``, ``CPU_group_<pg>``, ``bundle_group_<pg>``); if any
refuses, the prepared ones get ``bundle_cancelled`` and the group stays PENDING and
is tried again on the next check.

Removing a group (``remove``) kills the actors and tasks that use it, as Ray does.
"""

from __future__ import annotations

import logging
import time

from ..raylet import resources as res

log = logging.getLogger("kernelray.gcs.pg")
PENDING, CREATED, RESCHEDULING, REMOVED = "PENDING", "CREATED", "RESCHEDULING", "REMOVED"
STRATEGIES = ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD")


class PlacementGroupManager:
    def __init__(self, server):
        self.server = server
        self.groups: dict[str, dict] = {}
        self.named: dict[tuple, str] = {}
        self._busy: set = set()  # groups with a two-phase commit in flight
        self._ready_waiters: dict[str, list] = {}  # group -> (sock, idents, request) answered once CREATED

    # -- requests ------------------------------------------------------------------------
    def create(self, c: dict) -> dict:
        name, ns = c.get("name") or "", c.get("namespace") or ""
        if name and (ns, name) in self.named and self.groups[self.named[(ns, name)]]["state"] != REMOVED:
            raise ValueError(f"a placement group named {name!r} already exists in namespace {ns!r}")
        pg = {
            "placement_group_id": c["placement_group_id"],
            "name": name,
            "namespace": ns,
            "bundles": [{k: float(v) for k, v in b.items()} for b in c["bundles"]],
            "strategy": c["strategy"],
            "state": PENDING,
            "bundle_nodes": [None] * len(c["bundles"]),
            "lifetime": c.get("lifetime"),
            "creator_job": c.get("job_id"),
            "created_at": time.time(),
            "stats": {"scheduling_attempts": 0},
        }
        self.groups[pg["placement_group_id"]] = pg
        if name:
            self.named[(ns, name)] = pg["placement_group_id"]
        self.try_schedule(pg)
        return pg

    def remove(self, pg_id: str) -> None:
        """As in Ray, removing a group kills what uses its bundles, then frees them.

        The group's actors go DEAD first (so none is restarted), with a death cause naming
        the group.  Then every live raylet hears ``bundle_returned``: the ones holding a
        bundle kill the workers leased into it (their owners' tasks fail with
        TaskPlacementGroupRemoved) and free it; every raylet fails the lease requests for
        the group it has queued, and refuses later ones.
        """
        pg = self.groups.get(pg_id)
        if pg is None or pg["state"] == REMOVED:
            return
        pg["state"] = REMOVED
        pg["removed_at"] = time.time()
        what = f"{pg['name']!r} ({pg_id})" if pg["name"] else pg_id
        self.server.actors.on_placement_group_removed(pg_id, what)
        self._wake_ready(pg)
        for node in self._alive_nodes():
            self._send(node["node_id"], "bundle_returned", {"placement_group_id": pg_id, "name": pg["name"]})
        pg["bundle_nodes"] = [None] * len(pg["bundles"])

    def wait_ready(self, pg_id: str, sock, idents, msg) -> None:
        pg = self.groups.get(pg_id)
        if pg is None or pg["state"] in (REMOVED, CREATED):
            self._answer_ready(pg_id, (sock, idents, msg), pg)
        else:
            self._ready_waiters.setdefault(pg_id, []).append((sock, idents, msg))

    def _answer_ready(self, pg_id: str, waiter, pg) -> None:
        sock, idents, msg = waiter
        if pg is not None and pg["state"] == CREATED:
            self.server.reply(sock, idents, msg, "wait_placement_group_ready_reply", {"state": CREATED})
            return
        why = "was removed" if pg is not None else "does not exist"
        self.server.reply(sock, idents, msg, "wait_placement_group_ready_reply", {
            "status": "error", "ename": "TaskPlacementGroupRemoved",
            "evalue": f"The placement group {pg_id} {why}; it will never be ready.",
        })

    def _wake_ready(self, pg: dict) -> None:
        self.server.tables.flush_placement_groups(self.groups)  # durable before any waiter hears it
        for waiter in self._ready_waiters.pop(pg["placement_group_id"], ()):
            self._answer_ready(pg["placement_group_id"], waiter, pg)

    def on_job_finished(self, job: dict) -> None:
        """As in Ray: a job's placement groups go with it, unless detached."""
        for pg in list(self.groups.values()):
            if pg["creator_job"] == job["job_id"] and pg["lifetime"] != "detached" and pg["state"] != REMOVED:
                self.remove(pg["placement_group_id"])

    def table(self) -> list:
        return list(self.groups.values())

    def get_named(self, name: str, ns: str):
        pg_id = self.named.get((ns, name))
        return self.groups.get(pg_id) if pg_id else None

    # -- placing -------------------------------------------------------------------------
    def check(self) -> None:
        """Retry groups that are not placed yet (called every 250 ms)."""
        for pg in list(self.groups.values()):
            if pg["state"] in (PENDING, RESCHEDULING) and pg["placement_group_id"] not in self._busy:
                self.try_schedule(pg)

    def on_node_removed(self, node_id: str) -> None:
        for pg in self.groups.values():
            if pg["state"] == CREATED and node_id in pg["bundle_nodes"]:
                pg["bundle_nodes"] = [None if n == node_id else n for n in pg["bundle_nodes"]]
                pg["state"] = RESCHEDULING
                log.warning("placement group %s lost bundles on node %s: RESCHEDULING", pg["placement_group_id"][:8],
                            node_id[:8])

    def _alive_nodes(self) -> list:
        return [n for n in self.server.nodes.nodes.values() if n["state"] == "ALIVE"]

    def place(self, pg: dict) -> dict | None:
        """{bundle index: node_id} for the bundles still to place, or None if they do not fit."""
        todo = [i for i, n in enumerate(pg["bundle_nodes"]) if n is None]
        nodes = self._alive_nodes()
        avail = {n["node_id"]: dict(n.get("resources_available") or n.get("resources_total") or {}) for n in nodes}
        used_nodes = {n for n in pg["bundle_nodes"] if n is not None}
        strategy = pg["strategy"]
        plan: dict = {}

        def take(i, node_id):
            res.subtract(avail[node_id], pg["bundles"][i])
            plan[i] = node_id

        if strategy in ("PACK", "STRICT_PACK"):
            need: dict = {}
            for i in todo:
                res.add(need, pg["bundles"][i])
            order = sorted(avail, key=lambda nid: (nid not in used_nodes, -avail[nid].get("CPU", 0)))
            for nid in order:
                if res.fits(need, avail[nid]) and (strategy == "PACK" or not used_nodes or nid in used_nodes):
                    for i in todo:
                        take(i, nid)
                    return plan
            if strategy == "STRICT_PACK":
                return None
        spread = strategy in ("SPREAD", "STRICT_SPREAD")
        for i in todo:
            choices = [nid for nid in avail if res.fits(pg["bundles"][i], avail[nid])]
            if spread:
                fresh = [nid for nid in choices if nid not in used_nodes and nid not in plan.values()]
                if strategy == "STRICT_SPREAD":
                    choices = fresh
                else:
                    choices = fresh or choices
            else:  # PACK that did not fit on one node: fill the fewest nodes
                choices.sort(key=lambda nid: (nid not in plan.values() and nid not in used_nodes,
                                              -avail[nid].get("CPU", 0)))
            if not choices:
                return None
            take(i, choices[0])
        return plan

    def try_schedule(self, pg: dict) -> None:
        pg["stats"]["scheduling_attempts"] += 1
        plan = self.place(pg)
        if not plan:
            return
        pg_id = pg["placement_group_id"]
        self._busy.add(pg_id)
        state = {"waiting": len(plan), "ok": {}, "failed": False, "done": False}

        def expire():  # a raylet that never answers fails the round: roll back, retry later
            if not state["done"]:
                state["waiting"] = 1
                on_prepared(-1, None, None)

        def on_prepared(i, node_id, msg):
            if state["done"]:
                return
            state["waiting"] -= 1
            if msg is not None and msg.content.get("status") == "ok":
                state["ok"][i] = node_id
            else:
                state["failed"] = True
            if state["waiting"]:
                return
            state["done"] = True
            self._busy.discard(pg_id)
            if state["failed"] or pg["state"] == REMOVED:  # phase two: roll back what was prepared
                for j, nid in state["ok"].items():
                    self._send(nid, "bundle_cancelled", {"placement_group_id": pg_id, "bundle_index": j})
                return
            for j, nid in state["ok"].items():  # phase two: commit
                self._send(nid, "bundle_committed", {"placement_group_id": pg_id, "bundle_index": j})
                pg["bundle_nodes"][j] = nid
                node = self.server.nodes.nodes.get(nid)
                if node is not None:  # every raylet learns of the bundle now, not at the next heartbeat
                    extra = res.bundle_resources(pg_id, j, pg["bundles"][j])
                    for key in ("resources_total", "resources_available"):
                        node[key] = dict(node.get(key) or {})
                        res.add(node[key], extra)
            self.server._broadcast_resources()
            if all(n is not None for n in pg["bundle_nodes"]):
                pg["state"] = CREATED
                pg["created_at"] = pg.get("created_at") or time.time()
                self._wake_ready(pg)

        self.server.loop.call_later(5.0, expire)
        for i, node_id in plan.items():
            node = self.server.nodes.nodes[node_id]
            self.server.request(self.server.peer(node["address"]), "prepare_bundle_request",
                                {"placement_group_id": pg_id, "bundle_index": i, "resources": pg["bundles"][i]},
                                lambda m, i=i, nid=node_id: on_prepared(i, nid, m))

    def _send(self, node_id: str, msg_type: str, content: dict) -> None:
        node = self.server.nodes.nodes.get(node_id)
        if node is not None and node["state"] == "ALIVE":
            self.server.send(self.server.peer(node["address"]), msg_type, content)


def uses_group(resources: dict, pg_id: str) -> bool:
    """Whether a resource request is for a bundle of this group (``CPU_group_0_<pg>``, ``bundle_group_<pg>``)."""
    return any(k.endswith(pg_id) and "_group_" in k for k in resources)
