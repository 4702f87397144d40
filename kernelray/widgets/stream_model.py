"""The task stream's data, bounded: what the live widget draws and the static SVG shows.

Pure (no sockets, no clock of its own): ``apply(spans, version, now)`` merges the spans the
GCS sent since the last version (``util.state.timeline_delta``).  One lane per worker
process, grouped by node; an actor's calls go to its actor's lane.  At most ``max_bars``
bars are kept (the newest); older ones are folded into per-lane time bins (busy seconds per
``bin_s``), themselves at most ``max_bins``.  ``payload()`` is the compact, columnar JSON the
browser receives: bars as ``[lane, start_ms, dur_ms, fn, status, task_id12, error, attempt]``, and
``cells``: which bars each notebook cell's work drew (``{"5": [bar indexes]}``), for the highlight.
"""

from __future__ import annotations

from collections import OrderedDict

OK, FAILED, RUNNING = 0, 1, 2
MAX_BARS = 10_000
MAX_BINS = 20_000
MAX_LANES = 256
MAX_FUNCTIONS = 512
OTHER = "(other)"
# 20 colours that tell functions apart (Tableau 20 order)
PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f", "#bab0ac",
           "#a0cbe8", "#ffbe7d", "#8cd17d", "#d4a6c8", "#86bcb6", "#f1ce63", "#fabfd2", "#d7b5a6", "#79706e",
           "#499894", "#e15759"]


class Bar:
    __slots__ = ("lane", "start", "end", "fn", "status", "task_id", "error", "attempt", "node_id", "name",
                 "pid", "worker_id", "actor_id", "job_id")

    def as_span(self) -> dict:
        return {"task_id": self.task_id, "name": self.name, "start": self.start, "end": self.end,
                "running": self.status == RUNNING, "node_id": self.node_id, "worker_id": self.worker_id,
                "pid": self.pid, "attempt": self.attempt, "actor_id": self.actor_id, "job_id": self.job_id,
                "state": "FAILED" if self.status == FAILED else ("RUNNING" if self.status == RUNNING else "FINISHED"),
                "error_type": self.error}


class Lane:
    __slots__ = ("index", "node_id", "label", "kind", "key")

    def __init__(self, index: int, key: tuple, node_id: str, label: str, kind: str):
        self.index, self.key, self.node_id, self.label, self.kind = index, key, node_id, label, kind


class TaskStreamModel:
    def __init__(self, max_bars: int = MAX_BARS, bin_s: float = 1.0, max_bins: int = MAX_BINS):
        self.max_bars = max_bars
        self.bin_s = bin_s
        self.max_bins = max_bins
        self.bars: OrderedDict = OrderedDict()  # (task_id, attempt, start) -> Bar, oldest first
        self.lanes: dict = {}  # lane key -> Lane
        self.functions: dict = {}  # name -> index (its colour)
        self.bins: OrderedDict = OrderedDict()  # (lane index, bin number) -> busy seconds, oldest first
        self.actor_names: dict = {}  # actor id -> class name (lane labels)
        self.version = -1
        self.t0 = None
        self.now = None
        self.binned = 0  # bars folded into bins
        self.changes = 0
        self.cell_of = None  # task id hex[:12] -> the notebook cell's execution count that submitted it, if known

    # -- input ------------------------------------------------------------------------------
    def set_actor_names(self, names: dict) -> None:
        for lane in self.lanes.values():
            if lane.kind == "actor" and lane.key[1] in names:
                lane.label = _actor_label(names[lane.key[1]], lane.key[1])
        self.actor_names.update(names)

    def apply(self, spans: list, version: int, now: float) -> bool:
        """Merge the spans of tasks updated after ``self.version``; True if anything changed."""
        self.version = version
        self.now = now
        for s in spans:
            self._merge(s)
        if len(self.bars) > self.max_bars:
            self._fold_oldest(len(self.bars) - self.max_bars)
        if spans:
            self.changes += 1
        return bool(spans)

    def _merge(self, s: dict) -> None:
        if s.get("start") is None:
            return
        if self.t0 is None or s["start"] < self.t0:
            self.t0 = s["start"]  # (payload() counts every time from the earliest start)
        key = (s["task_id"], s.get("attempt", 0), s["start"])
        bar = self.bars.get(key)
        if bar is None:
            bar = self.bars[key] = Bar()
            bar.task_id, bar.attempt, bar.start = key
            bar.lane = self._lane_for(s).index
            bar.fn = self._function(s.get("name") or "(unknown)")
            bar.name = s.get("name") or "(unknown)"
            bar.node_id, bar.pid, bar.worker_id = s.get("node_id"), s.get("pid"), s.get("worker_id")
            bar.actor_id, bar.job_id = s.get("actor_id"), s.get("job_id")
        bar.end = s["end"]
        bar.error = s.get("error_type")
        bar.status = RUNNING if s.get("running") else (FAILED if s.get("state") == "FAILED" else OK)

    def _function(self, name: str) -> int:
        fn = self.functions.get(name)
        if fn is None:
            if len(self.functions) >= MAX_FUNCTIONS:
                name = OTHER
                fn = self.functions.get(name)
            if fn is None:
                fn = self.functions[name] = len(self.functions)
        return fn

    def _lane_for(self, s: dict) -> Lane:
        node = s.get("node_id") or "unknown"
        actor = s.get("actor_id")
        key = ("actor", actor) if actor else ("worker", node, s.get("pid"))
        lane = self.lanes.get(key)
        if lane is None:
            if len(self.lanes) >= MAX_LANES:
                key = ("other", node)
                lane = self.lanes.get(key)
                if lane is not None:
                    return lane
                label, kind = OTHER, "other"
            elif actor:
                label, kind = _actor_label(self.actor_names.get(actor, "actor"), actor), "actor"
            else:
                label, kind = f"worker {s.get('pid')}", "worker"
            lane = self.lanes[key] = Lane(len(self.lanes), key, node, label, kind)
        return lane

    def _fold_oldest(self, n: int) -> None:
        for _ in range(n):
            _, bar = self.bars.popitem(last=False)
            self._add_busy(bar.lane, bar.start, bar.end)
            self.binned += 1
        while len(self.bins) > self.max_bins:
            self.bins.popitem(last=False)

    def _add_busy(self, lane: int, start: float, end: float) -> None:
        b = int(start // self.bin_s)
        while start < end:
            edge = min(end, (b + 1) * self.bin_s)
            key = (lane, b)
            self.bins[key] = self.bins.get(key, 0.0) + (edge - start)
            start, b = edge, b + 1

    # -- output -----------------------------------------------------------------------------
    def ordered_lanes(self) -> list:
        """Lanes grouped by node (nodes in order of first appearance), workers before actors."""
        first = {}
        for lane in self.lanes.values():
            first.setdefault(lane.node_id, lane.index)
        return sorted(self.lanes.values(), key=lambda ln: (first[ln.node_id], ln.kind != "worker", ln.index))

    def payload(self) -> dict:
        t0 = self.t0 or 0.0
        ms = 1000.0
        bars = [[b.lane, round((b.start - t0) * ms, 1), round(max(0.0, b.end - b.start) * ms, 1), b.fn, b.status,
                 b.task_id[:12], b.error, b.attempt] for b in self.bars.values()]
        bins = [[lane, round((n * self.bin_s - t0) * ms), round(self.bin_s * ms), round(busy / self.bin_s, 3)]
                for (lane, n), busy in self.bins.items()]
        lanes = [{"index": ln.index, "node": (ln.node_id or "")[:8], "label": ln.label, "kind": ln.kind}
                 for ln in self.ordered_lanes()]
        names = sorted(self.functions, key=self.functions.get)
        return {"cells": self._cells(), "t0": t0, "now_ms": round(((self.now or t0) - t0) * ms, 1), "lanes": lanes, "functions": names,
                "colors": [PALETTE[i % len(PALETTE)] for i in range(len(names))], "bars": bars, "bins": bins,
                "binned": self.binned, "version": self.version}

    def _cells(self) -> dict:
        """{execution count: [indexes into the payload's bars]}: the bars each notebook cell's work drew."""
        cell_of = self.cell_of
        if cell_of is None:
            return {}
        out: dict = {}
        for i, b in enumerate(self.bars.values()):
            n = cell_of(b.task_id[:12])
            if n is not None:
                out.setdefault(str(n), []).append(i)
        return out

    def spans(self) -> list:
        """The kept bars as timeline spans (``util.timeline.chrome_trace`` turns them into a Chrome trace)."""
        return [b.as_span() for b in self.bars.values()]

    def stats(self) -> dict:
        return {"bars": len(self.bars), "bins": len(self.bins), "lanes": len(self.lanes),
                "functions": len(self.functions), "binned": self.binned, "version": self.version}


def _actor_label(class_name: str, actor_id: str) -> str:
    return f"{class_name} {str(actor_id)[:6]}"


__all__ = ["TaskStreamModel", "Bar", "Lane", "PALETTE", "MAX_BARS"]
