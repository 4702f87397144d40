"""Entry of a worker process (forked by the raylet's worker factory)."""

from __future__ import annotations

import logging
import os
import sys

from .. import _process
from ..core.core_worker import WORKER, CoreWorker
from ..core.executor import Executor, TaskStream


def run_worker(cfg: dict, worker_id_hex: str, zygote_pid: int) -> None:
    log_path = os.path.join(cfg["session_dir"], "logs", f"worker-{worker_id_hex[:12]}.log")
    _process.redirect_std_streams(log_path)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    _process.set_title("kernelray::IDLE")
    core = CoreWorker(
        mode=WORKER,
        key=bytes.fromhex(cfg["key"]),
        gcs_address=cfg["gcs_address"],
        raylet_address=cfg["raylet_address"],
        node_id=bytes.fromhex(cfg["node_id"]),
        ip=cfg["ip"],
    )
    core.worker_id = bytes.fromhex(worker_id_hex)
    from ..object_store import arena as arena_mod
    from ..object_store.client import StoreClient

    if arena_mod.inherited is not None:
        core.store_client = StoreClient(core, arena_mod.inherited)
    executor = Executor(core)
    core.executor = executor
    real_out, real_err = sys.stdout, sys.stderr
    sys.stdout = TaskStream(executor, "stdout", real_out)
    sys.stderr = TaskStream(executor, "stderr", real_err)
    watch = _process.ParentWatch(zygote_pid)
    core.loop.call_every(0.5, watch.check)
    core.start()
    subscription = {"channels": ["owner_died", "job_finished", "node_removed"], "address": core.address}
    core.loop.call_soon(core.send, core.gcs, "subscribe_request", subscription)
    from ..raylet.gcs_reconnect import install_core
    from ..runtime_env import worker_setup

    install_core(core, subscription)
    core.applied_env = worker_setup.apply(core, worker_setup.from_environ(), cfg["session_dir"])
    task_address = executor.bind_task_socket()
    core.call(
        core.raylet,
        "register_worker_request",
        {"worker_id": worker_id_hex, "address": core.address, "task_address": task_address, "pid": os.getpid()},
        timeout=60,
    )
    executor.run_forever()
