"""``kernelray`` command line: start, stop, status (rendered with rich).

    kernelray start --head [--port P] [--num-cpus N] [--num-gpus N] [--resources JSON]
    kernelray start --address HOST:PORT [--num-cpus N ...]     # join a worker node
    kernelray status [--address HOST:PORT]
    kernelray memory [--address HOST:PORT] [--group-by call_site|cell|owner]
    kernelray stop                                              # this machine's clusters and leftovers
    kernelray list tasks|actors|objects|placement-groups|nodes|workers [--filter K=V] [--limit N]
    kernelray summary tasks|actors|objects
    kernelray timeline [--output FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time

from . import node as krnode


def _console():
    from rich.console import Console

    return Console()


def _resources(args, ip: str) -> dict:
    from .api import _default_cpus, _total_memory
    from .raylet.resources import node_resources

    extra = json.loads(args.resources) if args.resources else {}
    if not isinstance(extra, dict):
        raise SystemExit("--resources must be a JSON object, e.g. '{\"TPU\": 2}'")
    cpus = _default_cpus() if args.num_cpus is None else args.num_cpus
    from .object_store import arena as arena_mod

    memory = _total_memory()
    store = int(args.object_store_memory or arena_mod.default_size(memory))
    arena_mod.check_room(store)
    return node_resources(cpus, args.num_gpus or 0, extra, memory * 0.7, store, ip), int(cpus)


def cmd_start(args) -> int:
    console = _console()
    ip = args.node_ip_address
    if args.head:
        port = args.port or 6380
        session_dir = krnode.new_session_dir()
        key = krnode.new_key_hex()
        procs = krnode.ClusterProcesses(session_dir, key, ip, watch_parent=False)
        total, cpus = _resources(args, ip)
        gcs = procs.spawn_gcs_keeper(port, args.gcs_storage or "")
        raylet = procs.spawn_raylet(f"tcp://{ip}:{port}", total, prestart=cpus, head=True)
        try:
            procs.wait_ready([gcs, raylet])
        except Exception as exc:  # noqa: BLE001
            procs.stop()
            console.print(f"[red]kernelray start failed:[/red] {exc}")
            return 1
        info = {
            "ip": ip, "port": port, "gcs_address": f"tcp://{ip}:{port}", "address": f"{ip}:{port}",
            "raylet_address": raylet.info["address"], "node_id": raylet.info["node_id"],
            "session_dir": session_dir, "key": key, "gcs_pid": gcs.info["pid"],
            "pids": procs.pids(), "started_by_pid": None,
        }
        path = krnode.write_connection_file(info, current=True)
        console.print(f"[green]Started a kernelray head[/green] at [bold]{ip}:{port}[/bold] ({cpus} CPUs).")
        console.print(f"  Connection file (mode 0600, holds the cluster key): {path}")
        console.print(f"  From Python on this machine:  kernelray.init(address=\"{ip}:{port}\")  or  init(address=\"auto\")")
        console.print(f"  Join another node:             kernelray start --address {ip}:{port}")
        console.print("  Stop everything:               kernelray stop")
        return 0
    if not args.address:
        console.print("[red]Give --head to start a head node, or --address HOST:PORT to join one.[/red]")
        return 2
    try:
        info = krnode.read_connection_file(args.address)
    except (ConnectionError, ValueError) as exc:
        console.print(f"[red]{exc}[/red]")
        return 1
    session_dir = info["session_dir"]
    procs = krnode.ClusterProcesses(session_dir, info["key"], ip, watch_parent=False)
    total, cpus = _resources(args, ip)
    raylet = procs.spawn_raylet(info["gcs_address"], total, prestart=cpus, head=False)
    try:
        procs.wait_ready([raylet])
    except Exception as exc:  # noqa: BLE001
        procs.stop()
        console.print(f"[red]kernelray start failed:[/red] {exc}")
        return 1
    console.print(f"[green]Joined[/green] {info['address']} with a node of {cpus} CPUs (node {raylet.info['node_id'][:8]}).")
    return 0


def _connection_files() -> list:
    out = []
    if os.path.isdir(krnode.CLUSTERS_DIR):
        for name in sorted(os.listdir(krnode.CLUSTERS_DIR)):
            path = os.path.join(krnode.CLUSTERS_DIR, name)
            try:
                with open(path) as f:
                    out.append((path, json.load(f)))
            except (OSError, ValueError):
                continue
    return out


def cmd_stop(args) -> int:
    """Stop every cluster this user runs here, and reap leftovers of dead sessions."""
    console = _console()
    sessions = {}
    for pid, sid in krnode.session_processes():
        if os.path.isdir(os.path.join(krnode.ROOT, sid)):  # only clusters of this kernelray root
            sessions.setdefault(sid, []).append(pid)
    killed = 0
    for sid, pids in sessions.items():
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
                killed += 1
            except OSError:
                pass
    deadline = time.monotonic() + 3
    from ._process import pid_alive

    while time.monotonic() < deadline and any(pid_alive(p) for ps in sessions.values() for p in ps):
        time.sleep(0.05)
    for ps in sessions.values():
        for p in ps:
            if pid_alive(p):
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
    for path, _ in _connection_files():
        os.unlink(path)
    if os.path.exists(krnode.CURRENT_CLUSTER):
        os.unlink(krnode.CURRENT_CLUSTER)
    console.print(f"Stopped {killed} kernelray processes in {len(sessions)} session(s).")
    return 0


def cmd_status(args) -> int:
    import kernelray

    from .cli_state import _connect

    console = _console()
    if not _connect(args, console):
        return 1
    try:
        render_status(console, note=" (this status command is one)")
    finally:
        kernelray.shutdown()
    return 0


def render_status(console, note: str = "") -> None:
    """Nodes, resources used/total, jobs and tasks by state (needs a connected driver)."""
    from rich.table import Table

    import kernelray

    from .core import context

    nodes = kernelray.nodes()
    avail_by_node = {}
    core = context.core
    for n in core.call(core.gcs, "get_all_nodes_request", {}).content["nodes"]:
        avail_by_node[n["node_id"]] = n.get("resources_available") or {}
    table = Table(title=f"kernelray cluster {kernelray.api._driver.info.get('address')}")
    for col in ("node", "state", "address", "CPU used/total", "GPU used/total", "store total", "other"):
        table.add_column(col)
    for n in nodes:
        res, av = n["Resources"], avail_by_node.get(n["NodeID"], {})

        def used(k):
            if k not in res:
                return "-"
            return f"{res[k] - av.get(k, 0):g}/{res[k]:g}"

        other = {k: v for k, v in res.items() if k not in ("CPU", "GPU", "memory", "object_store_memory")
                 and not k.startswith("node:")}
        table.add_row(n["NodeID"][:8] + (" (head)" if n["IsHead"] else ""), "ALIVE" if n["Alive"] else "DEAD",
                      n["RayletAddress"], used("CPU"), used("GPU"),
                      f"{res.get('object_store_memory', 0) / 1e9:.1f} GB", json.dumps(other) if other else "")
    console.print(table)
    jobs = core.call(core.gcs, "get_all_jobs_request", {}).content["jobs"]
    running = [j for j in jobs if j["state"] == "RUNNING"]
    console.print(f"Jobs: {len(running)} running, {len(jobs) - len(running)} finished{note}.")
    from .cli_state import task_state_lines

    for line in task_state_lines():
        console.print(line)


def cmd_memory(args) -> int:
    """References per object, grouped by call site (or cell, or owner), and the object store's use."""
    import kernelray

    from .cli_state import _connect

    console = _console()
    if not _connect(args, console):
        return 1
    try:
        render_memory(console, args.group_by, args.limit, skip_pid=os.getpid())
    finally:
        kernelray.shutdown()
    return 0


def group_key(row: dict, group_by: str) -> str:
    """The group of one reference: its call site, the notebook cell part of it, or its owner."""
    if group_by == "owner":
        return row["owner"] or "(unknown)"
    site = row["call_site"] or ""
    if group_by == "cell":
        return site.split(":", 1)[0] if site.startswith("In [") else "(not made in a notebook cell)"
    return site or "(unknown)"


def render_memory(console, group_by: str = "call_site", limit: int = 20, skip_pid: int | None = None) -> None:
    """Every reference in the cluster, grouped, and each store's use (needs a connected driver)."""
    from rich.table import Table

    from kernelray.util import state

    rows = state.list_objects(detail=True)
    if skip_pid is not None:  # the CLI's own driver holds nothing worth listing
        rows = [r for r in rows if r["type"] != "DRIVER" or r["pid"] != skip_pid]
    for st in state.store_stats():
        console.print(
            f"Object store of node {st['node_id'][:8]}: {st['used'] / 2**20:.1f} MiB used of "
            f"{st['capacity'] / 2**20:.1f} MiB, {st['num_objects']} objects, "
            f"{st['num_spilled_now']} spilled now ({st['spilled_bytes_total'] / 2**20:.1f} MiB spilled, "
            f"{st['restored_bytes_total'] / 2**20:.1f} MiB restored so far)"
        )
    groups: dict = {}
    for r in rows:
        groups.setdefault(group_key(r, group_by), []).append(r)
    for group, items in sorted(groups.items(), key=lambda kv: -sum(r["object_size"] or 0 for r in kv[1])):
        total = sum(r["object_size"] or 0 for r in items if r["reference_type"] != "BORROWED")
        table = Table(title=f"{group}  ({len(items)} refs, {total / 2**20:.2f} MiB)", title_justify="left")
        for col in ("object id", "pid", "type", "reference", "size", "where", "borrowers", "call site"):
            table.add_column(col)
        for r in sorted(items, key=lambda r: -(r["object_size"] or 0))[:limit]:
            size = r["object_size"]
            table.add_row(r["object_id"][:12] + "…" + r["object_id"][-8:], str(r["pid"]), r["type"],
                          ", ".join(r["reference_types"]), f"{size / 2**10:.1f} KiB" if size is not None else "?",
                          r["location"], str(r["borrowers"]), r["call_site"] or "")
        console.print(table)
    if not rows:
        console.print("No object references are held in the cluster.")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="kernelray", description="kernelray cluster control")
    sub = parser.add_subparsers(dest="cmd", required=True)
    start = sub.add_parser("start", help="start a head node (--head) or join one (--address)")
    start.add_argument("--head", action="store_true")
    start.add_argument("--address", default=None)
    start.add_argument("--port", type=int, default=None)
    start.add_argument("--node-ip-address", default="127.0.0.1")
    start.add_argument("--num-cpus", type=int, default=None)
    start.add_argument("--num-gpus", type=int, default=None)
    start.add_argument("--resources", default=None, help="JSON, e.g. '{\"TPU\": 2}'")
    start.add_argument("--object-store-memory", type=int, default=None)
    start.add_argument("--gcs-storage", default=None,
                       help="where the GCS keeps its tables: a SQLite path (default: the session folder), "
                            "'memory', or redis://host:port/db")
    start.set_defaults(func=cmd_start)
    stop = sub.add_parser("stop", help="stop this machine's kernelray processes (and leftovers of dead sessions)")
    stop.set_defaults(func=cmd_stop)
    status = sub.add_parser("status", help="nodes and resources of a running cluster")
    status.add_argument("--address", default=None)
    status.set_defaults(func=cmd_status)
    memory = sub.add_parser("memory", help="object references per call site, and the object store's use")
    memory.add_argument("--address", default=None)
    memory.add_argument("--group-by", choices=["call_site", "cell", "owner"], default="call_site")
    memory.add_argument("--limit", type=int, default=50)
    memory.set_defaults(func=cmd_memory)
    from . import cli_state

    cli_state.register(sub)  # list, summary, timeline (cli_state.py)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
