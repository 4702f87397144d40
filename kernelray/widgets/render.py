"""Static HTML of the dashboard's views (no ipywidgets here: the headless snapshots use it too).

Every table carries ``kr-*`` classes and ``data-*`` attributes (counts per state, the
summary version) so that tests, in Python or in a browser, read numbers, not styling.
"""

from __future__ import annotations

import html
import time

STATE_ORDER = ["PENDING_ARGS_AVAIL", "PENDING_NODE_ASSIGNMENT", "SUBMITTED_TO_WORKER", "RUNNING", "FINISHED", "FAILED"]
SHORT = {"PENDING_ARGS_AVAIL": "waiting args", "PENDING_NODE_ASSIGNMENT": "pending", "SUBMITTED_TO_WORKER": "submitted",
         "RUNNING": "running", "FINISHED": "finished", "FAILED": "failed"}
COLORS = {"PENDING_ARGS_AVAIL": "#b0b0b0", "PENDING_NODE_ASSIGNMENT": "#f2c14e", "SUBMITTED_TO_WORKER": "#f29e4c",
          "RUNNING": "#4c9be8", "FINISHED": "#3cb371", "FAILED": "#e05757", "ALIVE": "#3cb371", "DEAD": "#e05757",
          "RESTARTING": "#f29e4c", "PENDING_CREATION": "#f2c14e", "DEPENDENCIES_UNREADY": "#b0b0b0",
          "CREATED": "#3cb371", "PENDING": "#f2c14e", "REMOVED": "#e05757", "RESCHEDULING": "#f29e4c"}

STYLE = """<style>
.kr-view{font-family:var(--jp-ui-font-family,system-ui,sans-serif);font-size:12px;color:var(--jp-ui-font-color1,#222)}
.kr-view table{border-collapse:collapse;margin:2px 0 8px 0}
.kr-view th,.kr-view td{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}
.kr-view th{background:rgba(127,127,127,.12);font-weight:600}
.kr-view td.kr-l,.kr-view th.kr-l{text-align:left}
.kr-view .kr-badge{display:inline-block;padding:0 6px;border-radius:8px;color:#fff;font-size:11px}
.kr-view .kr-bar{display:inline-block;width:120px;height:10px;background:#e6e6e6;border-radius:3px;vertical-align:middle;overflow:hidden}
.kr-view .kr-bar>span{display:block;height:100%;background:#4c9be8}
.kr-view .kr-stack{display:flex;width:100%;max-width:640px;height:14px;border-radius:3px;overflow:hidden;background:#eee;margin:4px 0}
.kr-view .kr-stack>span{display:block;height:100%}
.kr-view .kr-muted{color:#888}
.kr-view h4{margin:6px 0 2px 0;font-size:13px}
</style>"""


def esc(v) -> str:
    return html.escape("" if v is None else str(v))


def badge(state: str) -> str:
    return f'<span class="kr-badge kr-st-{esc(state)}" style="background:{COLORS.get(state, "#888")}">{esc(state)}</span>'


def short_id(v, n: int = 8) -> str:
    return esc((v or "")[:n])


def fmt_bytes(n) -> str:
    if n is None:
        return "?"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def fmt_duration(s) -> str:
    if s is None:
        return ""
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    if s < 120:
        return f"{s:.2f} s"
    return f"{s / 60:.1f} min"


def bar(used, total, label: str = "") -> str:
    frac = 0.0 if not total else max(0.0, min(1.0, used / total))
    return (f'<span class="kr-bar"><span style="width:{frac * 100:.0f}%"></span></span> '
            f'<span>{esc(label)}</span>')


def table(cols: list, rows: list, cls: str, attrs: str = "", left: tuple = ()) -> str:
    head = "".join(f'<th class="{"kr-l" if c in left else ""}">{esc(c)}</th>' for c in cols)
    body = []
    for r in rows:
        cells = "".join(f'<td class="{"kr-l" if c in left else ""}">{v}</td>' for c, v in zip(cols, r))
        body.append(f"<tr>{cells}</tr>")
    return f'<table class="{cls}" {attrs}><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


# -- tasks ------------------------------------------------------------------------------------
def tasks_html(counts: dict, totals: dict, recent: list, version: int, max_groups: int = 20, note: str = "") -> str:
    """Counts per function and state, a bar of all tasks by state, the most recent rows."""
    totals = {k: v for k, v in totals.items() if v}
    total = sum(totals.values())
    attrs = " ".join(f'data-{SHORT[s].replace(" ", "-")}="{totals.get(s, 0)}"' for s in STATE_ORDER)
    head = (f'<div class="kr-tasks-total" data-version="{version}" data-total="{total}" {attrs}>'
            f'<b>{total}</b> tasks: ' + (", ".join(f'{badge(s)} {totals[s]}' for s in STATE_ORDER if s in totals)
                                         or '<span class="kr-muted">none yet</span>') + "</div>")
    stack = "".join(f'<span title="{esc(s)} {totals[s]}" style="width:{100 * totals[s] / total:.2f}%;'
                    f'background:{COLORS[s]}"></span>' for s in STATE_ORDER if total and s in totals)
    groups = sorted(((n, c) for n, c in counts.items() if any(c.values())), key=lambda kv: -sum(kv[1].values()))
    shown_states = [s for s in STATE_ORDER if any(c.get(s) for _, c in groups)]
    rows = []
    for name, c in groups[:max_groups]:
        rows.append([esc(name or "(unknown)")] + [str(c.get(s, 0)) for s in shown_states] + [str(sum(c.values()))])
    summary = table(["function"] + [SHORT[s] for s in shown_states] + ["total"], rows, "kr-task-summary",
                    f'data-version="{version}"', left=("function",)) if rows else ""
    if len(groups) > max_groups:
        summary += f'<div class="kr-muted">… and {len(groups) - max_groups} more functions</div>'
    rec_rows = []
    now = time.time() * 1000
    for r in recent:
        dur = r.get("duration_s")
        if dur is None and r.get("start_time_ms") and r.get("state") == "RUNNING":
            dur = (now - r["start_time_ms"]) / 1000
        rec_rows.append([esc(r.get("name")), badge(r.get("state")), fmt_duration(dur), short_id(r.get("node_id")),
                         f'{short_id(r.get("worker_id"))} <span class="kr-muted">{esc(r.get("worker_pid") or "")}</span>',
                         esc(r.get("error_type") or ""), short_id(r.get("task_id"), 12)])
    recent_html = ("<h4>Recently updated</h4>" + table(["name", "state", "duration", "node", "worker", "error", "task"],
                                                       rec_rows, "kr-task-recent", left=("name", "task"))
                   if rec_rows else "")
    extra = f'<div class="kr-muted">{esc(note)}</div>' if note else ""
    return f'<div class="kr-view kr-tasks">{STYLE}{head}<div class="kr-stack">{stack}</div>{summary}{recent_html}{extra}</div>'


# -- objects ----------------------------------------------------------------------------------
def objects_html(rows: list, stores: list, max_rows: int = 50) -> str:
    parts = []
    for st in stores:
        parts.append(f'<div>store of node {short_id(st.get("node_id"))}: '
                     + bar(st.get("used", 0), st.get("capacity", 0),
                           f'{fmt_bytes(st.get("used"))} / {fmt_bytes(st.get("capacity"))}, {st.get("num_objects", 0)} objects, '
                           f'{st.get("num_spilled_now", 0)} spilled') + "</div>")
    body = []
    for r in sorted(rows, key=lambda r: -(r.get("object_size") or 0))[:max_rows]:
        body.append([short_id(r.get("object_id"), 14), fmt_bytes(r.get("object_size")), esc(r.get("type")),
                     esc(r.get("pid")), esc(", ".join(r.get("reference_types") or [r.get("reference_type") or ""])),
                     esc(r.get("location")), esc((r.get("owner") or "")[-21:]), esc(r.get("call_site") or "")[-60:]])
    tbl = table(["object", "size", "holder", "pid", "references", "location", "owner", "call site"], body,
                "kr-objects", f'data-count="{len(rows)}"', left=("object", "call site", "references"))
    more = f'<div class="kr-muted">… {len(rows) - max_rows} more references</div>' if len(rows) > max_rows else ""
    empty = '<div class="kr-muted">No object references are held.</div>' if not rows else ""
    return f'<div class="kr-view kr-objects-view">{STYLE}{"".join(parts)}{tbl if rows else ""}{more}{empty}</div>'


# -- actors -----------------------------------------------------------------------------------
def actors_html(rows: list, max_rows: int = 100) -> str:
    body = [[esc(r.get("class_name")), esc(r.get("name") or ""), badge(r.get("state")), esc(r.get("num_restarts", 0)),
             esc(r.get("pid") or ""), short_id(r.get("node_id")), short_id(r.get("actor_id"), 12),
             esc(r.get("death_cause") or "")] for r in rows[:max_rows]]
    counts: dict = {}
    for r in rows:
        counts[r.get("state")] = counts.get(r.get("state"), 0) + 1
    head = (f'<div class="kr-actors-total" data-total="{len(rows)}"><b>{len(rows)}</b> actors: '
            + (", ".join(f"{badge(s)} {n}" for s, n in counts.items()) or '<span class="kr-muted">none</span>') + "</div>")
    tbl = table(["class", "name", "state", "restarts", "pid", "node", "actor", "death cause"], body, "kr-actors",
                left=("class", "name", "death cause")) if rows else ""
    return f'<div class="kr-view kr-actors-view">{STYLE}{head}{tbl}</div>'


# -- placement groups ---------------------------------------------------------------------------
def placement_groups_html(rows: list) -> str:
    body = [[short_id(r.get("placement_group_id"), 12), esc(r.get("name") or ""), badge(r.get("state")),
             esc(r.get("strategy") or ""), esc(len(r.get("bundles") or [])),
             esc(", ".join(str(b) for b in (r.get("bundles") or [])[:4]))] for r in rows]
    tbl = table(["placement group", "name", "state", "strategy", "bundles", "bundle resources"], body, "kr-pgs",
                f'data-count="{len(rows)}"', left=("placement group", "name", "bundle resources"))
    empty = '<div class="kr-muted">No placement groups.</div>' if not rows else ""
    return f'<div class="kr-view kr-pg-view">{STYLE}{tbl}{empty}</div>'


# -- nodes ------------------------------------------------------------------------------------
_SKIP = ("memory", "object_store_memory")


def nodes_html(nodes: list) -> str:
    rows = []
    for n in nodes:
        total = n.get("resources_total") or {}
        avail = n.get("resources_available") or {}
        res = []
        for k in ["CPU", "GPU"] + sorted(k for k in total if k not in ("CPU", "GPU") + _SKIP and not k.startswith("node:")):
            if k in total:
                used = total[k] - avail.get(k, total[k])
                res.append(f'<div data-resource="{esc(k)}">{esc(k)} ' + bar(used, total[k], f"{used:g} / {total[k]:g}") + "</div>")
        store_total = total.get("object_store_memory", 0)
        store_used = n.get("object_store_used") or (store_total - avail.get("object_store_memory", store_total))
        store = bar(store_used, store_total, f"{fmt_bytes(store_used)} / {fmt_bytes(store_total)}")
        rows.append([short_id(n.get("node_id")) + (" (head)" if n.get("is_head") or n.get("is_head_node") else ""),
                     badge(n.get("state")), esc(n.get("ip") or n.get("node_ip") or ""), "".join(res) or "-", store])
    tbl = table(["node", "state", "ip", "resources used / total", "object store"], rows, "kr-nodes",
                f'data-count="{len(nodes)}"', left=("node", "resources used / total", "object store"))
    return f'<div class="kr-view kr-nodes-view">{STYLE}{tbl}</div>'


# -- IPython output history pins ----------------------------------------------------------------
def pins_html(pins: list) -> str:
    body = [[f"Out[{p['index']}]", esc(p["kind"]), esc(p["num_refs"]), fmt_bytes(p["size"]),
             "yes" if p["only_history"] else "no (also held elsewhere)",
             esc(", ".join(p["object_ids"][:3]) + (" …" if len(p["object_ids"]) > 3 else ""))] for p in pins]
    tbl = table(["entry", "value", "refs", "size", "pinned only by history", "objects"], body, "kr-pins",
                f'data-count="{len(pins)}"', left=("entry", "value", "objects")) if pins else ""
    empty = '<div class="kr-muted">No ObjectRefs are held by the output history (Out, _N).</div>' if not pins else ""
    return f'<div class="kr-view kr-pins-view">{STYLE}{tbl}{empty}</div>'


def progress_html(done: int, total: int, failed: int = 0, label: str = "") -> str:
    return (f'<div class="kr-view kr-progress-view" data-done="{done}" data-total="{total}">{STYLE}{esc(label)} '
            + bar(done, total, f"{done} / {total} ready" + (f", {failed} failed" if failed else "")) + "</div>")
