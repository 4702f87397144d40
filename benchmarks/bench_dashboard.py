"""What a live dashboard costs: no-op task throughput and the kernel's CPU with 10k tasks, and the browser's
frame time for the task stream with 10k bars (headless Chromium, if Playwright and /usr/bin/chromium are there).

    python benchmarks/bench_dashboard.py [--tasks 10000] [--rounds 3] [--no-browser]

Goals (issue 14): < 5 % of throughput, < 10 % of one core in the kernel, < 16 ms a frame.
The kernel's CPU is the widgets' poller thread (it does every fetch and every model update;
``time.thread_time``) plus the widget state it serialises (counted in the same thread).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import kernelray as ray

STREAM_JS = Path(__file__).resolve().parent.parent / "kernelray" / "widgets" / "js" / "stream.js"


@ray.remote
def noop():
    return None


def throughput(n: int) -> float:
    t0 = time.perf_counter()
    ray.get([noop.remote() for _ in range(n)])
    return n / (time.perf_counter() - t0)


def bench_kernel(n: int, rounds: int) -> dict:
    """Bare and live rounds alternate (bare, live, bare, live, ...) so that drift on a shared machine
    falls on both; the dashboard is shown for each live round and closed after it."""
    from kernelray.widgets._poller import poller

    ray.init(num_cpus=2)
    bare, live, cpu, bars = [], [], [], 0
    try:
        throughput(2000)  # warm the workers
        for _ in range(rounds):
            bare.append(throughput(n))
            dash = ray.dashboard()
            try:
                time.sleep(1.0)
                cpu0, t0 = poller.cpu_s, time.monotonic()
                live.append(throughput(n))
                time.sleep(1.5)  # the stream catches up with the last tasks
                cpu.append((poller.cpu_s - cpu0) / (time.monotonic() - t0))
                stream = dash.pictures[0] if dash.pictures else None
                bars = stream.model.stats()["bars"] if stream else 0
            finally:
                dash.close()
    finally:
        ray.shutdown()
    b, lv = statistics.median(bare), statistics.median(live)
    return {"tasks": n, "bare_tasks_per_s": round(b), "dashboard_tasks_per_s": round(lv),
            "throughput_cost_pct": round(100 * (b - lv) / b, 1),
            "kernel_cpu_pct_of_one_core": round(100 * statistics.median(cpu), 2), "stream_bars": bars,
            "rounds": [[round(x), round(y)] for x, y in zip(bare, live)]}


def fake_payload(n: int, lanes: int = 16) -> dict:
    from kernelray.widgets.stream_model import TaskStreamModel

    m = TaskStreamModel(max_bars=n)
    spans = [{"task_id": f"{i:048x}", "name": f"fn{i % 6}", "start": 1000 + i * 0.002, "end": 1000 + i * 0.002 + 0.02,
              "node_id": f"node{i % 2}", "pid": i % lanes, "attempt": 0, "state": "FINISHED", "running": False}
             for i in range(n)]
    m.apply(spans, 1, spans[-1]["end"])
    return m.payload()


FRAMES_JS = """async ([src, data, frames]) => {
  const mod = (await import(URL.createObjectURL(new Blob([src], {type: 'text/javascript'})))).default;
  const handlers = {};
  const model = {get: () => data, on: (e, f) => { handlers[e] = f; }, send: () => {}};
  const host = document.createElement('div'); host.style.width = '1200px'; document.body.appendChild(host);
  mod.render({model, el: host});
  const root = host.querySelector('.kr-stream'), canvas = host.querySelector('canvas');
  const raf = () => new Promise(r => requestAnimationFrame(() => r()));
  await raf(); await raf();
  const draws = [], updates = [];
  for (let i = 0; i < frames; i++) {  // zoom in and out around the middle: one redraw per frame
    const r = canvas.getBoundingClientRect();
    canvas.dispatchEvent(new WheelEvent('wheel', {deltaY: i % 20 < 10 ? -120 : 120, clientX: r.left + r.width / 2,
                                                 clientY: r.top + 5, bubbles: true, cancelable: true}));
    await raf(); draws.push(+root.dataset.drawMs);
  }
  for (let i = 0; i < 10; i++) {  // a new payload from the kernel: re-index and redraw
    const t = performance.now(); handlers['change:data'](); await raf(); updates.push(performance.now() - t);
  }
  return {draws, updates, bars: +root.dataset.bars, drawn: +root.dataset.drawn};
}"""


def bench_browser(n: int) -> dict | None:
    if not os.path.exists("/usr/bin/chromium"):
        return None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    payload = fake_payload(n)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                    args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.set_content("<html><body></body></html>")
            r = page.evaluate(FRAMES_JS, [STREAM_JS.read_text(), payload, 60])
        finally:
            browser.close()
    draws = sorted(r["draws"])
    return {"bars": r["bars"], "draw_ms_median": round(statistics.median(draws), 2),
            "draw_ms_p95": round(draws[int(0.95 * (len(draws) - 1))], 2),
            "update_ms_median": round(statistics.median(r["updates"]), 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--no-kernel", action="store_true")
    a = ap.parse_args()
    out = {}
    if not a.no_kernel:
        out["kernel"] = bench_kernel(a.tasks, a.rounds)
    if not a.no_browser:
        out["browser"] = bench_browser(a.tasks)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
