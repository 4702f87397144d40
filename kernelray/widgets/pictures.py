"""Progress per function, memory and cluster pictures: bounded data models (pure) and their views.

Each view is an ``SvgView``: Python draws the SVG (``*_svg``), the browser shows it live and
the mimebundle carries it for nbconvert.  The models take what the state API returns.
"""

from __future__ import annotations

import time
from collections import deque

from .render import COLORS, esc, fmt_bytes
from .svg import _svg, hbar
from ._anyview import SvgView

MAX_FUNCTIONS_SHOWN = 20
MAX_OBJECTS_SHOWN = 10
HISTORY_POINTS = 300
STATE_PARTS = [("FINISHED", "finished"), ("FAILED", "failed"), ("RUNNING", "running"),
               ("SUBMITTED_TO_WORKER", "submitted"), ("PENDING_NODE_ASSIGNMENT", "pending"),
               ("PENDING_ARGS_AVAIL", "waiting args")]
RELEASE_HOW = {
    "LOCAL_REFERENCE": "held by a Python variable: `del` it (or let it go out of scope)",
    "PINNED_IN_MEMORY": "a get() result still uses the buffer: drop the value (e.g. the numpy array) you got",
    "USED_BY_PENDING_TASK": "an argument of a task not finished yet: it goes when the task ends",
    "CAPTURED_IN_OBJECT": "inside another object: release that object",
    "BORROWED": "borrowed by another process: it goes when that task or actor lets go",
    "ACTOR_HANDLE": "an actor handle: `del` it or kernelray.kill(actor)",
}


# -- progress per function ------------------------------------------------------------------------
def function_progress(counts: dict, limit: int = MAX_FUNCTIONS_SHOWN) -> list:
    """[(name, {state: n}, total)], the most numerous first, at most ``limit`` (+ one '(others)' row)."""
    rows = sorted(((n or "(unknown)", dict(c), sum(c.values())) for n, c in counts.items() if sum(c.values())),
                  key=lambda r: -r[2])
    if len(rows) > limit:
        rest: dict = {}
        for _, c, _t in rows[limit:]:
            for k, v in c.items():
                rest[k] = rest.get(k, 0) + v
        rows = rows[:limit] + [(f"({len(rows) - limit} others)", rest, sum(rest.values()))]
    return rows


def progress_svg(rows: list, width: int = 720) -> str:
    if not rows:
        return '<div class="kr-fn-progress kr-muted">progress: no task yet</div>'
    body = ['<text x="4" y="12" font-weight="600">progress per function</text>']
    for i, (name, c, total) in enumerate(rows):
        y = 20 + i * 18
        done = c.get("FINISHED", 0) + c.get("FAILED", 0)
        parts = [(c.get(s, 0) / total, COLORS[s], f"{label}: {c.get(s, 0)}") for s, label in STATE_PARTS]
        body.append(f'<text class="kr-fn" x="4" y="{y + 10}">{esc(name[:28])}</text>')
        body.extend(hbar(200, y, width - 330, parts))
        body.append(f'<text x="{width - 120}" y="{y + 10}" data-done="{done}" data-total="{total}">'
                    f'{done} / {total}{" · " + str(c["FAILED"]) + " failed" if c.get("FAILED") else ""}</text>')
    return _svg(width, 26 + 18 * len(rows), body, "kr-fn-progress-static")


class FunctionProgress(SvgView):
    refresh_s = 0.5

    def __init__(self, **kwargs):
        self.rows: list = []
        self._version = None
        super().__init__(**kwargs)
        self.add_class("kr-fn-progress")

    def update(self, tick) -> bool:
        tc = tick.tasks()
        if tc is None or tc.version == self._version:
            return False
        self._version = tc.version
        self.rows = function_progress(tc.counts)
        return True

    def static_html(self) -> str:
        return progress_svg(self.rows)

    def text_summary(self) -> str:
        return "progress: " + ", ".join(f"{n} {c.get('FINISHED', 0)}/{t}" for n, c, t in self.rows[:5])


# -- memory ---------------------------------------------------------------------------------------
class MemoryModel:
    """Object-store use per node over time (bounded history) and the largest objects."""

    def __init__(self, points: int = HISTORY_POINTS):
        self.history: dict = {}  # node id -> deque[(t, used, capacity, spilled objects)]
        self.points = points
        self.largest: list = []
        self.total_objects = 0

    def apply(self, objects: list, stores: list, now: float) -> None:
        for s in stores:
            h = self.history.setdefault(s.get("node_id") or "?", deque(maxlen=self.points))
            h.append((now, s.get("used", 0), s.get("capacity", 0), s.get("num_spilled_now", 0)))
        owned = {}
        for r in objects:
            if r.get("reference_type") == "BORROWED" and r["object_id"] in owned:
                continue
            owned.setdefault(r["object_id"], r)
        self.total_objects = len(owned)
        self.largest = sorted(owned.values(), key=lambda r: -(r.get("object_size") or 0))[:MAX_OBJECTS_SHOWN]


def memory_svg(m: MemoryModel, width: int = 720) -> str:
    body = ['<text x="4" y="12" font-weight="600">object store per node</text>']
    y = 20
    for node, h in m.history.items():
        t, used, cap, spilled = h[-1]
        body.append(f'<text x="4" y="{y + 10}">{esc(node[:8])}: {fmt_bytes(used)} / {fmt_bytes(cap)}'
                    f'{f" · {spilled} spilled" if spilled else ""}</text>')
        body.append(_sparkline(h, 260, y, width - 270, 28))
        y += 36
    body.append(f'<text x="4" y="{y + 12}" font-weight="600">largest objects ({m.total_objects} in all) · '
                f'click one: how to release it</text>')
    y += 18
    for r in m.largest:
        kind = r.get("reference_type") or "LOCAL_REFERENCE"
        how = f"{r['object_id'][:16]}… {kind}: {RELEASE_HOW.get(kind, 'drop every reference to it')}"
        body.append(f'<g class="kr-object" data-how="{esc(how)}" style="cursor:pointer"><title>{esc(how)}</title>'
                    f'<rect x="0" y="{y}" width="{width}" height="16" fill="transparent"/>'
                    f'<text x="4" y="{y + 12}">{fmt_bytes(r.get("object_size"))}</text>'
                    f'<text x="90" y="{y + 12}">{esc((r.get("call_site") or "?")[:48])}</text>'
                    f'<text x="430" y="{y + 12}">{esc(kind)}</text>'
                    f'<text x="590" y="{y + 12}" fill="#888">{esc(r.get("location") or "")}</text></g>')
        y += 16
    return _svg(width, y + 6, body, "kr-memory-static")


def _sparkline(h, x: float, y: float, w: float, ht: float) -> str:
    if len(h) < 2:
        return ""
    t0, t1 = h[0][0], h[-1][0] or 1
    cap = max(p[2] for p in h) or 1
    pts = " ".join(f"{x + (p[0] - t0) / max(t1 - t0, 1e-9) * w:.1f},{y + ht - p[1] / cap * ht:.1f}" for p in h)
    return (f'<rect x="{x}" y="{y}" width="{w}" height="{ht}" fill="#f4f4f4"/>'
            f'<polyline points="{pts}" fill="none" stroke="#4e79a7" stroke-width="1.5"/>')


class MemoryView(SvgView):
    refresh_s = 2.0

    def __init__(self, **kwargs):
        self.model = MemoryModel()
        super().__init__(**kwargs)
        self.add_class("kr-memory")

    def update(self, tick) -> bool:
        objs = tick.objects()
        if objs is None:
            return False
        self.model.apply(objs[0], objs[1], time.time())
        return True

    def static_html(self) -> str:
        return memory_svg(self.model)

    def text_summary(self) -> str:
        return f"kernelray memory: {self.model.total_objects} objects on {len(self.model.history)} node(s)"


# -- cluster ---------------------------------------------------------------------------------------
def cluster_model(nodes: list, pgs: list, actors: list) -> dict:
    by_node = {}
    for n in nodes:
        if n.get("state", "ALIVE") != "ALIVE":
            continue
        total = n.get("resources_total") or {}
        avail = n.get("resources_available") or {}
        by_node[n["node_id"]] = {"node_id": n["node_id"], "resources": {k: (total[k] - avail.get(k, 0), total[k])
                                 for k in sorted(total) if not k.startswith(("node:", "bundle_group"))
                                 and "_group_" not in k},
                                 "bundles": [], "actors": []}
    for pg in pgs:
        for i, (bundle, node) in enumerate(zip(pg.get("bundles") or [], pg.get("bundle_nodes") or [])):
            if node in by_node:
                by_node[node]["bundles"].append({"pg": pg.get("name") or pg["placement_group_id"][:8], "index": i,
                                                 "resources": bundle, "state": pg.get("state")})
    for a in actors:
        node = a.get("node_id")
        row = {"class_name": a.get("class_name"), "state": a.get("state"), "restarts": a.get("num_restarts", 0),
               "actor_id": a.get("actor_id")}
        (by_node[node]["actors"] if node in by_node else by_node.setdefault(
            "(not placed)", {"node_id": "(not placed)", "resources": {}, "bundles": [], "actors": []})["actors"]).append(row)
    return {"nodes": list(by_node.values())}


def cluster_svg(c: dict, width: int = 720) -> str:
    body = ['<text x="4" y="12" font-weight="600">cluster</text>']
    y = 20
    for n in c["nodes"]:
        body.append(f'<text class="kr-node" x="4" y="{y + 11}" font-weight="600">node {esc(n["node_id"][:8])}</text>')
        y += 16
        for name, (used, total) in n["resources"].items():
            frac = used / total if total else 0
            body.append(f'<text x="14" y="{y + 10}">{esc(name)}</text>')
            body.extend(hbar(150, y, 300, [(frac, "#4e79a7", f"{name}: {used:g} of {total:g} used")]))
            body.append(f'<text x="460" y="{y + 10}">{used:g} / {total:g}</text>')
            y += 16
        for b in n["bundles"]:
            res = ", ".join(f"{k} {v:g}" for k, v in b["resources"].items())
            body.append(f'<rect class="kr-bundle" x="14" y="{y}" width="300" height="13" rx="3" fill="none" '
                        f'stroke="#b07aa1" stroke-dasharray="3 2"/><text x="20" y="{y + 10}">placement group '
                        f'{esc(b["pg"])} · bundle {b["index"]}: {esc(res)} · {esc(b["state"])}</text>')
            y += 16
        for a in n["actors"][:30]:
            colour = COLORS.get(a["state"], "#888")
            body.append(f'<circle class="kr-actor" cx="20" cy="{y + 6}" r="5" fill="{colour}"/>'
                        f'<text x="30" y="{y + 10}">{esc(a["class_name"])} {esc((a["actor_id"] or "")[:6])} · '
                        f'{esc(a["state"])}{_restarts(a)}</text>')
            y += 15
        y += 6
    return _svg(width, y + 4, body, "kr-cluster-static")


def _restarts(a: dict) -> str:
    return f" · {a['restarts']} restarts" if a["restarts"] else ""


class ClusterView(SvgView):
    refresh_s = 1.5

    def __init__(self, **kwargs):
        self.model = {"nodes": []}
        super().__init__(**kwargs)
        self.add_class("kr-cluster")

    def update(self, tick) -> bool:
        nodes, pgs, actors = tick.nodes(), tick.placement_groups(), tick.actors()
        if nodes is None:
            return False
        model = cluster_model(nodes, pgs or [], actors or [])
        changed = model != self.model
        self.model = model
        return changed

    def static_html(self) -> str:
        return cluster_svg(self.model)

    def text_summary(self) -> str:
        return f"kernelray cluster: {len(self.model['nodes'])} node(s)"


__all__ = ["FunctionProgress", "MemoryView", "ClusterView", "MemoryModel", "function_progress", "cluster_model",
           "progress_svg", "memory_svg", "cluster_svg"]
