"""``kernelray.util.state``: what the cluster holds, as Ray's state API lists it.

Tasks come from the GCS's task table (every process reports its tasks' state changes:
see ``core/task_events.py`` and ``gcs/task_manager.py``); actors from the GCS's actor
table; nodes from the GCS; workers from each raylet.  Objects are not in the GCS (their
owners track them), so ``list_objects`` asks every core worker it can find (this driver,
every worker of every live node, the other drivers) for its reference table, and every
raylet for its store table, and joins them: one row per object and process that
references it, as ``ray memory`` shows.

Every ``list_*`` takes Ray's arguments: ``filters`` (a list of ``(key, "=" | "!=", value)``
on the resource's filterable columns), ``limit`` and ``detail`` (False: the resource's
short columns only).  Rows are dicts that also read as attributes (``row.state``).  The
columns of each resource, and which of them are filterable or detail-only, are the
dataclasses below (``TaskState``, ``ActorState``, ...): the CLI and the widgets use them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields

from ..core import context

DEFAULT_LIMIT = 10000


def _col(filterable: bool = True, detail: bool = False):
    return field(default=None, metadata={"filterable": filterable, "detail": detail})


@dataclass
class TaskState:
    task_id: str = _col()
    attempt_number: int = _col()
    name: str = _col()
    state: str = _col()
    job_id: str = _col()
    actor_id: str = _col()
    type: str = _col()
    func_or_class_name: str = _col()
    parent_task_id: str = _col()
    node_id: str = _col()
    worker_id: str = _col()
    worker_pid: int = _col()
    error_type: str = _col()
    duration_s: float = _col(filterable=False)
    language: str = _col(detail=True)
    owner_address: str = _col(filterable=False, detail=True)
    creation_time_ms: int = _col(filterable=False, detail=True)
    start_time_ms: int = _col(filterable=False, detail=True)
    end_time_ms: int = _col(filterable=False, detail=True)
    events: list = _col(filterable=False, detail=True)


@dataclass
class ActorState:
    actor_id: str = _col()
    class_name: str = _col()
    state: str = _col()
    job_id: str = _col()
    name: str = _col()
    node_id: str = _col()
    pid: int = _col()
    ray_namespace: str = _col()
    num_restarts: int = _col(filterable=False)
    is_detached: bool = _col(detail=True)
    death_cause: str = _col(filterable=False, detail=True)
    start_time: float = _col(filterable=False, detail=True)
    end_time: float = _col(filterable=False, detail=True)


@dataclass
class ObjectState:
    object_id: str = _col()
    object_size: int = _col()
    task_status: str = _col()
    reference_type: str = _col()
    reference_types: list = _col(filterable=False)
    call_site: str = _col()
    type: str = _col()
    pid: int = _col()
    ip: str = _col()
    location: str = _col()
    owner: str = _col(detail=True)
    borrowers: int = _col(filterable=False, detail=True)
    node_id: str = _col(detail=True)


@dataclass
class NodeState:
    node_id: str = _col()
    node_ip: str = _col()
    is_head_node: bool = _col()
    state: str = _col()
    resources_total: dict = _col(filterable=False)
    resources_available: dict = _col(filterable=False)
    object_store_used: int = _col(filterable=False)
    raylet_address: str = _col(detail=True)


@dataclass
class WorkerState:
    worker_id: str = _col()
    worker_type: str = _col()
    node_id: str = _col()
    pid: int = _col()
    state: str = _col()
    job_id: str = _col()
    lease_id: str = _col(detail=True)
    address: str = _col(filterable=False, detail=True)
    task_address: str = _col(filterable=False, detail=True)


@dataclass
class PlacementGroupState:
    placement_group_id: str = _col()
    name: str = _col()
    creator_job_id: str = _col()
    state: str = _col()
    strategy: str = _col()
    is_detached: bool = _col(detail=True)
    bundles: list = _col(filterable=False, detail=True)
    bundle_nodes: list = _col(filterable=False, detail=True)
    stats: dict = _col(filterable=False, detail=True)


SCHEMAS = {"tasks": TaskState, "actors": ActorState, "objects": ObjectState, "nodes": NodeState,
           "workers": WorkerState, "placement_groups": PlacementGroupState}


def columns(resource: str, detail: bool = False) -> list:
    """The column names of ``resource`` ("tasks", "actors", ...) shown with or without detail."""
    return [f.name for f in fields(SCHEMAS[resource]) if detail or not f.metadata["detail"]]


def filterable_columns(resource: str) -> list:
    return [f.name for f in fields(SCHEMAS[resource]) if f.metadata["filterable"]]


class StateRow(dict):
    """A row of a state listing: a dict whose keys also read as attributes."""

    __slots__ = ()

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _check_filters(resource: str, filters) -> list:
    out = []
    allowed = filterable_columns(resource)
    for f in filters or ():
        if len(f) != 3:
            raise ValueError(f"a filter is (key, '=' or '!=', value), got {f!r}")
        key, op, value = f
        if op not in ("=", "==", "!="):
            raise ValueError(f"unsupported filter operator {op!r}: use '=' or '!='")
        if key not in allowed:
            raise ValueError(f"{key!r} is not a filterable column of {resource}; use one of {allowed}")
        out.append((key, op, value))
    return out


def _shape(resource: str, rows: list, detail: bool) -> list:
    if detail:
        return [StateRow(r) for r in rows]
    keep = columns(resource, False)
    return [StateRow({k: r.get(k) for k in keep}) for r in rows]


def _core():
    return context.require_core()


def _same(a, b) -> bool:
    a, b = str(a), str(b)
    return a == b or a.lower() == b.lower()


def _filtered(rows: list, filters, limit: int) -> list:
    for key, op, value in filters or ():
        if op in ("=", "=="):
            rows = [r for r in rows if _same(r.get(key), value)]
        elif op == "!=":
            rows = [r for r in rows if not _same(r.get(key), value)]
        else:
            raise ValueError(f"unsupported filter operator {op!r}: use '=' or '!='")
    return rows[:limit]


def _finish(resource: str, rows: list, filters, limit, detail: bool) -> list:
    filters = _check_filters(resource, filters)
    return _shape(resource, _filtered(rows, filters, DEFAULT_LIMIT if limit is None else int(limit)), detail)


def list_nodes(filters=None, limit: int = DEFAULT_LIMIT, detail: bool = False) -> list:
    core = _core()
    nodes = core.call(core.gcs, "get_all_nodes_request", {}).content["nodes"]
    rows = [{
        "node_id": n["node_id"], "node_ip": n.get("ip"), "state": n["state"], "is_head_node": n.get("is_head", False),
        "resources_total": n.get("resources_total", {}), "resources_available": n.get("resources_available", {}),
        "raylet_address": n.get("address"), "object_store_used": n.get("object_store_used", 0),
    } for n in nodes]
    return _finish("nodes", rows, filters, limit, detail)


def _node_infos(core) -> list:
    out = []
    for n in list_nodes(filters=[("state", "=", "ALIVE")], detail=True):
        try:
            out.append(core.call(n["raylet_address"], "get_node_info_request", {}, timeout=5).content)
        except Exception:  # noqa: BLE001 - a node that just died is skipped
            continue
    return out


def list_workers(filters=None, limit: int = DEFAULT_LIMIT, detail: bool = False) -> list:
    rows = []
    for info in _node_infos(_core()):
        for w in info.get("workers", []):
            rows.append(dict(w, node_id=info["node_id"], worker_type="WORKER"))
    return _finish("workers", rows, filters, limit, detail)


def _core_worker_addresses(core) -> list:
    addresses = {core.address: "DRIVER"}
    for w in list_workers(detail=True):
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


def list_objects(filters=None, limit: int = DEFAULT_LIMIT, detail: bool = False) -> list:
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
    return _finish("objects", rows, filters, limit, detail)


def summarize_objects() -> dict:
    rows = list_objects(detail=True)
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


# -- actors and placement groups (GCS tables) ----------------------------------------------
def _actor_rows() -> list:
    core = _core()
    try:
        rows = core.call(core.gcs, "list_actors_request", {}).content.get("actors", [])
    except Exception as exc:  # noqa: BLE001
        raise RuntimeError(f"the GCS could not list actors: {exc}") from exc
    for r in rows:
        r.setdefault("ray_namespace", r.get("namespace"))
    return rows


def list_actors(filters=None, limit: int = DEFAULT_LIMIT, detail: bool = False) -> list:
    return _finish("actors", _actor_rows(), filters, limit, detail)


def get_actor(id: str):  # noqa: A002 - Ray's argument name
    """The actor's row (with detail), or None."""
    rows = [r for r in _actor_rows() if r.get("actor_id") == id]
    return _shape("actors", rows, True)[0] if rows else None


def summarize_actors() -> dict:
    """Actors per class and state, as ``ray summary actors``."""
    summary: dict = {}
    rows = _actor_rows()
    for r in rows:
        g = summary.setdefault(r.get("class_name") or "?", {"class_name": r.get("class_name"), "state_counts": {}})
        g["state_counts"][r["state"]] = g["state_counts"].get(r["state"], 0) + 1
    return {"cluster": {"summary": summary, "total_actors": len(rows), "summary_by": "class"}}


def list_placement_groups(filters=None, limit: int = DEFAULT_LIMIT, detail: bool = False) -> list:
    """Placement groups of the GCS (``ray list placement-groups``)."""
    core = _core()
    try:
        table = core.call(core.gcs, "placement_group_table_request", {}, timeout=10).content.get("placement_groups", [])
    except Exception:  # noqa: BLE001 - a GCS without placement groups has none
        table = []
    rows = [{
        "placement_group_id": r.get("placement_group_id"), "name": r.get("name") or "",
        "creator_job_id": r.get("creator_job"), "state": r.get("state"), "strategy": r.get("strategy"),
        "is_detached": r.get("lifetime") == "detached", "bundles": r.get("bundles"),
        "bundle_nodes": r.get("bundle_nodes"), "stats": r.get("stats"),
    } for r in table]
    return _finish("placement_groups", rows, filters, limit, detail)


# -- tasks (the GCS task table) -------------------------------------------------------------
def _flush_events(core) -> None:
    from ..core import task_events

    try:
        task_events.flush_now(core)
    except Exception:  # noqa: BLE001 - a query still answers with what the GCS has
        pass


def list_tasks(filters=None, limit: int = DEFAULT_LIMIT, detail: bool = False) -> list:
    """Tasks the GCS knows (the last 100,000), most recently updated first."""
    core = _core()
    filters = _check_filters("tasks", filters)
    _flush_events(core)
    reply = core.call(core.gcs, "list_tasks_request", {"filters": [list(f) for f in filters],
                                                       "limit": DEFAULT_LIMIT if limit is None else int(limit)},
                      timeout=30).content
    return _shape("tasks", reply["tasks"], detail)


def get_task(id) -> list | None:  # noqa: A002 - Ray's argument name
    """The attempts of one task (a list of rows with detail), or None; ``id`` may be an ObjectRef."""
    from ..object_ref import ObjectRef

    if isinstance(id, ObjectRef):
        id = id._id[:24].hex()
    core = _core()
    _flush_events(core)
    attempts = core.call(core.gcs, "get_task_request", {"task_id": str(id)}).content.get("attempts")
    return None if attempts is None else _shape("tasks", attempts, True)


def task_summary(since: int = -1, recent: int = 0, core=None) -> dict:
    """The GCS's task counts changed after version ``since`` (the widgets poll this).

    ``{"version", "groups": {name: {state: n}}, "totals": {state: n}, "num_tasks",
    "recent": [the ``recent`` most recently updated rows]}``: groups not in the reply
    did not change.
    """
    core = core or _core()
    return core.call(core.gcs, "get_task_summary_request", {"since": since, "recent": recent}, timeout=10).content


def summarize_tasks() -> dict:
    """Tasks per function name and state, as ``ray summary tasks``."""
    core = _core()
    _flush_events(core)
    s = task_summary(core=core)
    types = s.get("types") or {}
    summary = {}
    totals = {"NORMAL_TASK": 0, "ACTOR_TASK": 0, "ACTOR_CREATION_TASK": 0}
    for name, counts in s["groups"].items():
        counts = {k: v for k, v in counts.items() if v}
        if not counts:
            continue
        label = name or "(unknown)"
        kind = types.get(name) or "NORMAL_TASK"
        summary[label] = {"func_or_class_name": label, "type": kind, "state_counts": counts}
        totals[kind] = totals.get(kind, 0) + sum(counts.values())
    # as Ray counts them: total_tasks are the normal tasks, total_actor_scheduled the actor creation tasks
    return {"cluster": {"summary": summary, "total_tasks": totals["NORMAL_TASK"],
                        "total_actor_tasks": totals["ACTOR_TASK"],
                        "total_actor_scheduled": totals["ACTOR_CREATION_TASK"], "summary_by": "func_name",
                        "totals_by_state":
                        {k: v for k, v in s["totals"].items() if v}, "num_tasks_kept": s["num_tasks"],
                        "evicted": s["evicted"]}}


def timeline_spans(job_id: str | None = None) -> list:
    """Every task execution the GCS knows: name, start, end, node, worker, pid, state."""
    core = _core()
    _flush_events(core)
    return core.call(core.gcs, "get_timeline_request", {"job_id": job_id}, timeout=30).content["spans"]


def timeline_delta(since: int = -1, limit: int = 20_000, core=None) -> dict:
    """The executions of tasks updated after GCS version ``since`` (at most ``limit`` tasks, newest kept):
    ``{"spans": [...], "version": v, "time": t}``; the live task stream polls this (no flush: it is a poll)."""
    core = core or _core()
    return core.call(core.gcs, "get_timeline_request", {"since": since, "limit": limit}, timeout=10).content


__all__ = [
    "ActorState", "NodeState", "ObjectState", "PlacementGroupState", "StateRow", "TaskState", "WorkerState",
    "columns", "filterable_columns", "get_actor", "get_task", "list_actors", "list_nodes", "list_objects",
    "list_placement_groups", "list_tasks", "list_workers", "store_stats", "summarize_actors", "summarize_objects",
    "summarize_tasks", "task_summary", "timeline_delta", "timeline_spans",
]
