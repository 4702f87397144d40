"""The state commands of the ``kernelray`` CLI (registered by cli.py):

    kernelray list tasks|actors|objects|placement-groups|nodes|workers [--filter KEY=VALUE | KEY!=VALUE ...]
                   [--limit N] [--detail] [--format table|json] [--address HOST:PORT]
    kernelray summary tasks|actors|objects [--format table|json]
    kernelray timeline [--output FILE]
"""

from __future__ import annotations

import json
import os
import time

RESOURCES = ["tasks", "actors", "objects", "placement-groups", "nodes", "workers"]


def _console():
    from rich.console import Console

    return Console()


def _parse_filter(text: str) -> tuple:
    if "!=" in text:
        k, v = text.split("!=", 1)
        return (k.strip(), "!=", v.strip())
    if "=" in text:
        k, v = text.split("=", 1)
        return (k.strip(), "=", v.strip())
    raise ValueError(f"--filter takes KEY=VALUE or KEY!=VALUE, got {text!r}")


def _connect(args, console) -> bool:
    import kernelray

    try:
        kernelray.init(address=getattr(args, "address", None) or "auto", log_to_driver=False)
    except (ConnectionError, ValueError) as exc:
        console.print(f"[red]{exc}[/red]")
        return False
    return True


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.3f}" if v < 1e6 else f"{v:.0f}"
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return str(v)


def _table(title: str, cols: list, rows: list, short_ids: bool = True):
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for c in cols:
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(*[_short(c, r.get(c)) if short_ids else _cell(r.get(c)) for c in cols])
    return table


def _short(column: str, value) -> str:
    """Ids are long: the table shows their ends (--detail and --format json show them whole)."""
    text = _cell(value)
    if column.endswith("_id") and len(text) > 20:
        return text[:16] + "…"  # task ids: the submitting process (8) and its counter (8)
    return text


def _list(resource: str, filters, limit: int, detail: bool) -> list:
    from .util import state

    fn = {"tasks": state.list_tasks, "actors": state.list_actors, "objects": state.list_objects,
          "placement-groups": state.list_placement_groups, "nodes": state.list_nodes,
          "workers": state.list_workers}[resource]
    return fn(filters=filters, limit=limit, detail=detail)


def cmd_list(args) -> int:
    import kernelray
    from .util import state

    console = _console()
    try:
        filters = [_parse_filter(f) for f in args.filter or ()]
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    if not _connect(args, console):
        return 1
    try:
        try:
            rows = _list(args.resource, filters, args.limit, args.detail)
        except ValueError as exc:
            console.print(f"[red]{exc}[/red]")
            return 2
        if args.resource == "objects":  # not the references this command's own driver holds
            rows = [r for r in rows if not (r.get("type") == "DRIVER" and r.get("pid") == os.getpid())]
        if args.format == "json":
            print(json.dumps([dict(r) for r in rows], default=str))
            return 0
        key = args.resource.replace("-", "_")
        cols = state.columns(key, args.detail)
        if args.resource == "tasks" and not args.detail:  # the long ids are for --detail and JSON
            cols = [c for c in cols if c not in ("parent_task_id", "actor_id", "language", "job_id", "type",
                                                 "func_or_class_name")]
        console.print(_table(f"{len(rows)} {args.resource}" + (f" (limit {args.limit})" if len(rows) >= args.limit else ""),
                             cols, rows, short_ids=not args.detail))
        if not rows:
            console.print(f"No {args.resource} match." if filters else f"No {args.resource}.")
    finally:
        kernelray.shutdown()
    return 0


def cmd_summary(args) -> int:
    import kernelray
    from rich.table import Table

    from .util import state

    console = _console()
    if not _connect(args, console):
        return 1
    try:
        if args.resource == "tasks":
            s = state.summarize_tasks()
        elif args.resource == "actors":
            s = state.summarize_actors()
        else:
            s = state.summarize_objects()
        if args.format == "json":
            print(json.dumps(s, default=str))
            return 0
        cluster = s["cluster"]
        if args.resource == "objects":
            table = Table(title=f"{cluster['total_objects']} objects by call site", title_justify="left")
            for c in ("call site", "objects", "size MB", "reference types"):
                table.add_column(c, overflow="fold")
            for site, g in cluster["summary"].items():
                table.add_row(site, str(g["total_objects"]), f"{g['total_size_mb']:.2f}", json.dumps(g["reference_types"]))
            console.print(table)
            return 0
        states = sorted({k for g in cluster["summary"].values() for k in g["state_counts"]})
        what = "function" if args.resource == "tasks" else "class"
        total = cluster.get("total_tasks", cluster.get("total_actors", 0))
        if args.resource == "tasks":  # (Ray's total_tasks counts normal tasks only)
            total += cluster.get("total_actor_tasks", 0) + cluster.get("total_actor_scheduled", 0)
        table = Table(title=f"{total} {args.resource} by {what} and state", title_justify="left")
        table.add_column(what)
        if args.resource == "tasks":
            table.add_column("type")
        for st in states:
            table.add_column(st, justify="right")
        for name, g in sorted(cluster["summary"].items()):
            row = [name] + ([g["type"]] if args.resource == "tasks" else [])
            table.add_row(*row, *[str(g["state_counts"].get(st, 0)) for st in states])
        console.print(table)
        if args.resource == "tasks" and cluster.get("evicted"):
            console.print(f"({cluster['evicted']} older tasks left the table; their final states are still counted)")
    finally:
        kernelray.shutdown()
    return 0


def cmd_timeline(args) -> int:
    import kernelray

    console = _console()
    if not _connect(args, console):
        return 1
    try:
        output = args.output or f"kernelray-timeline-{time.strftime('%Y-%m-%d_%H-%M-%S')}.json"
        events = kernelray.timeline(filename=output)
        n = sum(1 for e in events if e.get("ph") == "X")
        console.print(f"Wrote {n} task executions to {output}: open it in chrome://tracing or https://ui.perfetto.dev")
    finally:
        kernelray.shutdown()
    return 0


def task_state_lines() -> list:
    """For ``kernelray status``: the cluster's tasks by state (one line each)."""
    from .util import state

    s = state.task_summary()
    totals = {k: v for k, v in s["totals"].items() if v}
    if not totals:
        return ["Tasks: none reported yet."]
    return ["Tasks: " + ", ".join(f"{v} {k}" for k, v in totals.items())]


def register(sub) -> None:
    """Add ``list``, ``summary`` and ``timeline`` to the CLI's subcommands."""
    p = sub.add_parser("list", help="list tasks, actors, objects, placement groups, nodes or workers")
    p.add_argument("resource", choices=RESOURCES)
    p.add_argument("--filter", action="append", metavar="KEY=VALUE", help="KEY=VALUE or KEY!=VALUE; repeatable")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--detail", action="store_true", help="every column")
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("--address", default=None)
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("summary", help="tasks per function and state, actors per class, objects per call site")
    p.add_argument("resource", choices=["tasks", "actors", "objects"])
    p.add_argument("--format", choices=["table", "json"], default="table")
    p.add_argument("--address", default=None)
    p.set_defaults(func=cmd_summary)
    p = sub.add_parser("timeline", help="write the tasks' Chrome trace (chrome://tracing, Perfetto) as JSON")
    p.add_argument("--output", "-o", default=None)
    p.add_argument("--address", default=None)
    p.set_defaults(func=cmd_timeline)
