"""The one background thread that feeds every open kernelray widget.

Each tick (every ``INTERVAL_S``, 0.4 s) the poller asks the GCS once for the task
summary *delta* (groups changed since the last version it saw, the totals and the last
few updated rows: small at any table size) and hands a ``Tick`` to each registered view;
other tables (nodes, actors, objects, ...) are fetched at most once per tick, only if a
view asks for them, and views ask for the costly ones only when visible.  The thread
measures its own CPU time (``time.thread_time``) so the cost is visible; it exits when
the last view closes.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("kernelray.widgets")

INTERVAL_S = 0.4
RECENT_ROWS = 15


class TaskCounts:
    """The poller's merged copy of the GCS task summary (kept across ticks, updated by deltas)."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.version = -1
        self.counts: dict = {}
        self.totals: dict = {}
        self.recent: list = []
        self.num_tasks = 0
        self.evicted = 0
        self.core_id = None

    def apply(self, s: dict) -> bool:
        changed = s["version"] != self.version
        for name, c in s.get("groups", {}).items():
            self.counts[name] = c
        self.totals = s.get("totals", self.totals)
        if "recent" in s:
            self.recent = s["recent"]
        self.version = s["version"]
        self.num_tasks = s.get("num_tasks", 0)
        self.evicted = s.get("evicted", 0)
        return changed


class Tick:
    """What one poll fetched; every fetch happens at most once per tick, on demand."""

    def __init__(self, poller, core):
        self.poller = poller
        self.core = core
        self.now = time.time()
        self._cache: dict = {}

    @property
    def connected(self) -> bool:
        return self.core is not None

    def _get(self, key, fn):
        if key not in self._cache:
            try:
                self._cache[key] = fn() if self.core is not None else None
            except Exception as exc:  # noqa: BLE001 - a view shows the error, the poller goes on
                log.debug("poll of %s failed: %s", key, exc)
                self._cache[key] = None
        return self._cache[key]

    def tasks(self) -> TaskCounts | None:
        def fetch():
            tc = self.poller.task_counts
            if tc.core_id != id(self.core):
                tc.reset()
                tc.core_id = id(self.core)
            from ..util.state import task_summary

            tc.apply(task_summary(since=tc.version, recent=RECENT_ROWS, core=self.core))
            return tc

        return self._get("tasks", fetch)

    def nodes(self):
        return self._get("nodes", lambda: self.core.call(self.core.gcs, "get_all_nodes_request", {}, timeout=5)
                         .content["nodes"])

    def actors(self):
        def fetch():
            from ..util.state import list_actors

            return list_actors(detail=True)

        return self._get("actors", fetch)

    def placement_groups(self):
        def fetch():
            from ..util.state import list_placement_groups

            return list_placement_groups(detail=True)

        return self._get("placement_groups", fetch)

    def objects(self):
        def fetch():
            from ..util.state import list_objects, store_stats

            return list_objects(detail=True), store_stats()

        return self._get("objects", fetch)


class Poller:
    def __init__(self, interval: float = INTERVAL_S):
        self.interval = interval
        self.views: list = []
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.wake = threading.Event()
        self.task_counts = TaskCounts()
        self.cpu_s = 0.0
        self.ticks = 0
        self.started = None
        self.last_tick = None
        self.errors = 0

    # -- registration -------------------------------------------------------------------
    def register(self, view) -> None:
        with self.lock:
            if view not in self.views:
                self.views.append(view)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="kernelray-widgets-poller", daemon=True)
                self.started = time.monotonic()
                self.cpu_s = 0.0
                self.ticks = 0
                self.thread.start()

    def unregister(self, view) -> None:
        with self.lock:
            if view in self.views:
                self.views.remove(view)
        self.wake.set()

    def poke(self) -> None:
        """Poll now (a view was just shown or asked for fresh data)."""
        self.wake.set()

    # -- the loop --------------------------------------------------------------------------
    def tick(self) -> None:
        """One poll of every view (the poller thread; also callable from a test or a cell)."""
        from ..core import context

        with self.lock:
            views = list(self.views)
        data = Tick(self, context.core)
        for v in views:
            try:
                v.poll(data)
            except Exception:  # noqa: BLE001 - one broken view must not stop the others
                self.errors += 1
                log.debug("widget poll failed", exc_info=True)
        self.ticks += 1
        self.last_tick = time.time()

    def _run(self) -> None:
        me = threading.current_thread()
        while True:
            with self.lock:
                if not self.views:
                    if self.thread is me:
                        self.thread = None
                    return
            t0 = time.thread_time()
            self.tick()
            self.cpu_s += time.thread_time() - t0
            self.wake.wait(self.interval)
            self.wake.clear()

    def stats(self) -> dict:
        wall = time.monotonic() - self.started if self.started else 0.0
        return {"cpu_s": self.cpu_s, "wall_s": wall, "ticks": self.ticks, "views": len(self.views),
                "cpu_fraction": self.cpu_s / wall if wall else 0.0, "errors": self.errors,
                "running": self.thread is not None and self.thread.is_alive()}


poller = Poller()

__all__ = ["poller", "Poller", "Tick", "TaskCounts", "INTERVAL_S"]
