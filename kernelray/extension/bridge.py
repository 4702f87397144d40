"""The bridge between an IPython shell (a Jupyter kernel) and the driver's CoreWorker.

* **Routing.**  ``core.route_hook`` captures the parent header of the cell that submits
  work (the ``execute_request`` the kernel is handling in that context); every task
  carries it, nested tasks inherit it.  Worker output comes back to the driver's loop
  thread as ``output_emitted``; ``output_handler`` writes it to the kernel's stdout /
  stderr ``OutStream`` with that header as the *thread* parent (ipykernel's
  ``set_thread_parent``), so it joins the cell's own output buffer, in order, and is
  published under the cell even when another cell runs by then.  ``display`` chunks
  become ``display_data`` through the shell's display publisher, the same way.
  Output of work not submitted from a cell keeps Ray's ``(name pid=N)`` lines.
* **Interrupts.**  Every task the driver submits is recorded under its cell.  When a
  cell ends with ``KeyboardInterrupt`` (Jupyter's interrupt, sent as SIGINT to the
  kernel only: cluster processes run in their own sessions), its unfinished tasks are
  cancelled, force-cancelled after a grace period, and the cell says what it cancelled.
* **Notebook code.**  Before each cell, local modules are checked (see ``modules.py``).

One bridge per process (:data:`bridge`); ``attach(shell)`` is idempotent.  It hooks the
CoreWorker now if connected, and every later one through ``api._on_connect``.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import threading
import time
from collections import OrderedDict

log = logging.getLogger("kernelray.jupyter")

CANCEL_GRACE_S = 1.0  # a cancelled task gets this long to stop before it is force-cancelled
CANCEL_TIMEOUT_S = 5.0  # how long an interrupted cell waits for force-cancelled tasks
_HEADER_KEYS = ("msg_id", "msg_type", "session", "username", "date", "version")


class CellTasks:
    """Task IDs submitted by this driver, per cell (msg_id); the last few cells only."""

    KEEP_CELLS = 64
    PRUNE_AT = 4096

    def __init__(self):
        self._lock = threading.Lock()
        self._cells: OrderedDict = OrderedDict()

    def add(self, key, task_id: bytes, name: str, live=None) -> None:
        with self._lock:
            entry = self._cells.get(key)
            if entry is None:
                entry = self._cells[key] = [[], self.PRUNE_AT]  # tasks, length at which to drop finished ones
                while len(self._cells) > self.KEEP_CELLS:
                    self._cells.popitem(last=False)
            lst = entry[0]
            lst.append((task_id, name))
            if live is not None and len(lst) >= entry[1]:
                lst[:] = [t for t in lst if t[0] in live]
                entry[1] = max(self.PRUNE_AT, 2 * len(lst))  # amortized O(1) per task

    def of(self, key) -> list:
        with self._lock:
            entry = self._cells.get(key)
            return list(entry[0]) if entry is not None else []

    def clear(self) -> None:
        with self._lock:
            self._cells.clear()


class TaskCells:
    """Which cell (its execution count, ``In [N]``) submitted each recent task: the task stream highlights
    a cell's bars when the cell is selected.  Bounded: the newest ``KEEP`` tasks."""

    KEEP = 50_000

    def __init__(self):
        self.count_of_key: OrderedDict = OrderedDict()  # cell key -> execution count (recent cells)
        self.cell_of_task: OrderedDict = OrderedDict()  # task id hex[:12] -> execution count

    def cell_started(self, key, count) -> None:
        if key is not None and isinstance(count, int):
            self.count_of_key[key] = count
            while len(self.count_of_key) > CellTasks.KEEP_CELLS:
                self.count_of_key.popitem(last=False)

    def add(self, key, task_id: bytes) -> None:
        count = self.count_of_key.get(key)
        if count is not None:
            self.cell_of_task[task_id.hex()[:12]] = count
            if len(self.cell_of_task) > self.KEEP:
                self.cell_of_task.popitem(last=False)

    def lookup(self, task_id12: str):
        return self.cell_of_task.get(task_id12)


class JupyterBridge:
    def __init__(self):
        self.shell = None
        self.kernel = None
        self.streams: dict = {}
        self.display_pub = None
        self.core = None
        self.cells = CellTasks()
        self.task_cells = TaskCells()
        self.cell_counter = 0  # shells without a kernel (terminal IPython): cells by number
        self.started_job_id = None  # the connection the magics started (shut down on unload)
        self.modules = None
        self._cached = (None, None)
        self._headers: OrderedDict = OrderedDict()  # msg_id -> the kernel's header of recent cells
        self._headers_lock = threading.Lock()

    # -- attaching ----------------------------------------------------------------------
    @property
    def attached(self) -> bool:
        return self.shell is not None

    def attach(self, shell) -> None:
        from .. import api
        from ..core import context
        from .modules import LocalModules

        if self.shell is shell:
            return
        if self.shell is not None:
            self.detach()
        self.shell = shell
        self.kernel = getattr(shell, "kernel", None)
        self.streams = {}
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if hasattr(stream, "set_thread_parent") and self.kernel is not None:
                self.streams[name] = stream
        pub = getattr(shell, "display_pub", None)
        self.display_pub = pub if hasattr(pub, "set_thread_parent") else None
        self.modules = LocalModules()
        shell.events.register("pre_run_cell", self._pre_run_cell)
        shell.events.register("post_run_cell", self._post_run_cell)
        if self._on_connect not in api._on_connect:
            api._on_connect.append(self._on_connect)
        core = context.core
        if core is not None and getattr(core, "mode", None) == "driver":
            self._on_connect(core)

    def detach(self) -> None:
        from .. import api

        shell = self.shell
        if shell is None:
            return
        for event, fn in (("pre_run_cell", self._pre_run_cell), ("post_run_cell", self._post_run_cell)):
            try:
                shell.events.unregister(event, fn)
            except ValueError:
                pass
        try:
            api._on_connect.remove(self._on_connect)
        except ValueError:
            pass
        self._unhook(self.core)
        self.shell = self.kernel = self.display_pub = None
        self.streams = {}
        self.cells.clear()

    def _on_connect(self, core) -> None:
        """Hook a newly connected driver CoreWorker (from ``api._connect``)."""
        if self.core is not None and self.core is not core:
            self._unhook(self.core)
        self.core = core
        core.route_hook = self.route_hook
        if core.output_handler is None:  # None unless init(log_to_driver=False) silenced it
            core.output_handler = self.output_handler
        live = core.submitter.tasks
        core.submitter.on_submit = lambda spec: self._record(spec, live)  # (loop thread)

    def _unhook(self, core) -> None:
        if core is None:
            return
        if getattr(core, "route_hook", None) == self.route_hook:
            core.route_hook = None
        if getattr(core, "output_handler", None) == self.output_handler:
            core.output_handler = None
        core.submitter.on_submit = None
        if self.core is core:
            self.core = None

    # -- which cell is submitting ---------------------------------------------------------
    def current_parent(self):
        """The JSON-able header of the cell running in this context, or None."""
        kernel = self.kernel
        if kernel is None:
            if self.shell is not None and threading.current_thread() is threading.main_thread():
                return {"cell": self.cell_counter}
            return None
        msg = None
        var = getattr(kernel, "_shell_parent", None)
        if isinstance(var, contextvars.ContextVar):
            try:
                msg = var.get()  # set in the shell's context (main thread, subshells); unset in threads
            except LookupError:
                msg = None
        elif threading.current_thread() is threading.main_thread():
            msg = kernel.get_parent()
        if not msg:
            out = self.streams.get("stdout")  # a thread that set a thread parent on purpose
            pvar = getattr(out, "_parent_header", None)
            if isinstance(pvar, contextvars.ContextVar):
                try:
                    msg = pvar.get()
                except LookupError:
                    msg = None
        if not msg:
            return None
        header = msg.get("header", msg)
        if header.get("msg_type") != "execute_request":
            return None
        msg_id = header.get("msg_id")
        cached = self._cached  # one tuple: threads never see a msg_id with another cell's header
        if cached[0] == msg_id:
            return cached[1]
        out = {}
        for k in _HEADER_KEYS:
            if k in header:
                v = header[k]
                out[k] = v.isoformat() if hasattr(v, "isoformat") else str(v)
        self._cached = (msg_id, out)
        with self._headers_lock:
            self._headers[msg_id] = header
            while len(self._headers) > CellTasks.KEEP_CELLS:
                self._headers.popitem(last=False)
        return out

    def original_header(self, parent: dict) -> dict:
        """The kernel's own header for a routed parent: the very key of the cell's output buffer.

        ipykernel buffers a stream per parent header (by its items); writing under an equal
        header makes worker output join the cell's own prints in one buffer, in order.
        """
        with self._headers_lock:
            return self._headers.get(parent.get("msg_id"), parent)

    def route_hook(self):
        try:
            return self.current_parent()
        except Exception:  # noqa: BLE001 - routing must never break a submission
            return None

    @staticmethod
    def cell_key(parent):
        if not isinstance(parent, dict):
            return None
        return parent.get("msg_id") or (f"cell:{parent['cell']}" if "cell" in parent else None)

    # -- output (driver's loop thread) -----------------------------------------------------
    def output_handler(self, content: dict) -> None:
        from ..core.core_worker import print_worker_output
        from .taskdisplay import DISPLAY_STREAM, decode_display_text

        parent = content.get("parent")
        stream = content.get("stream")
        routed = isinstance(parent, dict) and bool(parent.get("msg_id")) and bool(self.streams)
        if routed:
            parent = self.original_header(parent)
        try:
            if stream == DISPLAY_STREAM:
                bundles = decode_display_text(content.get("text", ""))
                if routed:
                    for data, md in bundles:
                        self._publish_display(parent, data, md)
                else:
                    text = "".join(str(d.get("text/plain", "")) + "\n" for d, _ in bundles)
                    print_worker_output(dict(content, stream="stdout", text=text))
                return
            if routed and stream in self.streams:
                self._publish_stream(parent, stream, content.get("text", ""))
                return
        except Exception:  # noqa: BLE001 - never break the loop over output
            log.debug("could not publish worker output under its cell", exc_info=True)
        print_worker_output(content)

    def _publish_stream(self, parent: dict, name: str, text: str) -> None:
        out = self.streams[name]
        token = out.set_thread_parent(parent)
        try:
            out.write(text)
            out.flush()  # published now: before the task's display data and before get() returns
        finally:
            out.reset_thread_parent(token)

    def _publish_display(self, parent: dict, data: dict, md: dict) -> None:
        pub = self.display_pub
        if pub is not None:
            for s in self.streams.values():  # text printed before this display goes out first
                s.flush()
            token = pub.set_thread_parent(parent)
            try:
                pub.publish(data, md)
            finally:
                pub.reset_thread_parent(token)
            return
        kernel = self.kernel
        for s in self.streams.values():
            s.flush()
        kernel.session.send(kernel.iopub_socket, "display_data", {"data": data, "metadata": md, "transient": {}},
                            parent=parent, ident=b"display_data")

    # -- tracking submissions (loop thread) ------------------------------------------------
    def _record(self, spec, live) -> None:
        try:
            route = spec.route
            if route and spec.parent_task_id is None and self.shell is not None:
                key = self.cell_key(route.get("parent"))
                if key is not None:
                    self.cells.add(key, spec.task_id, spec.name, live)
                    self.task_cells.add(key, spec.task_id)
        except Exception:  # noqa: BLE001 - bookkeeping must never stop a submission
            log.debug("could not record a submission", exc_info=True)

    # -- cell events -------------------------------------------------------------------
    def _pre_run_cell(self, *args) -> None:
        self.cell_counter += 1
        try:
            self.task_cells.cell_started(self.cell_key(self.current_parent()), self.shell.execution_count)
        except Exception:  # noqa: BLE001 - never block a cell over this
            log.debug("could not note the cell's number", exc_info=True)
        if self.modules is not None:
            try:
                self.modules.check(self.shell)
            except Exception:  # noqa: BLE001 - never block a cell over this
                log.debug("local module check failed", exc_info=True)

    def _post_run_cell(self, result=None) -> None:
        err = getattr(result, "error_in_exec", None)
        if isinstance(err, KeyboardInterrupt):
            self.cancel_cell(self.cell_key(self.current_parent()))

    def pending_tasks(self, key) -> list:
        from ..core import context

        core = context.core
        if core is None or key is None:
            return []
        live = core.submitter.tasks
        return [(tid, name) for tid, name in self.cells.of(key) if tid in live]

    def cancel_cell(self, key, grace: float | None = None, timeout: float | None = None, quiet: bool = False) -> list:
        """Cancel the unfinished tasks the cell ``key`` submitted; returns what was cancelled."""
        grace = CANCEL_GRACE_S if grace is None else grace
        timeout = CANCEL_TIMEOUT_S if timeout is None else timeout
        pending = self.pending_tasks(key)
        if not pending:
            return []
        self._cancel([tid for tid, _ in pending], force=False)
        forced: list = []
        try:
            left = self._wait_done(key, grace)
            if left:
                forced = left
                self._cancel([tid for tid, _ in left], force=True)
                self._wait_done(key, timeout)
        except KeyboardInterrupt:  # interrupted again: stop waiting, force what is left
            forced = self.pending_tasks(key)
            self._cancel([tid for tid, _ in forced], force=True)
        if not quiet:
            print(_cancel_summary(pending, forced, grace), file=sys.stderr)
        return pending

    def _wait_done(self, key, seconds: float) -> list:
        deadline = time.monotonic() + seconds
        while True:
            left = self.pending_tasks(key)
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(0.02)

    @staticmethod
    def _cancel(task_ids, force: bool) -> None:
        import kernelray
        from ..core import context
        from ..object_ref import ObjectRef

        core = context.core
        if core is None:
            return
        for tid in task_ids:
            ref = ObjectRef(tid + (1).to_bytes(4, "little"), core.address, _count=False)
            try:
                kernelray.cancel(ref, force=force, recursive=True)
            except Exception as exc:  # noqa: BLE001 - e.g. force on an actor task: keep going
                log.debug("cancel of %s failed: %s", tid.hex(), exc)


def _cancel_summary(pending: list, forced: list, grace: float) -> str:
    counts: dict = {}
    for _, name in pending:
        counts[name] = counts.get(name, 0) + 1
    what = ", ".join(f"{name} ×{n}" if n > 1 else name for name, n in counts.items())
    n = len(pending)
    text = f"kernelray: interrupted — cancelled {n} task{'s' if n != 1 else ''} submitted by this cell ({what})"
    if forced:
        verb = "was" if len(forced) == 1 else "were"
        text += f"; {len(forced)} did not stop within {grace:g} s and {verb} force-cancelled"
    return text


bridge = JupyterBridge()
