"""The worker factory: a zygote that forks workers in milliseconds.

The raylet forks it first thing, before it opens any socket or thread, so the zygote
holds every kernelray module already imported and no ZeroMQ state.  The raylet asks for
a worker with one JSON line on a pipe; the zygote forks (about 5 ms instead of 300 ms
for a fresh interpreter), and reports every start and exit on another pipe.  Workers
die with the zygote (PR_SET_PDEATHSIG), and the zygote dies with the raylet.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import signal
import traceback

from .. import _process, ids


class WorkerFactory:
    def __init__(self, pid: int, cmd_w: int, ev_r: int):
        self.pid = pid
        self._cmd_w = cmd_w
        self.events_fd = ev_r
        self._buf = b""

    @classmethod
    def start(cls, worker_config: dict) -> "WorkerFactory":
        cmd_r, cmd_w = os.pipe()
        ev_r, ev_w = os.pipe()
        raylet_pid = os.getpid()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(cmd_w)
                os.close(ev_r)
                _zygote_main(cmd_r, ev_w, worker_config, raylet_pid)
            finally:
                os._exit(1)
        os.close(cmd_r)
        os.close(ev_w)
        os.set_blocking(ev_r, False)
        return cls(pid, cmd_w, ev_r)

    def spawn(self, worker_id: str, env: dict | None = None) -> None:
        line = json.dumps({"cmd": "spawn", "worker_id": worker_id, "env": env or {}}) + "\n"
        os.write(self._cmd_w, line.encode())

    def read_events(self) -> list:
        try:
            data = os.read(self.events_fd, 65536)
        except BlockingIOError:
            return []
        if not data:
            return [{"event": "factory_exited"}]
        self._buf += data
        *lines, self._buf = self._buf.split(b"\n")
        return [json.loads(ln) for ln in lines if ln.strip()]

    def stop(self, timeout: float = 2.0) -> None:
        """SIGTERM the factory (it kills and reaps its workers) and reap it."""
        import time

        try:
            os.kill(self.pid, signal.SIGTERM)
        except OSError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return
            if pid:
                return
            time.sleep(0.002)
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (OSError, ChildProcessError):
            pass

    def close(self) -> None:
        for fd in (self._cmd_w, self.events_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def _zygote_main(cmd_r: int, ev_w: int, cfg: dict, raylet_pid: int) -> None:
    _process.set_title("kernelray::worker_factory")
    _process.die_with_parent(signal.SIGKILL)
    if os.getppid() != raylet_pid:  # the raylet died before the line above
        os._exit(0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    children: dict[int, str] = {}

    def on_term(signum, frame):  # kill and reap every worker, so none outlives us as a zombie
        kill_all()
        for pid in list(children):
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    buf = b""
    if os.environ.get("KERNELRAY_PRELOAD_NUMPY", "1") != "0":
        _preload("numpy")

    def report(**event):
        try:
            os.write(ev_w, (json.dumps(event) + "\n").encode())
        except OSError:
            pass

    def kill_all():
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    preloaded = False
    while True:
        if os.getppid() != raylet_pid:
            kill_all()
            os._exit(0)
        ready, _, _ = select.select([cmd_r], [], [], 0.02)
        if not ready and not preloaded:
            # once idle (the prestarted workers are forked): import what only some workers
            # need, so the workers forked later (actors) find it loaded and shared
            preloaded = True
            _preload("kernelray.core.actor_host")
        if ready:
            data = os.read(cmd_r, 65536)
            if not data:  # the raylet is gone
                kill_all()
                os._exit(0)
            buf += data
            *lines, buf = buf.split(b"\n")
            for line in lines:
                if not line.strip():
                    continue
                cmd = json.loads(line)
                pid = _fork_worker(cmd, cfg, cmd_r, ev_w)
                children[pid] = cmd["worker_id"]
                report(event="started", worker_id=cmd["worker_id"], pid=pid)
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            wid = children.pop(pid, None)
            code = os.waitstatus_to_exitcode(status)
            report(event="exited", worker_id=wid, pid=pid, exit_code=code)


def _preload(module: str) -> None:
    """Import ``module`` once in the factory, so every worker forked later shares it instead of
    importing it itself: numpy (as Ray's workers start with it; 100+ ms inside a first task),
    and the actor host with asyncio (40 ms per actor)."""
    try:
        importlib.import_module(module)
    except Exception:  # noqa: BLE001 - a worker imports it itself then
        traceback.print_exc()


def _fork_worker(cmd: dict, cfg: dict, cmd_r: int, ev_w: int) -> int:
    zygote_pid = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    try:
        os.close(cmd_r)
        os.close(ev_w)
        _process.die_with_parent(signal.SIGKILL)
        if os.getppid() != zygote_pid:  # the factory died before the line above: no signal will come
            os._exit(0)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        ids.reset_after_fork()
        import random

        random.seed()
        env = cmd.get("env") or {}
        os.environ.update({k: str(v) for k, v in env.items()})
        from ..worker.main import run_worker

        run_worker(cfg, cmd["worker_id"], zygote_pid=zygote_pid)
    except SystemExit as exc:
        os._exit(exc.code if isinstance(exc.code, int) else 0)
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
    finally:
        os._exit(1)
