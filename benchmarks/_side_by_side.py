"""Run one benchmark file as a child per engine and print both engines side by side.

Each benchmark file has a ``child(engine)`` that prints one JSON line per metric and
ends with ``compare(__file__, child)``.  kernelray runs under this interpreter, Ray under
RAY_PYTHON (default /tmp/rayvenv/bin/python, a benchmark-only venv).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

LOWER_IS_BETTER = {"s", "ms", "us"}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ensure_bytecode() -> None:
    """Compile kernelray's modules to .pyc first, as ``pip install`` does for Ray.

    An editable install under PYTHONDONTWRITEBYTECODE=1 (this machine's default) never
    caches bytecode, so every process would compile our sources again (about 60 ms each):
    without this, start-up figures compare compiled Ray with uncompiled kernelray.
    """
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(ROOT, "kernelray")], check=False)


def run(python: str, script: str, engine: str) -> dict:
    out = subprocess.run([python, script, "--child", engine], capture_output=True, text=True, timeout=900)
    rows = {}
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            rows[r["metric"]] = r
    if out.returncode != 0:
        print(f"[{engine}] exited {out.returncode}: {out.stderr[-1500:]}", file=sys.stderr)
    return rows


def ratio(a, b, unit: str) -> str:
    if not a or not b:
        return ""
    if unit in LOWER_IS_BETTER:
        return f"1/{b / a:.1f}" if a < b else f"{a / b:.1f}x slower"
    return f"{a / b:.1f}x"


def compare(script: str, child) -> None:
    """The main of a benchmark file: ``--child ENGINE`` runs ``child(ENGINE)``; otherwise
    both engines run as children and a Markdown table compares them."""
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return
    script = os.path.abspath(script)
    ensure_bytecode()
    kr = run(sys.executable, script, "kernelray")
    ray_python = os.environ.get("RAY_PYTHON", "/tmp/rayvenv/bin/python")
    ray = run(ray_python, script, "ray") if os.path.exists(ray_python) else {}
    if not ray:
        print(f"(no Ray at {ray_python}: set RAY_PYTHON, or run bench_vs_ray.py --setup-ray)", file=sys.stderr)
    print("| metric | kernelray | Ray | kernelray vs Ray |")
    print("|---|---|---|---|")
    for metric in sorted(kr.keys() | ray.keys()):
        a, b = kr.get(metric, {}).get("value"), ray.get(metric, {}).get("value")
        unit = (kr.get(metric) or ray.get(metric))["unit"]
        fa = "n/a" if a is None else f"{a:.4g}"
        fb = "n/a" if b is None else f"{b:.4g}"
        print(f"| {metric} ({unit}) | {fa} | {fb} | {ratio(a, b, unit)} |")


def emitter(engine: str):
    def emit(metric, value, unit, **detail):
        print(json.dumps({"engine": engine, "metric": metric, "value": value, "unit": unit, **detail}), flush=True)

    return emit
