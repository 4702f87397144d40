"""A raylet's view of the other nodes, kept from the GCS's ``resource_view`` messages.

A full view (``delta`` false: on subscribing) replaces the view; a delta updates the
nodes it names: a live node is stored, a dead one dropped (see gcs/resource_view.py).
"""

from __future__ import annotations


def install(raylet) -> None:
    def handle_resource_view(msg, sock, idents) -> None:
        nodes = msg.content.get("nodes", [])
        view = dict(raylet.view) if msg.content.get("delta") else {}
        for n in nodes:
            if n["node_id"] == raylet.node_id:
                continue
            if n.get("state") == "ALIVE":
                view[n["node_id"]] = n
            else:
                view.pop(n["node_id"], None)
        raylet.view = view
        raylet.view_received = True
        if raylet.pending:
            raylet._schedule()

    raylet.handlers["resource_view"] = handle_resource_view
