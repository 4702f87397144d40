"""``get_runtime_context()``: who and where the caller is."""

from __future__ import annotations

from .core import context


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

    def get_assigned_resources(self) -> dict:
        ctx = context.current_task()
        return dict(getattr(ctx, "resources", None) or {}) if ctx is not None else {}

    def get_accelerator_ids(self) -> dict:
        import os

        gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        return {"GPU": [g for g in gpus.split(",") if g]}

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

    def get(self) -> dict:
        return {"job_id": self.get_job_id(), "node_id": self.get_node_id(), "task_id": self.get_task_id(),
                "actor_id": self.get_actor_id(), "namespace": self.namespace}
