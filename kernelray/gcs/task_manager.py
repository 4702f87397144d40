"""The GCS's task table: built from the task events every process reports.

Processes send ``task_events_reported`` (header: node, worker, pid, address; one frame: the
pickled event tuples of ``core/task_events.py``).  The table keeps the last
``MAX_TASKS`` tasks in least-recently-updated order (an update moves a task to the end,
so the oldest finished ones go first) with, per task: name, job, actor, parent, owner,
current state and attempt, the node/worker/pid that ran it, the time of each state,
the error type and every execution (start, end, where) for the timeline.

Events from an owner and from the worker that ran the task arrive in separate batches,
in any order: the state shown is the one with the highest (attempt, rank), so a late
RUNNING never overrides FINISHED, and a retry (attempt + 1) starts over.

Besides the table it keeps counts per (task name, state), each group stamped with the
version (one per batch) that last changed it.  ``get_task_summary_request`` with
``since`` answers only the groups changed after that version, the totals and the last N
changed rows: what a live view polls, cheap at any table size.

A task's type is Ray's: ``NORMAL_TASK``, ``ACTOR_TASK`` (a method call: the event names
an actor) or ``ACTOR_CREATION_TASK`` (the owner's PENDING_ARGS_AVAIL says so, and the
GCS, which schedules creation tasks, records their later states with ``record_creation``).
"""

from __future__ import annotations

import itertools
import logging
import pickle
import time
from collections import OrderedDict

from ..core.task_spec import (
    FAILED,
    FINISHED,
    PENDING_ARGS_AVAIL,
    PENDING_NODE_ASSIGNMENT,
    RUNNING,
    SUBMITTED_TO_WORKER,
)

log = logging.getLogger("kernelray.gcs.tasks")

MAX_TASKS = 100_000
RUN_END = "RUN_END"
RANK = {PENDING_ARGS_AVAIL: 0, PENDING_NODE_ASSIGNMENT: 1, SUBMITTED_TO_WORKER: 2, RUNNING: 3, FINISHED: 5, FAILED: 5}
TERMINAL = (FINISHED, FAILED)
STATES = (PENDING_ARGS_AVAIL, PENDING_NODE_ASSIGNMENT, SUBMITTED_TO_WORKER, RUNNING, FINISHED, FAILED)


class TaskRecord:
    __slots__ = ("task_id", "name", "job_id", "actor_id", "parent_task_id", "owner", "state", "attempt", "rank",
                 "node_id", "worker_id", "worker_pid", "error_type", "times", "execs", "creation_time",
                 "start_time", "end_time", "type", "version")

    def __init__(self, task_id: bytes):
        self.task_id = task_id
        self.name = ""
        self.job_id = None
        self.actor_id = None
        self.parent_task_id = None
        self.owner = None
        self.state = None
        self.attempt = -1
        self.rank = -1
        self.node_id = None
        self.worker_id = None
        self.worker_pid = None
        self.error_type = None
        self.times = {}  # state -> time.time() of the current attempt
        self.execs = []  # [start, end | None, node_id, worker_id, pid, attempt]
        self.creation_time = None
        self.start_time = None
        self.end_time = None
        self.type = None  # ACTOR_CREATION_TASK when told; else derived from actor_id (task_type)
        self.version = 0  # the batch that last updated it (get_timeline_request's since)


NORMAL_TASK, ACTOR_TASK, ACTOR_CREATION_TASK = "NORMAL_TASK", "ACTOR_TASK", "ACTOR_CREATION_TASK"


def task_type(rec: TaskRecord) -> str:
    return rec.type or (ACTOR_TASK if rec.actor_id else NORMAL_TASK)


def _hex(b):
    return b.hex() if isinstance(b, (bytes, bytearray)) else b


# exception class names as Ray's ErrorType names them (others stay as they are)
ERROR_TYPES = {"RayTaskError": "TASK_EXECUTION_EXCEPTION", "TaskCancelledError": "TASK_CANCELLED",
               "WorkerCrashedError": "WORKER_DIED", "ActorDiedError": "ACTOR_DIED", "OwnerDiedError": "OWNER_DIED",
               "ObjectLostError": "OBJECT_LOST", "TaskUnschedulableError": "TASK_UNSCHEDULABLE_ERROR",
               "RaySystemError": "RAY_SYSTEM_ERROR"}


def _ms(t):
    return int(t * 1000) if t is not None else None


def row(rec: TaskRecord, attempt: int | None = None) -> dict:
    """One line of ``list_tasks`` (Ray's TaskState fields)."""
    state = rec.state or PENDING_ARGS_AVAIL
    times = rec.times
    start, end = rec.start_time, rec.end_time
    error_type = rec.error_type
    if attempt is not None and attempt != rec.attempt:  # an earlier attempt: it was retried
        runs = [e for e in rec.execs if e[5] == attempt]
        state, error_type = FAILED, "WORKER_DIED_OR_RETRIED"
        start = runs[0][0] if runs else None
        end = runs[-1][1] if runs else None
        times = {}
    return {
        "task_id": rec.task_id.hex(),
        "attempt_number": rec.attempt if attempt is None else attempt,
        "name": rec.name or "(unknown)",
        "state": state,
        "job_id": _hex(rec.job_id),
        "actor_id": _hex(rec.actor_id),
        "type": task_type(rec),
        "func_or_class_name": rec.name or "(unknown)",
        "parent_task_id": _hex(rec.parent_task_id),
        "node_id": rec.node_id,
        "worker_id": rec.worker_id,
        "worker_pid": rec.worker_pid,
        "error_type": ERROR_TYPES.get(error_type, error_type),
        "language": "PYTHON",
        "owner_address": rec.owner,
        "creation_time_ms": _ms(rec.creation_time),
        "start_time_ms": _ms(start),
        "end_time_ms": _ms(end),
        "duration_s": (end - start) if (start is not None and end is not None) else None,
        "events": [{"state": s, "created_ms": _ms(t)} for s, t in sorted(times.items(), key=lambda kv: kv[1])],
    }


def _match(r: dict, filters) -> bool:
    for key, op, value in filters:
        have = str(r.get(key))
        if op in ("=", "=="):
            if have != str(value) and have.lower() != str(value).lower():
                return False
        elif op == "!=":
            if have == str(value) or have.lower() == str(value).lower():
                return False
    return True


class TaskManager:
    msg_types = [
        "task_events_reported",
        "list_tasks_request",
        "get_task_request",
        "get_task_summary_request",
        "get_timeline_request",
    ]

    def __init__(self, server, max_tasks: int = MAX_TASKS):
        self.server = server
        self.max_tasks = max_tasks
        self.tasks: OrderedDict = OrderedDict()  # task id (bytes) -> TaskRecord, least recently updated first
        self.counts: dict = {}  # name -> {state: n}
        self.group_version: dict = {}  # name -> version that last changed it
        self.group_type: dict = {}  # name -> the type of the tasks of that name (Ray's TaskType name)
        self.totals: dict = {s: 0 for s in STATES}
        self.version = 0
        self.evicted = 0
        self.events_received = 0
        self.batches = itertools.count(1)

    @property
    def handlers(self) -> dict:
        return {name: getattr(self, "handle_" + name) for name in self.msg_types}

    # -- ingest ---------------------------------------------------------------------------
    def _uncount(self, name: str, state) -> None:
        if state is not None:
            self.counts[name][state] -= 1
            self.totals[state] -= 1
            self.group_version[name] = self.version

    def _count(self, name: str, state) -> None:
        if state is not None:
            g = self.counts.get(name)
            if g is None:
                g = self.counts[name] = {}
            g[state] = g.get(state, 0) + 1
            self.totals[state] += 1
            self.group_version[name] = self.version

    def ingest(self, header: dict, events: list) -> None:
        self.version += 1
        self.events_received += len(events)
        tasks = self.tasks
        node, worker, pid, address = header.get("node_id"), header.get("worker_id"), header.get("pid"), header.get("address")
        for ev in events:
            tid, state, t, attempt = ev[0], ev[1], ev[2], ev[3]
            rec = tasks.get(tid)
            if rec is None:
                rec = tasks[tid] = TaskRecord(tid)
                if len(tasks) > self.max_tasks:
                    self._evict()
            else:
                tasks.move_to_end(tid)
            rec.version = self.version
            old_name, old_state = rec.name, rec.state
            if attempt > rec.attempt:  # first news of this attempt (a retry starts over)
                rec.attempt, rec.rank = attempt, -1
                rec.times = {}
                rec.start_time = rec.end_time = rec.error_type = None
                rec.node_id = rec.worker_id = rec.worker_pid = None  # where the new attempt runs is not known yet
            current = attempt == rec.attempt
            if state == PENDING_ARGS_AVAIL or (state == PENDING_NODE_ASSIGNMENT and len(ev) > 4):
                # (a PENDING_NODE_ASSIGNMENT with the task's description stands for both states at once)
                rec.name, rec.job_id, rec.actor_id, rec.parent_task_id = ev[4], ev[5], ev[6], ev[7]
                if state != PENDING_ARGS_AVAIL and current:
                    rec.times[PENDING_ARGS_AVAIL] = t
                if len(ev) > 8:  # (only creation tasks say their type)
                    rec.type = ev[8]
                rec.owner = address
                if rec.creation_time is None:
                    rec.creation_time = t
            elif state == SUBMITTED_TO_WORKER:
                if current and (rec.worker_id is None or rec.rank < RANK[RUNNING]):
                    rec.node_id, rec.worker_id = ev[4] or None, ev[5] or None
            elif state == RUNNING:
                end = ev[4] if len(ev) > 4 else None  # (RUNNING and RUN_END in one event: see task_events.py)
                rec.execs.append([t, end, node, worker, pid, attempt])
                if current:
                    rec.node_id, rec.worker_id, rec.worker_pid = node, worker, pid
                    rec.start_time = t
                    if end is not None:
                        rec.end_time = end
            elif state == RUN_END:
                for e in reversed(rec.execs):
                    if e[5] == attempt and e[1] is None:
                        e[1] = t
                        break
                if current:
                    rec.end_time = t
                continue
            elif state in TERMINAL and current:
                if len(ev) > 4 and ev[4]:
                    rec.error_type = ev[4]
                if rec.end_time is None:
                    rec.end_time = t
            if current:
                rec.times[state] = t
                rank = RANK.get(state, 0)
                if rank >= rec.rank:
                    rec.rank = rank
                    rec.state = state
            if rec.state != old_state or rec.name != old_name:
                self._uncount(old_name, old_state)
                self._count(rec.name, rec.state)
                if rec.name != old_name:
                    self.group_type[rec.name] = task_type(rec)

    def record_creation(self, task_id: bytes, state: str, attempt: int, *rest) -> None:
        """The GCS's own event about an actor creation task it schedules (attempt: the restart count)."""
        self.ingest({}, [(task_id, state, time.time(), attempt, *rest)])
        rec = self.tasks.get(task_id)
        if rec is not None and rec.type is None:
            rec.type = ACTOR_CREATION_TASK
            if rec.name:
                self.group_type[rec.name] = ACTOR_CREATION_TASK

    def _evict(self) -> None:
        _, rec = self.tasks.popitem(last=False)
        self.evicted += 1
        if rec.state not in TERMINAL:  # a finished task stays in the counts; a live one leaves them
            self._uncount(rec.name, rec.state)

    # -- queries ----------------------------------------------------------------------------
    def _reply(self, sock, idents, msg, content: dict, buffers=()) -> None:
        self.server.reply(sock, idents, msg, msg.msg_type.replace("_request", "_reply"), content, buffers)

    def handle_task_events_reported(self, msg, sock, idents) -> None:
        if not msg.buffers:
            return
        try:
            events = pickle.loads(msg.buffers[0])
        except Exception:  # noqa: BLE001 - a bad batch is dropped, never the GCS
            log.warning("dropping an unreadable task event batch", exc_info=True)
            return
        self.ingest(msg.content, events)

    def handle_list_tasks_request(self, msg, sock, idents) -> None:
        c = msg.content
        filters = c.get("filters") or []
        limit = int(c.get("limit") or 10000)
        out = []
        matched = 0
        fast = {k: v for k, op, v in filters if op in ("=", "==") and k in ("task_id", "job_id", "name", "state",
                                                                              "func_or_class_name")}
        for rec in reversed(self.tasks.values()):  # most recently updated first
            if fast:
                if "state" in fast and str(rec.state).upper() != str(fast["state"]).upper():
                    continue
                nm = fast.get("name", fast.get("func_or_class_name"))
                if nm is not None and rec.name != nm:
                    continue
                if "job_id" in fast and _hex(rec.job_id) != fast["job_id"]:
                    continue
                if "task_id" in fast and rec.task_id.hex() != fast["task_id"]:
                    continue
            r = row(rec)
            if filters and not _match(r, filters):
                continue
            matched += 1
            if len(out) < limit:
                out.append(r)
        self._reply(sock, idents, msg, {"tasks": out, "total": matched, "num_tasks": len(self.tasks),
                                        "evicted": self.evicted})

    def handle_get_task_request(self, msg, sock, idents) -> None:
        tid = msg.content.get("task_id", "")
        try:
            rec = self.tasks.get(bytes.fromhex(tid))
        except ValueError:
            rec = None
        if rec is None:
            self._reply(sock, idents, msg, {"attempts": None})
            return
        attempts = [row(rec, a) for a in range(max(rec.attempt, 0))] + [row(rec)]
        self._reply(sock, idents, msg, {"attempts": attempts})

    def handle_get_task_summary_request(self, msg, sock, idents) -> None:
        c = msg.content
        since = int(c.get("since", -1))
        recent_n = int(c.get("recent", 0))
        groups = {name: dict(self.counts[name]) for name, v in self.group_version.items() if v > since}
        content = {"version": self.version, "groups": groups, "totals": dict(self.totals),
                   "types": {name: self.group_type.get(name, NORMAL_TASK) for name in groups},
                   "num_tasks": len(self.tasks), "evicted": self.evicted, "events_received": self.events_received,
                   "time": time.time()}
        if recent_n and self.version > since:
            rows = []
            for rec in reversed(self.tasks.values()):
                if len(rows) >= recent_n:
                    break
                rows.append(row(rec))
            for r in rows:
                r.pop("events", None)
            content["recent"] = rows
        self._reply(sock, idents, msg, content)

    def handle_get_timeline_request(self, msg, sock, idents) -> None:
        """Every execution, or with ``since`` only those of tasks updated after that version (newest first,
        at most ``limit`` tasks): what the live task stream polls."""
        c = msg.content
        job = c.get("job_id")
        since = int(c.get("since", -1))
        limit = c.get("limit")
        records = self.tasks.values()
        if since >= 0 or limit is not None:
            records = self._updated_since(since, int(limit) if limit is not None else len(self.tasks))
        now = time.time()
        spans = []
        for rec in records:
            if job and _hex(rec.job_id) != job:
                continue
            spans.extend(_spans(rec, now))
        self._reply(sock, idents, msg, {"spans": spans, "version": self.version, "time": now})

    def _updated_since(self, since: int, limit: int) -> list:
        out = []
        for rec in reversed(self.tasks.values()):  # most recently updated first: stop at the first older one
            if rec.version <= since or len(out) >= limit:
                break
            out.append(rec)
        out.reverse()
        return out


def _spans(rec: TaskRecord, now: float) -> list:
    spans = []
    for start, end, node, worker, pid, attempt in rec.execs:
        if end is None and attempt == rec.attempt and rec.state in TERMINAL:
            end = rec.end_time  # the owner knows it ended; the worker's RUN_END is on its way
        spans.append({"task_id": rec.task_id.hex(), "name": rec.name or "(unknown)", "start": start,
                      "end": end if end is not None else now, "running": end is None, "node_id": node,
                      "worker_id": worker, "pid": pid, "attempt": attempt,
                      "state": rec.state if attempt == rec.attempt else FAILED,
                      "error_type": rec.error_type if attempt == rec.attempt else None,
                      "job_id": _hex(rec.job_id), "actor_id": _hex(rec.actor_id)})
    return spans
