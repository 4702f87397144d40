"""The process's one CoreWorker, and what the running task is."""

from __future__ import annotations

import threading

core = None  # the CoreWorker of this process, once connected
task_local = threading.local()  # .spec: the task the current thread runs (workers)


def require_core():
    if core is None:
        from ..exceptions import RaySystemError

        raise RaySystemError("kernelray is not initialized: call kernelray.init() first")
    return core


def current_task():
    return getattr(task_local, "spec", None)
