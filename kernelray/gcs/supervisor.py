"""Bring the GCS back when it dies: whoever started it watches it and starts it again.

A thread of the process that spawned the GCS (the driver of a local cluster, or the
head's gcs keeper, see keeper.py) polls its
pid every 50 ms; when it exits unasked, a new GCS starts on the same address with the
same key within a second, reloads the durable tables (see tables.py) and tells raylets
and drivers to subscribe again.  The connection file gets the new pid.
"""

from __future__ import annotations

import logging
import threading
import time

from ..exceptions import RaySystemError

log = logging.getLogger("kernelray.gcs.supervisor")
POLL_S = 0.05


class GcsSupervisor:
    def __init__(self, procs, spawned, port: int, on_restart=None, storage: str = ""):
        self.procs = procs
        self.spawned = spawned
        self.port = port
        self.storage = storage
        self.on_restart = on_restart  # called with the new GCS pid
        self.restarts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="kernelray-gcs-supervisor", daemon=True)

    def start(self) -> "GcsSupervisor":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(2.0)

    def _watch(self) -> None:
        while not self._stop.wait(POLL_S):
            if self.spawned.proc.poll() is None:
                continue
            if self._stop.is_set():
                return
            log.warning("the GCS exited (code %s): starting it again", self.spawned.proc.returncode)
            try:
                self._restart()
            except RaySystemError as exc:
                log.error("could not restart the GCS: %s", exc)
                time.sleep(0.5)

    def _restart(self) -> None:
        old = self.spawned
        if old in self.procs.spawned:
            self.procs.spawned.remove(old)
        new = self.procs.spawn_gcs(self.port, self.storage)
        self.procs.wait_ready([new])
        self.spawned = new
        self.restarts += 1
        if self.on_restart is not None:
            self.on_restart(new.info["pid"])
