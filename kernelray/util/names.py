"""``ray.util`` functions about the cluster's names: named actors, the current placement
group, this node's IP."""

from __future__ import annotations

from ..core import context


def list_named_actors(all_namespaces: bool = False) -> list:
    """The names of the live named actors in this job's namespace, or, with
    ``all_namespaces=True``, ``{"name", "namespace"}`` dicts for every namespace (as Ray)."""
    core = context.require_core()
    rows = core.call(core.gcs, "list_actors_request", {}).content.get("actors", [])
    live = [r for r in rows if r.get("name") and r.get("state") != "DEAD"]
    if all_namespaces:
        return [{"name": r["name"], "namespace": r.get("namespace") or ""} for r in live]
    from ..core.actor_submitter import current_namespace

    namespace = current_namespace(core)
    return [r["name"] for r in live if (r.get("namespace") or "") == namespace]


def get_node_ip_address() -> str:
    from ..exceptions import _local_ip

    return _local_ip()
