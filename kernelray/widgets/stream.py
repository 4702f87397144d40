"""``kernelray.widgets.task_stream()``: the live task stream (a canvas drawn by js/stream.js).

Each refresh asks the GCS only for the tasks updated since the last version it saw
(``util.state.timeline_delta``) and merges them into a bounded ``TaskStreamModel``.
``export_chrome_trace(filename)`` writes the kept bars as the same Chrome trace as
``kernelray timeline``; the widget's "Chrome trace" button downloads it in the browser.
"""

from __future__ import annotations

import json
import sys
import time

import traitlets

from ..util.timeline import chrome_trace
from . import svg
from ._anyview import JS, PictureView
from .stream_model import MAX_BARS, TaskStreamModel

DELTA_LIMIT = 2_000  # tasks per poll at most (the newest): a burst beyond that is skipped, so a poll stays cheap
ACTOR_NAMES_EVERY_S = 3.0


class TaskStream(PictureView):
    _esm = JS / "stream.js"
    height = traitlets.Int(420).tag(sync=True)

    def __init__(self, max_bars: int = MAX_BARS, refresh_s: float = 1.0, live: bool = True, **kwargs):
        self.model = TaskStreamModel(max_bars=max_bars)
        self._actors_at = 0.0
        super().__init__(refresh_s=refresh_s, live=live, **kwargs)
        self.add_class("kr-task-stream")
        self.on_msg(self._on_front_msg)

    def update(self, tick) -> bool:
        from ..util.state import timeline_delta

        self.model.cell_of = _cell_lookup()
        reply = timeline_delta(since=self.model.version, limit=DELTA_LIMIT, core=tick.core)
        changed = self.model.apply(reply["spans"], reply["version"], reply.get("time", time.time()))
        if any(ln.kind == "actor" for ln in self.model.lanes.values()):
            self._name_actors(tick)
        return changed

    def _name_actors(self, tick) -> None:
        now = time.monotonic()
        if now - self._actors_at < ACTOR_NAMES_EVERY_S:
            return
        self._actors_at = now
        actors = tick.actors() or []
        self.model.set_actor_names({a["actor_id"]: a.get("class_name") or "actor" for a in actors})

    def payload(self) -> dict:
        return self.model.payload()

    def static_html(self) -> str:
        return svg.stream_svg(self.model.payload())

    def text_summary(self) -> str:
        s = self.model.stats()
        return f"kernelray task stream: {s['bars']} bars in {s['lanes']} lanes, {s['functions']} functions"

    # -- Chrome trace ---------------------------------------------------------------------------------
    def chrome_trace(self) -> list:
        """The kept bars as Chrome trace events (the format of ``kernelray timeline``)."""
        return chrome_trace(self.model.spans())

    def export_chrome_trace(self, filename: str) -> str:
        with open(filename, "w") as f:
            json.dump(self.chrome_trace(), f)
        return filename

    def _on_front_msg(self, _widget, content, _buffers) -> None:
        if isinstance(content, dict) and content.get("type") == "export_chrome_trace":
            name = time.strftime("kernelray-timeline-%Y%m%d-%H%M%S.json")
            self.send({"type": "chrome_trace", "filename": name, "trace": json.dumps(self.chrome_trace())})


def _cell_lookup():
    """The extension's task -> cell map, when ``%load_ext kernelray`` attached it (no import otherwise)."""
    mod = sys.modules.get("kernelray.extension.bridge")
    bridge = getattr(mod, "bridge", None)
    return bridge.task_cells.lookup if bridge is not None and bridge.attached else None


__all__ = ["TaskStream"]
