"""``kernelray.util.state``: what the cluster holds, as Ray's state API lists it.

Objects are not in the GCS (their owners track them), so ``list_objects`` asks every
core worker it can find (this driver, every worker of every live node, the other
drivers) for its reference table, and every raylet for its store table, and joins them:
one row per object and process that references it, as ``ray memory`` shows.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ..core import context


def _core():
    return context.require_core()


def _filtered(rows: list, filters, limit: int) -> list:
    for key, op, value in filters or ():
        if op in ("=", "=="):
            rows = [r for r in rows if str(r.get(key)) == str(value)]
        elif op == "!=":
            rows = [r for r in rows if str(r.get(key)) != str(value)]
        else:
            raise ValueError(f"unsupported filter operator {op!r}: use '=' or '!='")
    return rows[:limit]


def list_nodes(filters=None, limit: int = 10000, detail: bool = False) -> list:
    core = _core()
    nodes = core.call(core.gcs, "get_all_nodes_request", {}).content["nodes"]
    rows = [{
        "node_id": n["node_id"], "node_ip": n.get("ip"), "state": n["state"], "is_head_node": n.get("is_head", False),
        "resources_total": n.get("resources_total", {}), "resources_available": n.get("resources_available", {}),
        "raylet_address": n.get("address"), "object_store_used": n.get("object_store_used", 0),
    } for n in nodes]
    return _filtered(rows, filters, limit)


def _node_infos(core) -> list:
    out = []
    for n in list_nodes(filters=[("state", "=", "ALIVE")]):
        try:
            out.append(core.call(n["raylet_address"], "get_node_info_request", {}, timeout=5).content)
        except Exception:  # noqa: BLE001 - a node that just died is skipped
            continue
    return out


def list_workers(filters=None, limit: int = 10000, detail: bool = False) -> list:
    rows = []
    for info in _node_infos(_core()):
        for w in info.get("workers", []):
            rows.append(dict(w, node_id=info["node_id"], worker_type="WORKER"))
    return _filtered(rows, filters, limit)


def _core_worker_addresses(core) -> list:
    addresses = {core.address: "DRIVER"}
    for w in list_workers():
        if w.get("address"):
            addresses[w["address"]] = "WORKER"
    jobs = core.call(core.gcs, "get_all_jobs_request", {}).content["jobs"]
    for j in jobs:
        if j["state"] == "RUNNING" and j.get("driver_address"):
            addresses.setdefault(j["driver_address"], "DRIVER")
    return list(addresses.items())


def _stats_of(core, address: str):
    try:
        return core.call(address, "get_core_worker_stats_request", {}, timeout=5).content
    except Exception:  # noqa: BLE001 - a process that died meanwhile
        return None


def list_objects(filters=None, limit: int = 10000, detail: bool = False) -> list:
    """One row per (object, process referencing it): size, owner, reference type, call site."""
    core = _core()
    targets = _core_worker_addresses(core)
    with ThreadPoolExecutor(max_workers=8) as pool:
        stats = list(pool.map(lambda t: (t[1], _stats_of(core, t[0])), targets))
    store: dict = {}
    for info in _node_infos(core):
        try:
            table = core.call(info["address"], "store_stats_request", {"objects": True}, timeout=5).content
        except Exception:  # noqa: BLE001
            continue
        for row in table.get("objects", []):
            store[row["object_id"]] = dict(row, node_id=info["node_id"])
    sites = {}
    sizes = {}
    for _, st in stats:
        for o in (st or {}).get("objects", []):
            if o["owned"]:
                sites[o["object_id"]] = o["call_site"]
                sizes[o["object_id"]] = o["size"]
    rows = []
    for kind, st in stats:
        if not st:
            continue
        for o in st["objects"]:
            oid = o["object_id"]
            s = store.get(oid)
            types = list(o["reference_types"]) or ["LOCAL_REFERENCE"]
            if s is not None and s["pinned_by_readers"] and o["owned"]:
                types.append("PINNED_IN_MEMORY")
            rows.append({
                "object_id": oid,
                "pid": st["pid"],
                "type": kind,
                "ip": st["address"].split("//")[-1].rsplit(":", 1)[0],
                "reference_type": types[0],
                "reference_types": types,
                "object_size": s["size"] if s else (o["size"] if o["size"] is not None else sizes.get(oid)),
                "call_site": o["call_site"] or sites.get(oid, ""),
                "owner": o["owner"],
                "borrowers": o["borrowers"],
                "task_status": "FINISHED" if o["ready"] else "PENDING",
                "location": ("SPILLED" if s and not s["in_memory"] else "IN_STORE") if s else "INLINE",
                "node_id": s["node_id"] if s else None,
            })
    return _filtered(rows, filters, limit)


def summarize_objects() -> dict:
    rows = list_objects()
    by_site: dict = {}
    for r in rows:
        if r["reference_type"] == "BORROWED":
            continue
        g = by_site.setdefault(r["call_site"] or "(unknown)", {"total_objects": 0, "total_size_mb": 0.0,
                                                              "reference_types": {}})
        g["total_objects"] += 1
        g["total_size_mb"] += (r["object_size"] or 0) / 1e6
        for t in r["reference_types"]:
            g["reference_types"][t] = g["reference_types"].get(t, 0) + 1
    return {"cluster": {"summary": by_site, "total_objects": len({r["object_id"] for r in rows})}}


def store_stats() -> list:
    """Per node: capacity, used, spilled and restored bytes of the object store."""
    core = _core()
    out = []
    for info in _node_infos(core):
        try:
            out.append(core.call(info["address"], "store_stats_request", {}, timeout=5).content)
        except Exception:  # noqa: BLE001
            continue
    return out


def list_actors(filters=None, limit: int = 10000, detail: bool = False) -> list:
    core = _core()
    try:
        rows = core.call(core.gcs, "list_actors_request", {}).content.get("actors", [])
    except Exception as exc:  # noqa: BLE001
        raise RuntimeError(f"the GCS could not list actors: {exc}") from exc
    return _filtered(rows, filters, limit)


__all__ = ["list_nodes", "list_workers", "list_objects", "summarize_objects", "store_stats", "list_actors"]
