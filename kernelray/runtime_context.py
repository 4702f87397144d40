"""``get_runtime_context()``: who and where the caller is, with Ray's accessors.

The ``get_*_id()`` methods return hex strings; the (deprecated in Ray, still accepted)
``job_id``/``task_id``/``node_id``/``actor_id`` properties return ID objects, as Ray's do.
"""

from __future__ import annotations

import os

from . import ids
from .core import context, task_env


ACCELERATOR_KINDS = ("GPU", "TPU", "NPU", "HPU", "neuron_cores", "RBLN", "TTNPU", "MBLT", "FURIOSA")  # Ray 2.60's


class RuntimeContext:
    def __init__(self, core):
        self._core = core

    def get_job_id(self) -> str:
        ctx = context.current_task()
        return ctx.job_id if ctx is not None and ctx.job_id else self._core.job_id.hex()

    def get_task_id(self) -> str | None:
        ctx = context.current_task()
        return ctx.task_id.hex() if ctx is not None else None

    def get_task_name(self) -> str | None:
        ctx = context.current_task()
        return ctx.name if ctx is not None else None

    def get_node_id(self) -> str:
        return self._core.node_id.hex()

    def get_worker_id(self) -> str:
        return self._core.worker_id.hex()

    def get_actor_id(self) -> str | None:
        ctx = context.current_task()
        aid = getattr(ctx, "actor_id", None) if ctx is not None else None
        return aid.hex() if isinstance(aid, bytes) else aid

    @property
    def namespace(self) -> str:
        return self._core.namespace or self._core.job_config.get("namespace", "")

    @property
    def gcs_address(self) -> str:
        return self._core.gcs_address

    @property
    def worker_mode(self) -> str:
        return "DRIVER" if self._core.mode == "driver" else "WORKER"

    def get_runtime_env_string(self) -> str:
        import json

        return json.dumps(self._core.parent_runtime_env() or {})

    @property
    def runtime_env(self) -> dict:
        return dict(self._core.parent_runtime_env() or {})

    def _actor_host(self):
        host = getattr(getattr(self._core, "executor", None), "actor_host", None)
        return host if host is not None and host.actor_id is not None else None

    @property
    def was_current_actor_reconstructed(self) -> bool:
        """Inside an actor: is this incarnation a restart (max_restarts)?"""
        host = self._actor_host()
        return bool(host is not None and host.num_restarts)

    @property
    def current_actor(self):
        """Inside an actor: a handle to the actor itself."""
        from .exceptions import RaySystemError

        host = self._actor_host()
        if host is None:
            raise RaySystemError("current_actor is only available inside an actor")
        return host.handle()

    # -- Ray's ID-object properties and get() ----------------------------------------------
    @property
    def job_id(self):
        return ids.JobID.from_hex(self.get_job_id())

    @property
    def node_id(self):
        return ids.NodeID.from_hex(self.get_node_id())

    @property
    def task_id(self):
        hex_id = self.get_task_id()
        return ids.TaskID.from_hex(hex_id) if hex_id else None

    @property
    def actor_id(self):
        hex_id = self.get_actor_id()
        return ids.ActorID.from_hex(hex_id) if hex_id else None

    def get(self) -> dict:
        """Ray's keys: job_id, node_id, namespace; task_id and actor_id inside a worker."""
        out = {"job_id": self.job_id, "node_id": self.node_id, "namespace": self.namespace}
        if self._core.mode != "driver":
            if self.task_id is not None:
                out["task_id"] = self.task_id
            if self.actor_id is not None:
                out["actor_id"] = self.actor_id
        return out

    # -- what the task holds ------------------------------------------------------------------
    def get_assigned_resources(self) -> dict:
        """The resources this task or actor holds, under the names asked for (a placement
        group's ``CPU_group_0_<pg>`` shows as ``CPU``), as Ray's.  Workers only."""
        if self._core.mode == "driver":
            raise AssertionError("This method is only available when the process is a worker. "
                                 "Current mode: SCRIPT_MODE")
        return dict(task_env.assigned)

    def get_accelerator_ids(self) -> dict:
        """Ray's keys, one per accelerator kind; kernelray assigns GPUs only."""
        gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "") if self._core.mode != "driver" else ""
        out = {kind: [] for kind in ACCELERATOR_KINDS}
        out["GPU"] = [g for g in gpus.split(",") if g]
        return out

    def get_resource_ids(self) -> dict:
        return self.get_accelerator_ids()

    def get_placement_group_id(self) -> str | None:
        if self._core.mode == "driver":
            return None
        return task_env.placement_group_id_of(task_env.raw)

    @property
    def current_placement_group_id(self):
        hex_id = self.get_placement_group_id()
        return ids.PlacementGroupID(hex_id) if hex_id else None

    def should_capture_child_tasks_in_placement_group(self) -> bool:
        return False

    def get_task_function_name(self) -> str | None:
        return self.get_task_name()

    def get_actor_name(self) -> str | None:
        host = self._actor_host()
        return (host.options.get("name") or None) if host is not None else None

    def is_canceled(self) -> bool:
        ctx = context.current_task()
        return bool(ctx is not None and getattr(ctx, "cancel_requested", False))

    def get_node_labels(self) -> dict:
        return {"ray.io/node-id": self.get_node_id()}

    def get_temp_dir(self) -> str:
        from .node import ROOT

        return ROOT

    def get_session_name(self) -> str:
        return "kernelray"


def get_runtime_context() -> RuntimeContext:
    """As ``ray.runtime_context.get_runtime_context``."""
    from .api import get_runtime_context as get

    return get()


def get_gpu_ids() -> list:
    """The GPU IDs this task or actor may use (its ``CUDA_VISIBLE_DEVICES``), as ints where they
    are numbers, as Ray's ``get_gpu_ids``; [] in a driver."""
    core = context.require_core()
    if core.mode == "driver":
        return []
    visible = [g for g in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if g]
    return [int(g) if g.isdigit() else g for g in visible]
