"""What ``kernelray.init()`` shows in a notebook: a compact cluster summary.

``context_html`` is the static HTML (``RayContext._repr_html_``: nbconvert, GitHub);
``context_mimebundle`` adds, inside a Jupyter kernel with ipywidgets installed, a live
widget: the same table refreshed every few seconds and a Shutdown button.  ipywidgets
is imported only here, only when a context is displayed.  A summary of a cluster that
was shut down says so; ``kernelray.init()`` again gives a new, working one.
"""

from __future__ import annotations

import html
import threading

REFRESH_S = 2.0


def _fmt_bytes(n) -> str:
    n = float(n or 0)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def _fmt_num(x) -> str:
    x = float(x or 0)
    return f"{x:g}"


def _live_core(info: dict):
    """The connected CoreWorker if ``info`` describes the current connection, else None."""
    from .. import api

    core = api._driver.core
    if core is None or not info or api._driver.info.get("job_id") != info.get("job_id"):
        return None
    return core


def cluster_summary(info: dict) -> dict:
    """Nodes and resources of the cluster ``info`` describes (``connected`` False if gone)."""
    out = {
        "connected": False,
        "address": info.get("address") or info.get("gcs_address", ""),
        "namespace": info.get("namespace", ""),
        "job_id": info.get("job_id", ""),
        "session": (info.get("session_dir") or "").rstrip("/").rsplit("/", 1)[-1],
    }
    core = _live_core(info)
    if core is None:
        return out
    try:
        reply = core.call(core.gcs, "get_all_nodes_request", {}, timeout=5)
    except Exception as exc:  # noqa: BLE001 - the cluster went away under us
        out["error"] = f"{type(exc).__name__}: {exc}"
        return out
    total: dict = {}
    avail: dict = {}
    alive = dead = 0
    for n in reply.content.get("nodes", []):
        if n.get("state") != "ALIVE":
            dead += 1
            continue
        alive += 1
        for k, v in (n.get("resources_total") or {}).items():
            total[k] = total.get(k, 0.0) + v
        for k, v in (n.get("resources_available") or {}).items():
            avail[k] = avail.get(k, 0.0) + v
    out.update(connected=True, nodes=alive, dead_nodes=dead, total=total, available=avail)
    return out


def summary_rows(s: dict) -> list:
    from .. import __version__

    rows = [("Address", s["address"])]
    if s.get("connected"):
        total, avail = s["total"], s["available"]
        nodes = f"{s['nodes']}" + (f" ({s['dead_nodes']} dead)" if s.get("dead_nodes") else "")
        rows += [
            ("Nodes", nodes),
            ("CPUs", f"{_fmt_num(total.get('CPU'))} ({_fmt_num(avail.get('CPU'))} free)"),
        ]
        if total.get("GPU"):
            rows.append(("GPUs", f"{_fmt_num(total.get('GPU'))} ({_fmt_num(avail.get('GPU'))} free)"))
        custom = sorted(k for k in total if k not in ("CPU", "GPU", "memory", "object_store_memory")
                        and not k.startswith("node:"))
        if custom:
            rows.append(("Resources", ", ".join(f"{k}: {_fmt_num(total[k])}" for k in custom)))
        rows += [
            ("Object store", _fmt_bytes(total.get("object_store_memory"))),
            ("Memory", _fmt_bytes(total.get("memory"))),
        ]
    import kernelray

    if callable(getattr(kernelray, "dashboard", None)):
        dashboard = "no web dashboard; in the notebook: kernelray.dashboard()"
    else:
        dashboard = "none: use kernelray.nodes(), kernelray.available_resources()"
    rows += [("Namespace", s.get("namespace", "")), ("Job", s.get("job_id", "")), ("Session", s.get("session", "")),
             ("Dashboard", dashboard), ("Version", f"kernelray {__version__}")]
    return rows


def summary_html(s: dict) -> str:
    if s.get("connected"):
        state = '<span style="color:#2e7d32">connected</span>'
    elif s.get("error"):
        state = f'<span style="color:#c62828">unreachable ({html.escape(s["error"])})</span>'
    else:
        state = '<span style="color:#757575">shut down</span> — <code>kernelray.init()</code> starts a new cluster'
    cells = "".join(
        f'<tr><td style="text-align:left;padding-right:1em"><b>{html.escape(k)}</b></td>'
        f'<td style="text-align:left">{html.escape(str(v))}</td></tr>'
        for k, v in summary_rows(s)
    )
    return (f'<div class="kernelray-summary"><div><b>kernelray</b> cluster · {state}</div>'
            f'<table style="margin:0">{cells}</table></div>')


def summary_text(s: dict) -> str:
    state = "connected" if s.get("connected") else "shut down"
    return f"kernelray cluster ({state}) at {s['address']}"


def context_html(info: dict) -> str:
    return summary_html(cluster_summary(info))


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def context_mimebundle(info: dict, include=None, exclude=None):
    """A live widget's bundle (plus static HTML) in a kernel with ipywidgets; else None."""
    if not _in_kernel() or _live_core(info) is None:
        return None
    try:
        widget = ClusterWidget(info)
    except ImportError:
        return None
    bundle = widget.widget._repr_mimebundle_(include=include, exclude=exclude) or {}
    s = widget.last
    bundle["text/html"] = summary_html(s)
    bundle["text/plain"] = summary_text(s)
    return bundle


class ClusterWidget:
    """The live summary: an HTML table refreshed from the GCS, a Shutdown button."""

    def __init__(self, info: dict):
        import ipywidgets as w

        self.info = dict(info)
        self.core = _live_core(info)
        self.last = cluster_summary(self.info)
        self.html = w.HTML(summary_html(self.last))
        self.button = w.Button(description="Shutdown", button_style="warning", icon="power-off",
                               tooltip="kernelray.shutdown(): stop the cluster this notebook started")
        self.button.on_click(self._shutdown)
        self.widget = w.VBox([self.html, self.button])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._refresh_loop, name="kernelray-summary", daemon=True)
        self._thread.start()

    def _current(self) -> bool:
        return self.core is not None and _live_core(self.info) is self.core

    def refresh(self) -> None:
        self.last = cluster_summary(self.info)
        self.html.value = summary_html(self.last)
        if not self.last.get("connected"):
            self.button.disabled = True

    def _refresh_loop(self) -> None:
        while not self._stop.wait(REFRESH_S):
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - a closed comm or kernel shutting down
                return
            if not self.last.get("connected"):
                return

    def _shutdown(self, _button=None) -> None:
        import kernelray

        self._stop.set()
        if self._current():
            kernelray.shutdown()
        self.refresh()
