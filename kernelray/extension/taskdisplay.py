"""``display()`` that works in tasks: rich output travels back to the submitting cell.

In the notebook (the driver) this is IPython's ``display``.  In a worker running a task
submitted from a cell, each object becomes a MIME bundle (IPython's formatters when
IPython is importable there, else ``text/plain``) written to the task's output as one
JSON line on the ``display`` stream; the driver's output handler publishes it on IOPub as
``display_data`` under the cell's parent header, after the text printed before it.
Anywhere else (a task not submitted from a cell, a plain script) it prints, as IPython's
own ``display`` does outside a kernel.

The extension puts this function in the notebook namespace as ``display``, so functions
defined in cells that call ``display(...)`` ship it with them (IPython's builtin
``display`` is not a global, so it would not reach a worker).
"""

from __future__ import annotations

import base64
import json

DISPLAY_STREAM = "display"
_formatter = None


def _json_default(obj):
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(obj)).decode("ascii")
    return str(obj)


def mime_bundle(obj, raw: bool = False) -> tuple:
    """(data, metadata) for ``obj``: IPython's formatters, or its repr."""
    global _formatter
    if raw and isinstance(obj, dict):
        return obj, {}
    try:
        if _formatter is None:
            from IPython.core.formatters import DisplayFormatter

            _formatter = DisplayFormatter()
        data, md = _formatter.format(obj)
    except Exception:  # noqa: BLE001 - no IPython on the worker, or a broken _repr_*_
        data, md = {"text/plain": repr(obj)}, {}
    return data, md


def _task_route():
    from ..core import context

    core = context.core
    if core is None or getattr(core, "executor", None) is None:
        return None, None
    ctx = context.current_task()
    route = getattr(ctx, "route", None) if ctx is not None else None
    parent = route.get("parent") if isinstance(route, dict) else None
    if isinstance(parent, dict) and parent.get("msg_id"):
        return core.executor, route
    return core.executor, None


def display(*objs, include=None, exclude=None, metadata=None, transient=None, display_id=None, raw=False,
            clear=False, **kwargs):
    """Show objects in the notebook cell that submitted the running task (or here)."""
    executor, route = _task_route()
    if executor is None:  # the driver: IPython's display (or print outside IPython)
        try:
            from IPython.display import display as ipy_display
        except ImportError:  # pragma: no cover - IPython is there whenever a notebook is
            print(*objs)
            return None
        return ipy_display(*objs, include=include, exclude=exclude, metadata=metadata, transient=transient,
                           display_id=display_id, raw=raw, clear=clear, **kwargs)
    if route is None:
        print(*objs)
        return None
    import sys

    sys.stdout.flush()
    for obj in objs:
        data, md = mime_bundle(obj, raw)
        if include:
            data = {k: v for k, v in data.items() if k in include}
        if exclude:
            data = {k: v for k, v in data.items() if k not in exclude}
        if metadata:
            md = {**md, **metadata}
        line = json.dumps({"data": data, "metadata": md}, default=_json_default)
        executor.write_output(DISPLAY_STREAM, line + "\n")
    return None


def decode_display_text(text: str) -> list:
    """The (data, metadata) bundles of one ``display`` stream chunk (driver side)."""
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            out.append(({"text/plain": line}, {}))
            continue
        out.append((msg.get("data") or {}, msg.get("metadata") or {}))
    return out
