"""``kernelray.dashboard()``: live views of tasks, objects, actors, placement groups, nodes
and the ObjectRefs pinned by the output history, built from stock ipywidgets (no custom JS).

The views are HTML widgets re-rendered by the shared poller (_poller.py) only when their
data changed.  Each widget also answers ``text/html`` (a static snapshot of its last
state) and ``text/plain``, so an executed notebook shows what happened even where the
widget model is not available.
"""

from __future__ import annotations

import time

import ipywidgets as W

from . import render
from .pins import history_pins, release_history_pins
from ._poller import poller

TABS = ["Tasks", "Objects", "Actors", "Placement groups", "Nodes", "Output pins"]
SLOW_EVERY_S = {"nodes": 1.0, "actors": 1.0, "placement_groups": 2.0, "objects": 2.0, "pins": 1.0}


class _SnapshotMixin:
    """``text/html`` and ``text/plain`` next to the widget view in the display data."""

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        bundle["text/html"] = self.snapshot_html()
        bundle["text/plain"] = self.text_summary()
        return bundle


class Dashboard(_SnapshotMixin, W.VBox):
    def __init__(self, max_rows: int = 15, **kwargs):
        self.header = W.HTML(value="<i>kernelray dashboard: connecting…</i>")
        self.header.add_class("kr-header")
        self.views = {name: W.HTML(value="") for name in ("tasks", "objects", "actors", "placement_groups", "nodes", "pins")}
        for name, w in self.views.items():
            w.add_class(f"kr-w-{name}")
        self.release_button = W.Button(description="Release history pins", icon="trash",
                                       tooltip="Clear the Out[N]/_N entries that alone hold ObjectRefs")
        self.release_button.add_class("kr-release")
        self.release_button.on_click(self._on_release)
        pins_box = W.VBox([self.views["pins"], self.release_button])
        self.tab = W.Tab(children=[self.views["tasks"], self.views["objects"], self.views["actors"],
                                   self.views["placement_groups"], self.views["nodes"], pins_box])
        for i, title in enumerate(TABS):
            self.tab.set_title(i, title)
        self.tab.observe(lambda change: poller.poke(), names="selected_index")
        self.pictures = _pictures()
        super().__init__([self.header, *self.pictures, self.tab], **kwargs)
        self.add_class("kr-dashboard")
        self.max_rows = max_rows
        self.html = {name: "" for name in self.views}
        self.last = {name: 0.0 for name in SLOW_EVERY_S}
        self.task_version = None
        self.summary = {"tasks": {}, "nodes": 0, "actors": 0, "objects": None, "pins": 0}
        self.updates = 0
        self.closed = False
        self.refresh()
        poller.register(self)

    # -- polling ---------------------------------------------------------------------------
    def _due(self, name: str, visible: bool, force: bool) -> bool:
        now = time.monotonic()
        if force or (now - self.last[name] >= SLOW_EVERY_S[name] and (visible or not self.html[name])):
            self.last[name] = now
            return True
        return False

    def _set(self, name: str, value: str) -> None:
        if value != self.html[name]:
            self.html[name] = value
            self.views[name].value = value
            self.updates += 1

    def poll(self, data, force: bool = False) -> None:
        if not data.connected:
            self._set_header('<div class="kr-view kr-head kr-disconnected">kernelray is not connected '
                             '<span class="kr-muted">(showing the last state; kernelray.init() to reconnect)</span></div>')
            return
        selected = self.tab.selected_index or 0
        tc = data.tasks()
        if tc is not None and (force or tc.version != self.task_version):
            self.task_version = tc.version
            note = f"{tc.evicted} older tasks left the GCS table (their final states are still counted)" if tc.evicted else ""
            self._set("tasks", render.tasks_html(tc.counts, tc.totals, tc.recent[: self.max_rows], tc.version, note=note))
            self.summary["tasks"] = {k: v for k, v in tc.totals.items() if v}
        if self._due("nodes", selected == 4, force):
            nodes = data.nodes()
            if nodes is not None:
                self._set("nodes", render.nodes_html(nodes))
                self.summary["nodes"] = sum(1 for n in nodes if n.get("state") == "ALIVE")
        if self._due("actors", selected == 2, force):
            actors = data.actors()
            if actors is not None:
                self._set("actors", render.actors_html(actors))
                self.summary["actors"] = len(actors)
        if self._due("placement_groups", selected == 3, force):
            pgs = data.placement_groups()
            if pgs is not None:
                self._set("placement_groups", render.placement_groups_html(pgs))
        if self._due("objects", selected == 1, force):
            objs = data.objects()
            if objs is not None:
                self._set("objects", render.objects_html(objs[0], objs[1]))
                self.summary["objects"] = len(objs[0])
        if self._due("pins", selected == 5, force):
            pins = history_pins()
            self._set("pins", render.pins_html(pins))
            self.summary["pins"] = len(pins)
        for p in self.pictures:
            p.poll(data, force=force)
        self._set_header(self._header_html())

    def _header_html(self) -> str:
        t = self.summary["tasks"]
        stats = poller.stats()
        total = sum(t.values())
        parts = [f"<b>kernelray</b> · {total} tasks"]
        if t:
            parts.append(", ".join(f"{render.SHORT.get(k, k)} {v}" for k, v in t.items()))
        parts.append(f"{self.summary['nodes']} node(s) · {self.summary['actors']} actor(s)")
        cpu = f"poller CPU {100 * stats['cpu_fraction']:.1f} %" if stats["ticks"] else ""
        return (f'<div class="kr-view kr-head" data-total="{total}">{" · ".join(parts)} '
                f'<span class="kr-muted">· updated {time.strftime("%H:%M:%S")} {cpu}</span></div>')

    def _set_header(self, value: str) -> None:
        if value != self.header.value:
            self.header.value = value

    def refresh(self) -> None:
        """Fetch every view now, from this thread (e.g. at the end of a notebook, so the saved state is final)."""
        from ..core import context
        from ._poller import Tick

        self.poll(Tick(poller, context.core), force=True)

    def _on_release(self, _button=None) -> None:
        n = release_history_pins()
        self.last["pins"] = 0.0
        self._set("pins", render.pins_html(history_pins()) + f'<div class="kr-muted">released {n} history entr'
                  f'{"y" if n == 1 else "ies"}</div>')

    # -- static output ------------------------------------------------------------------------
    def snapshot_html(self) -> str:
        sections = []
        for title, name in zip(TABS, ("tasks", "objects", "actors", "placement_groups", "nodes", "pins")):
            if self.html[name]:
                sections.append(f"<h4>{title}</h4>{self.html[name]}")
        pictures = "".join(p.static_html() for p in self.pictures)
        return f'<div class="kr-dashboard-snapshot">{self.header.value}{pictures}{"".join(sections)}</div>'

    def text_summary(self) -> str:
        t = self.summary["tasks"]
        states = ", ".join(f"{v} {k}" for k, v in t.items()) or "none"
        return (f"kernelray dashboard: {sum(t.values())} tasks ({states}); {self.summary['nodes']} node(s), "
                f"{self.summary['actors']} actor(s)")

    def close(self) -> None:
        self.closed = True
        try:
            poller.unregister(self)
        except Exception:  # noqa: BLE001 - at interpreter exit (Widget.__del__) the module may be gone
            pass
        for w in list(self.views.values()) + [self.header, self.tab, self.release_button, *self.pictures]:
            w.close()
        super().close()


def _pictures() -> list:
    """The picture views (task stream, progress per function, memory, cluster), if anywidget is installed."""
    try:
        from .pictures import ClusterView, FunctionProgress, MemoryView
        from .stream import TaskStream
    except ImportError:  # pragma: no cover - anywidget missing: the tables alone
        return []
    # polled by the dashboard's own poll (one registered view per dashboard)
    return [TaskStream(live=False, refresh_s=2.0), FunctionProgress(live=False), MemoryView(live=False, refresh_s=5.0),
            ClusterView(live=False, refresh_s=3.0)]


class ProgressBar(_SnapshotMixin, W.VBox):
    """``kernelray.widgets.progress(refs)``: a bar of ready / total, fed by the shared poller."""

    def __init__(self, refs, description: str = "", **kwargs):
        from ..core import context
        from ..object_ref import ObjectRef

        refs = [refs] if isinstance(refs, ObjectRef) else list(refs)
        self.refs = refs
        self.total = len(refs)
        self.pending = list(refs)
        self.failed = 0
        self.description = description
        self.bar = W.IntProgress(value=0, min=0, max=max(self.total, 1), description=description or "")
        self.bar.add_class("kr-progress-bar")
        self.label = W.HTML(value="")
        self.label.add_class("kr-progress-label")
        super().__init__([W.HBox([self.bar, self.label])], **kwargs)
        self.add_class("kr-progress")
        self._displayed = False
        core = context.core
        if core is not None:
            remote = [r for r in refs if r._owner != core.address]
            if remote:
                core.loop.call_soon(core._fetch_remote, remote)
        self._update(core)
        if self.pending:
            poller.register(self)

    @property
    def done(self) -> int:
        return self.total - len(self.pending)

    def _update(self, core) -> None:
        if core is not None and self.pending:
            store = core.store
            still = []
            from ..core.memory_store import ERROR

            for r in self.pending:
                obj = store.get(r._id)
                if obj is None:
                    still.append(r)
                elif obj.kind == ERROR:
                    self.failed += 1
            self.pending = still
        done = self.done
        if self.bar.value != done:
            self.bar.value = done
        if self.failed:
            self.bar.bar_style = "danger"
        elif done == self.total:
            self.bar.bar_style = "success"
        label = f'<span class="kr-progress-text" data-done="{done}" data-total="{self.total}">{done} / {self.total} ready' \
                + (f", {self.failed} failed" if self.failed else "") + "</span>"
        if label != self.label.value:
            self.label.value = label

    def poll(self, data) -> None:
        self._update(data.core)
        if not self.pending:
            poller.unregister(self)

    def get(self, timeout: float | None = None):
        """``kernelray.get`` of the refs while the bar moves; the bar ends at the final count."""
        from .. import api
        from .auto_progress import quiet

        try:
            with quiet():
                return api.get(self.refs, timeout=timeout)
        finally:
            from ..core import context

            self._update(context.core)

    def wait(self, timeout: float | None = None) -> None:
        from .. import api

        from .auto_progress import quiet

        with quiet():
            api.wait(self.refs, num_returns=len(self.refs), timeout=timeout) if self.refs else None
        from ..core import context

        self._update(context.core)

    def snapshot_html(self) -> str:
        return render.progress_html(self.done, self.total, self.failed, self.description)

    def text_summary(self) -> str:
        return f"{self.description + ': ' if self.description else ''}{self.done} / {self.total} ready" + \
            (f", {self.failed} failed" if self.failed else "")

    def _ipython_display_(self):
        """Shown once: ``progress(refs)`` displays itself, and a bare ``bar`` on a cell's last line does not repeat it."""
        if self._displayed:
            return
        self._displayed = True
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)

    def close(self) -> None:
        try:
            poller.unregister(self)
        except Exception:  # noqa: BLE001 - at interpreter exit
            pass
        self.bar.close()
        self.label.close()
        super().close()


__all__ = ["Dashboard", "ProgressBar"]
