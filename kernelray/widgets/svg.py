"""Static SVG of the picture views, from the same payloads the browser draws.

These go into each widget's mimebundle as ``text/html``, so an executed notebook shows the
picture on GitHub or nbviewer without a kernel.  Bars that would overlap on screen are
merged per lane (same function), so the SVG stays small at any number of tasks.
"""

from __future__ import annotations

from .render import esc, fmt_bytes

FONT = "font-family:system-ui,sans-serif;font-size:11px"
LANE_H, GUTTER, WIDTH = 16, 170, 960
MAX_RECTS = 4000  # the newest; older ones show in the bins
BIN_COLUMNS = 60


def _svg(width: int, height: int, body: list, cls: str, attrs: str = "") -> str:
    return (f'<svg class="{cls}" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" style="{FONT}" {attrs}>{"".join(body)}</svg>')


def _ms_label(ms: float) -> str:
    return f"{ms / 1000:.1f} s" if ms >= 1000 else f"{ms:.0f} ms"


def stream_svg(p: dict, width: int = WIDTH) -> str:
    """The task stream: one row per lane, grouped by node; bars coloured by function."""
    lanes = p["lanes"]
    if not lanes:
        return '<div class="kr-stream-static kr-muted">task stream: no task has run yet</div>'
    row = {ln["index"]: i for i, ln in enumerate(lanes)}
    lo = min([b[1] for b in p["bars"]] + [b[1] for b in p["bins"]] + [0])
    hi = max([b[1] + b[2] for b in p["bars"]] + [b[1] + b[2] for b in p["bins"]] + [p["now_ms"], lo + 1])
    plot = width - GUTTER - 10
    scale = plot / (hi - lo)
    top = 18
    height = top + LANE_H * len(lanes) + 18
    binned = f", {p['binned']} older binned" if p["binned"] else ""
    body = [f'<text x="4" y="12" font-weight="600">task stream</text>'
            f'<text x="{width - 4}" y="12" text-anchor="end" fill="#888">{len(p["bars"])} bars'
            f'{binned} · {_ms_label(hi - lo)}</text>']
    node = None
    for i, ln in enumerate(lanes):
        y = top + i * LANE_H
        if ln["node"] != node:
            node = ln["node"]
            body.append(f'<line x1="0" x2="{width}" y1="{y}" y2="{y}" stroke="#bbb"/>')
        body.append(f'<text class="kr-lane" x="4" y="{y + 12}" fill="#444">{esc(node)} · {esc(ln["label"])}</text>')
    col_w = plot / BIN_COLUMNS
    for (lane, col), busy in _columns(p["bins"], lo, scale, col_w).items():
        body.append(f'<rect x="{GUTTER + col * col_w:.1f}" y="{top + row[lane] * LANE_H + 2}" width="{col_w:.1f}" '
                    f'height="{LANE_H - 4}" fill="#888" fill-opacity="{min(1.0, busy):.2f}"/>')
    for lane, x, w, fn, status, n in _merged(p["bars"], lo, scale):
        y = top + row[lane] * LANE_H + 2
        stroke = ' stroke="#d62728" stroke-width="1.5"' if status == 1 else ""
        tip = f'{p["functions"][fn]}' + (f" ×{n}" if n > 1 else "")
        body.append(f'<rect class="kr-bar" x="{GUTTER + x:.1f}" y="{y}" width="{max(w, 0.6):.1f}" height="{LANE_H - 4}" '
                    f'fill="{p["colors"][fn]}"{stroke}><title>{esc(tip)}</title></rect>')
    body.append(f'<text x="{GUTTER}" y="{height - 4}" fill="#888">0</text>'
                f'<text x="{width - 10}" y="{height - 4}" text-anchor="end" fill="#888">{_ms_label(hi - lo)}</text>')
    body.extend(_legend(p, width))
    return _svg(width, height + 16, body, "kr-stream-static", f'data-bars="{len(p["bars"])}" data-lanes="{len(lanes)}"')


def _columns(bins: list, lo: float, scale: float, col_w: float) -> dict:
    """The older work's bins re-binned to at most BIN_COLUMNS columns per lane (busy fraction of each)."""
    cols: dict = {}
    for lane, start, dur, busy in bins:
        key = (lane, int((start - lo) * scale // col_w))
        cols[key] = cols.get(key, 0.0) + busy * dur * scale / col_w
    return cols


def _legend(p: dict, width: int) -> list:
    x, out = 4, []
    y = 18 + LANE_H * len(p["lanes"]) + 30
    for name, colour in list(zip(p["functions"], p["colors"]))[:12]:
        out.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{x + 13}" y="{y}">{esc(name[:24])}</text>')
        x += 20 + 7 * min(len(name), 24)
        if x > width - 120:
            break
    return out


def _merged(bars: list, lo: float, scale: float):
    """Bars per lane in pixels, neighbours of one function that touch on screen merged into one rect."""
    by_lane: dict = {}
    for b in bars:
        by_lane.setdefault(b[0], []).append(b)
    out = []
    for lane, rows in by_lane.items():
        rows.sort(key=lambda b: b[1])
        cur = None
        for b in rows:
            x, w = (b[1] - lo) * scale, b[2] * scale
            if cur and cur[3] == b[3] and cur[4] == b[4] and x <= cur[1] + cur[2] + 0.5:
                cur[2] = max(cur[2], x + w - cur[1])
                cur[5] += 1
            else:
                cur = [lane, x, w, b[3], b[4], 1]
                out.append(cur)
    return out[-MAX_RECTS:]


def hbar(x: float, y: float, w: float, parts: list, h: int = 12) -> list:
    """A stacked horizontal bar: ``parts`` = [(fraction, colour, title)]."""
    out = [f'<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="#eee" rx="2"/>']
    for frac, colour, title in parts:
        if frac <= 0:
            continue
        out.append(f'<rect x="{x:.1f}" y="{y}" width="{max(w * frac, 0.5):.1f}" height="{h}" fill="{colour}">'
                   f'<title>{esc(title)}</title></rect>')
        x += w * frac
    return out


__all__ = ["stream_svg", "hbar", "fmt_bytes"]
