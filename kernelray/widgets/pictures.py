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
PRIMARY, SECONDARY, SPILLED = "#4e79a7", "#a0cbe8", "#f28e2b"
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
    """Object-store use per node over time (bounded history) and the largest objects.

    A history point is ``(t, used, capacity, spilled objects, primary bytes, secondary bytes, spilled bytes)``:
    primary copies are the ones this node's owners made, secondaries were pulled from other nodes.
    ``holders`` maps an object id to the notebook variables that hold it (see ``notebook_holders``)."""

    def __init__(self, points: int = HISTORY_POINTS):
        self.history: dict = {}  # node id -> deque of history points
        self.points = points
        self.largest: list = []
        self.total_objects = 0
        self.holders: dict = {}

    def apply(self, objects: list, stores: list, now: float, holders=None) -> None:
        for s in stores:
            h = self.history.setdefault(s.get("node_id") or "?", deque(maxlen=self.points))
            used = s.get("used", 0)
            h.append((now, used, s.get("capacity", 0), s.get("num_spilled_now", 0), s.get("primary_bytes", used),
                      s.get("secondary_bytes", 0), s.get("spilled_bytes_now", 0)))
        owned = {}
        for r in objects:
            if r.get("reference_type") == "BORROWED" and r["object_id"] in owned:
                continue
            owned.setdefault(r["object_id"], r)
        self.total_objects = len(owned)
        self.largest = sorted(owned.values(), key=lambda r: -(r.get("object_size") or 0))[:MAX_OBJECTS_SHOWN]
        if holders is not None:
            self.holders = holders({r["object_id"] for r in self.largest})


def notebook_holders(namespace: dict, wanted: set, max_items: int = 10_000) -> dict:
    """{object id hex: [variable names]} for the ``wanted`` objects held by a notebook's variables,
    directly or in a list, tuple, set or dict's values (one level, at most ``max_items`` each)."""
    found: dict = {}
    if not wanted:
        return found
    for name, value in list(namespace.items()):
        if name.startswith("_"):
            continue
        for ref in _refs_in(value, max_items):
            oid = ref.hex()
            if oid in wanted and name not in found.setdefault(oid, []):
                found[oid].append(name)
    return found


def _refs_in(value, max_items: int):
    from ..object_ref import ObjectRef

    if isinstance(value, ObjectRef):
        return (value,)
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, (list, tuple, set, frozenset)):
        return ()
    out = []
    for i, v in enumerate(value):
        if i >= max_items:
            break
        if isinstance(v, ObjectRef):
            out.append(v)
    return out


def memory_svg(m: MemoryModel, width: int = 720) -> str:
    body = ['<text x="4" y="12" font-weight="600">object store per node</text>',
            *_memory_legend(width)]
    y = 20
    for node, h in m.history.items():
        _t, used, cap, spilled, primary, secondary, spilled_b = h[-1]
        parts = f"primary {fmt_bytes(primary)} · secondary {fmt_bytes(secondary)}"
        body.append(f'<text x="4" y="{y + 10}" data-primary="{primary}" data-secondary="{secondary}">'
                    f'{esc(node[:8])}: {fmt_bytes(used)} / {fmt_bytes(cap)}</text>')
        body.append(f'<text x="4" y="{y + 24}" fill="#666">{parts}'
                    f'{f" · {spilled} spilled ({fmt_bytes(spilled_b)})" if spilled else ""}</text>')
        body.append(_sparkline(h, 260, y, width - 270, 28))
        y += 36
    body.append(f'<text x="4" y="{y + 12}" font-weight="600">largest objects ({m.total_objects} in all) · '
                f'click one: how to release it</text>')
    y += 18
    for r in m.largest:
        body.append(_object_row(r, m.holders.get(r["object_id"]), y, width))
        y += 16
    return _svg(width, y + 6, body, "kr-memory-static")


def _memory_legend(width: int) -> list:
    out = []
    for i, (label, colour) in enumerate((("primary", PRIMARY), ("secondary", SECONDARY), ("spilled", SPILLED))):
        x = width - 250 + i * 82
        out.append(f'<rect x="{x}" y="3" width="9" height="9" fill="{colour}"/>'
                   f'<text x="{x + 12}" y="12" fill="#666">{label}</text>')
    return out


def _object_row(r: dict, holders, y: float, width: int) -> str:
    kind = r.get("reference_type") or "LOCAL_REFERENCE"
    held = f"held by {', '.join(holders[:3])} in the notebook" if holders else ""
    how = f"{r['object_id'][:16]}… {kind}: {RELEASE_HOW.get(kind, 'drop every reference to it')}"
    if holders:
        how += f" (`del {holders[0]}`)"
    return (f'<g class="kr-object" data-how="{esc(how)}" style="cursor:pointer"><title>{esc(how)}</title>'
            f'<rect x="0" y="{y}" width="{width}" height="16" fill="transparent"/>'
            f'<text x="4" y="{y + 12}">{fmt_bytes(r.get("object_size"))}</text>'
            f'<text x="90" y="{y + 12}">{esc((r.get("call_site") or "?")[:40])}</text>'
            f'<text x="350" y="{y + 12}">{esc(kind)}</text>'
            f'<text x="510" y="{y + 12}" fill="#888">{esc(held[:40] or r.get("location") or "")}</text></g>')


def _sparkline(h, x: float, y: float, w: float, ht: float) -> str:
    """Stacked areas over time: primary copies, secondaries above them; spilled bytes as a dashed line."""
    if len(h) < 2:
        return ""
    t0, t1 = h[0][0], h[-1][0] or 1
    cap = max(p[2] for p in h) or 1
    top = max(cap, max(p[6] for p in h))

    def px(p) -> float:
        return x + (p[0] - t0) / max(t1 - t0, 1e-9) * w

    def line(level) -> list:
        return [f"{px(p):.1f},{y + ht - min(level(p), top) / top * ht:.1f}" for p in h]

    base = [f"{px(p):.1f},{y + ht:.1f}" for p in reversed(h)]
    primary = line(lambda p: p[4])
    both = line(lambda p: p[4] + p[5])
    spilled = line(lambda p: p[6])
    return (f'<rect x="{x}" y="{y}" width="{w}" height="{ht}" fill="#f4f4f4"/>'
            f'<polygon class="kr-mem-secondary" points="{" ".join(both + list(reversed(primary)))}" '
            f'fill="{SECONDARY}"/>'
            f'<polygon class="kr-mem-primary" points="{" ".join(primary + base)}" fill="{PRIMARY}"/>'
            f'<polyline class="kr-mem-spilled" points="{" ".join(spilled)}" fill="none" stroke="{SPILLED}" '
            f'stroke-width="1.5" stroke-dasharray="4 2"/>')


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
        self.model.apply(objs[0], objs[1], time.time(), holders=_notebook_namespace_holders)
        return True

    def static_html(self) -> str:
        return memory_svg(self.model)

    def text_summary(self) -> str:
        return f"kernelray memory: {self.model.total_objects} objects on {len(self.model.history)} node(s)"


def _notebook_namespace_holders(wanted: set) -> dict:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipykernel
        return {}
    shell = get_ipython()
    return notebook_holders(shell.user_ns, wanted) if shell is not None else {}


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
           "notebook_holders",
           "progress_svg", "memory_svg", "cluster_svg"]
