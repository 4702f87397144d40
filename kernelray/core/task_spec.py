"""A task as the owner keeps it and as it travels to a worker.

On the wire a task is a JSON dict plus frames: the function (only the first time a
given worker sees it), the pickled arguments, and one value per resolved dependency.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STREAMING = -1  # num_returns="streaming"

# task states, named as Ray names them
PENDING_ARGS_AVAIL = "PENDING_ARGS_AVAIL"
PENDING_NODE_ASSIGNMENT = "PENDING_NODE_ASSIGNMENT"
SUBMITTED_TO_WORKER = "SUBMITTED_TO_WORKER"
RUNNING = "RUNNING"
FINISHED = "FINISHED"
FAILED = "FAILED"


@dataclass(slots=True, eq=False)
class TaskSpec:
    task_id: bytes
    name: str
    fn_id: str
    fn_blob: bytes
    args_blob: bytes
    deps: list  # ObjectRefs passed at top level, replaced by their values on the worker
    num_returns: int
    resources: dict
    max_retries: int
    retry_exceptions: object  # bool, or pickled list of exception classes (bytes)
    job_id: bytes
    owner: str
    parent_task_id: bytes | None = None
    route: dict | None = None  # who to send output to: driver address and the submitter's cell
    runtime_env: dict | None = None
    scheduling_key: tuple = ()
    attempt: int = 0
    state: str = PENDING_ARGS_AVAIL
    cancelled: bool = False
    force_cancel: bool = False
    lease: object = None
    dep_values: list = field(default_factory=list)
    actor_id: bytes | None = None
    extra: dict | None = None  # actor tasks: method name, sequence number, ...
    nested_refs: tuple = ()
    strategy: dict | None = None  # scheduling strategy (None: DEFAULT)  # refs inside the arguments: held until the task is done

    def return_ids(self) -> list:
        n = max(self.num_returns, 0)
        tid = self.task_id
        return [tid + (i + 1).to_bytes(4, "little") for i in range(n)]

    def to_wire(self, include_fn: bool) -> tuple:
        """(dict, frames) for push_task_request."""
        frames = []
        if include_fn:
            frames.append(self.fn_blob)
        frames.append(self.args_blob)
        dep_kinds = []
        for obj in self.dep_values:
            dep_kinds.append([obj.kind, 1 + len(obj.buffers)])
            frames.append(obj.data)
            frames.extend(obj.buffers)
        retry = self.retry_exceptions
        if isinstance(retry, bytes):
            frames.append(retry)
            retry = "frame"
        d = {
            "task_id": self.task_id.hex(),
            "name": self.name,
            "fn_id": self.fn_id,
            "has_fn": include_fn,
            "deps": dep_kinds,
            "num_returns": self.num_returns,
            "retry_exceptions": retry,
            "max_retries": self.max_retries,
            "attempt": self.attempt,
            "job_id": self.job_id.hex(),
            "route": self.route,
            "owner": self.owner,
            "nframes": len(frames),
        }
        if self.actor_id is not None:
            d["actor_id"] = self.actor_id.hex()
        else:  # get_runtime_context().get_assigned_resources() in the task
            d["resources"] = self.resources
        if self.extra:
            d["extra"] = self.extra
        return d, frames
