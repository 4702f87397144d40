"""``wait(..., fetch_local=True)``: an object counts as ready once it is on this node.

An object in another node's store is pulled here (the local raylet copies it) before
``wait`` returns it, as Ray's wait does; ``fetch_local=False`` returns it where it lies.
"""

from __future__ import annotations

from ..object_store.client import PLASMA, location


def remote_copies(core, ready_ids) -> dict:
    """{object id hex: {raylet, size}} for the ready objects that lie in another node's store."""
    mine = core.node_id.hex()
    out = {}
    for oid in ready_ids:
        obj = core.store.get(oid) if oid in core.store else None
        if obj is not None and obj.kind == PLASMA:
            loc = location(obj)
            if loc["node_id"] != mine:
                out[loc["object_id"]] = {"raylet": loc["raylet"], "size": loc["size"]}
    return out


def pull_ready(core, ready_ids) -> None:
    """Copy the ready objects that are on other nodes into this node's store (and let go)."""
    if core.store_client is None:
        return
    remote = remote_copies(core, ready_ids)
    if remote:
        core.store_client.read_many([bytes.fromhex(h) for h in remote], remote)
