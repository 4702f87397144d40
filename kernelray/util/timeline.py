"""``kernelray.timeline()``: task executions as Chrome trace events (chrome://tracing, Perfetto).

One complete event (``"ph": "X"``) per execution of a task, with ``ts`` and ``dur`` in
microseconds; ``pid`` is the node (a small integer, named by a ``process_name`` metadata
event: "Node 1a2b3c4d"), ``tid`` the worker's OS pid (named "worker <pid>").  ``args``
carry the task id, attempt, state, error type, job and worker ids.
"""

from __future__ import annotations

import json

# catapult colour names, as Ray's timeline uses them
_COLORS = {"FINISHED": "rail_response", "FAILED": "terrible", "RUNNING": "rail_animation"}


def chrome_trace(spans: list) -> list:
    events = []
    node_pids: dict = {}
    threads: set = set()
    for s in sorted(spans, key=lambda s: s["start"]):
        node = s.get("node_id") or "unknown"
        pid = node_pids.get(node)
        if pid is None:
            pid = node_pids[node] = len(node_pids) + 1
            events.append({"name": "process_name", "ph": "M", "pid": pid, "tid": 0,
                           "args": {"name": f"Node {node[:8]}"}})
        tid = int(s.get("pid") or 0)
        if (pid, tid) not in threads:
            threads.add((pid, tid))
            events.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid,
                           "args": {"name": f"worker {tid} ({(s.get('worker_id') or '')[:8]})"}})
        state = "RUNNING" if s.get("running") else s.get("state")
        events.append({
            "cat": "task",
            "name": s["name"],
            "ph": "X",
            "ts": int(s["start"] * 1e6),
            "dur": max(0, int((s["end"] - s["start"]) * 1e6)),
            "pid": pid,
            "tid": tid,
            "cname": _COLORS.get(state, "generic_work"),
            "args": {"task_id": s["task_id"], "attempt": s["attempt"], "state": state,
                     "error_type": s.get("error_type"), "job_id": s.get("job_id"), "actor_id": s.get("actor_id"),
                     "node_id": s.get("node_id"), "worker_id": s.get("worker_id")},
        })
    return events


def timeline(filename: str | None = None) -> list:
    """The trace events of every task execution the GCS keeps; written as JSON to ``filename`` if given."""
    from .state import timeline_spans

    events = chrome_trace(timeline_spans())
    if filename is not None:
        with open(filename, "w") as f:
            json.dump(events, f)
    return events


__all__ = ["chrome_trace", "timeline"]
