"""The resource view raylets receive, as deltas: only the nodes whose resources changed.

Every 100 ms the GCS compares each live node's entry (address, totals, available) with
what it last sent and publishes only the changed ones (``resource_view`` with
``delta: true``); an idle cluster sends nothing.  A node that died is in the delta with
its state, so receivers drop it.  A raylet that subscribes gets the full view at once
(``delta: false``), so a restarted GCS or a new raylet starts from a complete picture.
"""

from __future__ import annotations

import json

ALIVE = "ALIVE"


def _entry(n: dict) -> dict:
    return {"node_id": n["node_id"], "address": n["address"], "state": n["state"],
            "resources_total": n.get("resources_total"), "resources_available": n.get("resources_available")}


class ResourceViewBroadcaster:
    def __init__(self, server):
        self.server = server
        self.sent: dict[str, str] = {}  # node id -> its entry as last published
        self.bytes_published = 0

    def full_view(self) -> dict:
        nodes = [_entry(n) for n in self.server.nodes.nodes.values() if n["state"] == ALIVE]
        return {"nodes": nodes, "delta": False}

    def changes(self) -> list:
        changed = []
        for node_id, n in self.server.nodes.nodes.items():
            if n["state"] != ALIVE and node_id not in self.sent:
                continue
            entry = _entry(n)
            text = json.dumps(entry, sort_keys=True)
            if self.sent.get(node_id) != text:
                changed.append(entry)
                if n["state"] == ALIVE:
                    self.sent[node_id] = text
                else:
                    self.sent.pop(node_id, None)
        return changed

    def broadcast(self) -> None:
        changed = self.changes()
        if changed and self.server.subscribers.get("resource_view"):
            self.server.publish("resource_view", {"nodes": changed, "delta": True})

    def send_full(self, sock, idents) -> None:
        """To one new subscriber: the whole view."""
        self.server.send(sock, "resource_view", self.full_view(), idents=idents)
