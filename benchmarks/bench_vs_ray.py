"""kernelray beside Ray, on this machine, in the same run.

Runs the common yardstick (``../shared/bench/raybench.py``) once with ``--engine kernelray``
from this interpreter and once with ``--engine ray`` from a benchmark-only venv (Ray is
never a dependency of kernelray), then prints both side by side with the ratio.

    python benchmarks/bench_vs_ray.py                     # every workload
    python benchmarks/bench_vs_ray.py --workloads task_throughput,task_latency
    python benchmarks/bench_vs_ray.py --setup-ray         # create the Ray venv first (pip install ray)
    python benchmarks/bench_vs_ray.py --limits            # also print the machine's floors (limits.py)

Environment: RAYBENCH (path to raybench.py), RAY_PYTHON (a python with Ray installed;
default /tmp/rayvenv/bin/python).  Figures are noisy on a shared 2-core machine (+-30 %):
compare the two engines of one run, not runs of different days.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_BENCH = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "bench"))

# metric -> (better is "higher" | "lower", the goal as a ratio to Ray)
GOALS = {
    "cold_start_s": ("lower", "<= 1/10"),
    "idle_memory_mb": ("lower", "<= 1/4"),
    "shutdown_s": ("lower", "<= 1/4"),
    "task_throughput": ("higher", ">= 4x"),
    "task_latency_p50_us": ("lower", "<= 1/5"),
    "task_latency_p99_us": ("lower", ""),
    "actor_call_throughput": ("higher", ">= 3x"),
    "actor_call_latency_p50_us": ("lower", "<= 1/4"),
    "actor_call_latency_p99_us": ("lower", ""),
    "put_get_small": ("higher", ">= 10x"),
    "put_large_gbps": ("higher", ">= 2x"),
    "get_large_gbps": ("higher", "zero-copy"),
    "get_large_zero_copy": ("higher", ""),
    "large_arg_task_s": ("lower", ""),
    "tree_reduce_s": ("lower", "<= 1/2"),
    "nested_tasks_s": ("lower", ""),
    "nested_tasks_warm_s": ("lower", ""),
    "parallel_sleep_s": ("lower", ""),
    "parallel_sleep_warm_s": ("lower", ""),
    "api_compat_checks": ("higher", ""),
}


def run_engine(python: str, bench_dir: str, engine: str, out: str, workloads: str | None, scale: float) -> None:
    cmd = [python, os.path.join(bench_dir, "raybench.py"), "--engine", engine, "--out", out, "--scale", str(scale)]
    if workloads:
        cmd += ["--workloads", workloads]
    print(f"$ {' '.join(cmd)}", file=sys.stderr, flush=True)
    subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL)


def records_by_metric(path: str) -> dict:
    with open(path) as f:
        run = json.load(f)
    out = {}
    for r in run.get("records", []):
        out[r.get("metric") or r.get("name") or r.get("workload")] = r
    return out


def fmt(v) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


def ratio_text(metric: str, kr, ray) -> str:
    if kr in (None, 0) or ray in (None, 0):
        return ""
    better, _ = GOALS.get(metric, ("higher", ""))
    if better == "higher":
        return f"{kr / ray:.1f}x"
    return f"1/{ray / kr:.1f}" if kr < ray else f"{kr / ray:.1f}x slower"


def table(kr: dict, ray: dict) -> str:
    lines = ["| metric | kernelray | Ray | kernelray vs Ray | goal |", "|---|---|---|---|---|"]
    for metric in GOALS:
        a, b = kr.get(metric), ray.get(metric)
        if a is None and b is None:
            continue
        va = a.get("value") if a else None
        vb = b.get("value") if b else None
        unit = (a or b).get("unit", "")
        lines.append(f"| {metric} ({unit}) | {fmt(va)} | {fmt(vb)} | {ratio_text(metric, va, vb)} | {GOALS[metric][1]} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default=None)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--setup-ray", action="store_true", help="create /tmp/rayvenv with Ray (needs the package index)")
    p.add_argument("--limits", action="store_true", help="also run limits.py (the machine's floors)")
    p.add_argument("--out-dir", default=None)
    args = p.parse_args(argv)
    bench_dir = os.path.dirname(os.environ["RAYBENCH"]) if os.environ.get("RAYBENCH") else DEFAULT_BENCH
    ray_python = os.environ.get("RAY_PYTHON", "/tmp/rayvenv/bin/python")
    if args.setup_ray and not os.path.exists(ray_python):
        subprocess.run([sys.executable, "-m", "venv", "/tmp/rayvenv"], check=True)
        subprocess.run(["/tmp/rayvenv/bin/pip", "install", "-q", "ray", "numpy", "psutil"], check=True)
    out_dir = args.out_dir or tempfile.mkdtemp(prefix="kernelray-bench-")
    os.makedirs(out_dir, exist_ok=True)
    kr_out, ray_out = os.path.join(out_dir, "kernelray.json"), os.path.join(out_dir, "ray.json")
    from _side_by_side import ensure_bytecode

    ensure_bytecode()  # as pip does on install (Ray's venv has its .pyc files)
    run_engine(sys.executable, bench_dir, "kernelray", kr_out, args.workloads, args.scale)
    kr = records_by_metric(kr_out)
    ray = {}
    if os.path.exists(ray_python):
        run_engine(ray_python, bench_dir, "ray", ray_out, args.workloads, args.scale)
        ray = records_by_metric(ray_out)
    else:
        print(f"(no Ray at {ray_python}: run with --setup-ray, or set RAY_PYTHON)", file=sys.stderr)
    print(table(kr, ray))
    print(f"\nraw runs: {out_dir}")
    if args.limits:
        subprocess.run([sys.executable, os.path.join(bench_dir, "limits.py")], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
