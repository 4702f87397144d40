"""Worker side: run pushed tasks on the main thread, send results back in batches.

The loop thread queues tasks as they arrive (``accept``); the main thread runs them in
order.  Results go back when the queue runs dry, every 64 results, or 2 ms after the
first unsent one, so a batch of no-ops costs one reply and a lone task is answered at once.
Output printed by a task is tagged with that task's route (driver and submitting cell)
and flushed before its result, so it reaches the driver first.
"""

from __future__ import annotations

import inspect
import io
import logging
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections import deque

import cloudpickle
import zmq

from .. import _process
from ..exceptions import RayTaskError, RuntimeEnvSetupError, TaskCancelledError
from . import context
from .generator_returns import _Raised, dynamic_returns, fixed_returns
from .function_cache import FunctionCache, FunctionNotSent, fn_missing_result
from .memory_store import ERROR, StoredObject
from ..protocol.session import has_input, poll_in, recv_frames
from ..object_store import INLINE_THRESHOLD
from .serialization import serialize, serialize_error
from .task_spec import RUNNING, STREAMING
from . import task_events as _task_events
from . import task_env

log = logging.getLogger("kernelray.executor")
_EVENTS = _task_events.ENABLED  # RUNNING / RUN_END task events (task_events.py)
_record = _task_events.record
_RUN_END = _task_events.RUN_END
FLUSH_AFTER_S = 0.002
FLUSH_EVERY = 64
SPIN_S = float(os.environ.get("KERNELRAY_WORKER_SPIN_US", "300")) / 1e6  # see _spin_for_input


class DepMarker:
    """Stands for the i-th top-level ObjectRef argument; the worker swaps in its value."""

    __slots__ = ("i",)

    def __init__(self, i: int):
        self.i = i

    def __reduce__(self):
        return DepMarker, (self.i,)


class TaskContext:
    """What ``get_runtime_context()`` and output routing need about the running task."""

    __slots__ = ("task_id", "name", "route", "job_id", "actor_id", "cancel_requested", "saw_refs")

    def __init__(self, task_id, name, route, job_id, actor_id=None):
        self.task_id = task_id
        self.name = name
        self.route = route
        self.job_id = job_id
        self.actor_id = actor_id
        self.cancel_requested = False
        self.saw_refs = False  # a borrowed ObjectRef appeared while this task ran


class ExecTask:
    __slots__ = ("d", "frames", "idents", "lease_id", "task_id")

    def __init__(self, d, frames, idents, lease_id):
        self.d = d
        self.frames = frames
        self.idents = idents
        self.lease_id = lease_id
        self.task_id = bytes.fromhex(d["task_id"])


class Executor:
    def __init__(self, core):
        self.core = core
        self.queue: deque = deque()
        self.cv = threading.Condition()
        self.functions = FunctionCache()
        self.running: ExecTask | None = None
        self.running_ctx: TaskContext | None = None
        self.results: list = []
        self.first_unsent = 0.0
        self.output: deque = deque()
        self.last_route = None
        self.main_ident = threading.get_ident()
        self.title = "IDLE"
        self.job_config_applied = False
        self.actor = None  # the actor instance, when this worker hosts an actor
        self.actor_host = None  # ActorHost: runs actor tasks (see actor_host.py)
        self.idle_title = "kernelray::IDLE"
        self.cancelled: set = set()
        self._driver_socks: dict = {}  # main thread: driver address -> DEALER for nested tasks' output
        self.handoff: dict = {}  # oid -> ObjectRefs returned inside values, held until the owner has them
        self.task_sock = None
        self.task_address = ""
        self._last_task: ExecTask | None = None

    # -- the task socket (main thread only) ------------------------------------------
    def bind_task_socket(self) -> str:
        """A ROUTER owned by the main thread: owners push here, results go back on it."""
        import zmq

        sock = self.core.ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 0)
        sock.setsockopt(zmq.RCVHWM, 0)
        from ..protocol import transport

        _, self.task_address = transport.bind(sock, self.core.ip)
        self.task_sock = sock
        return self.task_address

    def _receive(self, timeout_ms: int) -> None:
        """Move pushed tasks from the task socket into the local queue."""
        sock = self.task_sock
        host = self.actor_host
        if not (poll_in(sock, timeout_ms) if host is None else host.wait_for_input(sock, timeout_ms)):
            return
        unpack = self.core.session.unpack
        while True:
            try:
                frames = recv_frames(sock)
            except zmq.Again:
                return
            msg = unpack(frames)
            if msg is None:
                continue
            if msg.msg_type != "push_task_request":
                log.warning("task socket: unexpected %s", msg.msg_type)
                continue
            self.accept(msg, msg.idents)
            if not has_input(sock):  # (cheaper than a recv that raises Again)
                return

    def accept(self, msg, idents) -> None:
        c = msg.content
        if "job_config" in c and not self.job_config_applied:
            self.job_config_applied = True
            self._apply_job_config(c["job_config"])
        frames = msg.buffers
        pos = 0
        for d in c["tasks"]:
            n = d["nframes"]
            self.queue.append(ExecTask(d, frames[pos : pos + n], idents, c.get("lease_id")))
            pos += n
            driver = (d.get("route") or {}).get("driver")
            if driver and driver not in self.core.peers:  # connect now: output sent mid-task must not trail the result
                self.core.loop.call_soon(self.core.peer, driver)

    def cancel(self, task_id: bytes, force: bool, recursive: bool) -> None:
        """From the loop thread: cancel a queued or running task."""
        if recursive:
            self.core.submitter.cancel_children(task_id, force)
        self.cancelled.add(task_id)
        running, ctx = self.running, self.running_ctx
        if running is None or running.task_id != task_id or ctx is None:
            return
        ctx.cancel_requested = True
        if force:
            self.flush_output()
            log.info("force-cancel of %s: the worker exits", task_id.hex())
            os._exit(1)
        signal.pthread_kill(self.main_ident, signal.SIGINT)

    # -- main thread ------------------------------------------------------------------
    def run_forever(self) -> None:
        signal.signal(signal.SIGINT, self._on_sigint)
        queue = self.queue
        while True:
            if not queue:
                if self.actor_host is not None:
                    self.actor_host.collect(self.results)  # calls that finished on the actor's threads
                if self.results:
                    self.flush_results()
                self._receive(0)
                if not queue and SPIN_S and (self.actor_host is None or self.actor_host.mode == "sync"):
                    self._spin_for_input(SPIN_S)
                if not queue:
                    if self.title != "IDLE":
                        self._receive(50)  # a busy caller's next task usually comes sooner: no title churn
                        if queue:
                            continue
                        self.title = "IDLE"
                        _process.set_title(self.idle_title)
                    self._receive(1000)
                    continue
            item = queue.popleft()
            if item.task_id in self.cancelled:
                self.cancelled.discard(item.task_id)
                self.functions.remember(item.d, item.frames)  # later tasks of its function may count on it
                result = self._error_result(item, TaskCancelledError(item.task_id.hex()), False)
            elif self.core.applied_env is not None and self.core.applied_env.error:
                result = self._error_result(item, RuntimeEnvSetupError(self.core.applied_env.error), False)
            else:
                result = self.execute(item)
                if result is None:  # an actor call running on the actor's threads: collect() brings it back
                    continue
            if not self.results:
                self.first_unsent = time.monotonic()
            self.results.append(result)
            if not queue:
                self._receive(0)
            if not queue or len(self.results) >= FLUSH_EVERY or time.monotonic() - self.first_unsent > FLUSH_AFTER_S:
                self.flush_results()

    def _spin_for_input(self, seconds: float) -> None:
        """Busy-wait briefly for the next task: a caller in a loop sends it within a round
        trip, and finding it here saves a wake-up (a costly one on a VM)."""
        sock = self.task_sock
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            if has_input(sock):
                self._receive(0)
                return

    def _on_sigint(self, signum, frame):
        ctx = self.running_ctx
        if ctx is not None and ctx.cancel_requested:
            raise KeyboardInterrupt
        # a stray SIGINT (e.g. a notebook interrupt reaching our group) never kills a worker

    def _apply_job_config(self, cfg: dict) -> None:
        if not self.core.job_config:  # the job's namespace, runtime_env and paths, for work submitted from here
            self.core.job_config = dict(cfg)
        for p in reversed(cfg.get("sys_path") or []):
            if p and p not in sys.path:
                sys.path.insert(0, p)
        cwd = cfg.get("cwd")
        if cwd and os.path.isdir(cwd):
            try:
                os.chdir(cwd)
            except OSError:
                pass
        if self.core.applied_env is not None:  # a runtime_env's working_dir and py_modules win over the job's paths
            self.core.applied_env.reapply_paths()

    def flush_results(self) -> None:
        """Send finished results back on the task socket (main thread)."""
        self._send_output_direct()
        results, self.results = self.results, []
        groups: dict = {}
        for idents, lease_id, r, frames in results:
            key = (tuple(idents), lease_id)
            g = groups.setdefault(key, ([], []))
            g[0].append(r)
            g[1].extend(frames)
        session = self.core.session
        for (idents, lease_id), (rs, frames) in groups.items():
            session.send(self.task_sock, "push_task_reply",
                         {"status": "ok", "lease_id": lease_id, "results": rs, "worker": self.core.address},
                         frames, ident=list(idents))

    # -- running one task -------------------------------------------------------------
    def load_function(self, t: ExecTask):
        return self.functions.load(t.d, t.frames)

    def unpack_args(self, t: ExecTask, pos: int):
        frames = t.frames
        args_blob = frames[pos]
        pos += 1
        dep_objs = []
        for kind, n in t.d["deps"]:
            dep_objs.append(StoredObject(kind, bytes(frames[pos]), frames[pos + 1 : pos + n]))
            pos += n
        deps = self.core.materialize(dep_objs) if dep_objs else []
        args, kwargs = pickle.loads(args_blob)
        if deps:
            args = [deps[a.i] if type(a) is DepMarker else a for a in args]
            kwargs = {k: (deps[v.i] if type(v) is DepMarker else v) for k, v in kwargs.items()}
        return args, kwargs, pos

    def execute(self, t: ExecTask):
        if "actor_id" in t.d:
            if self.actor_host is None:
                from .actor_host import ActorHost

                self.actor_host = ActorHost(self)
            return self.actor_host.execute(t)
        return self.run(t, self.load_function)

    def run(self, t: ExecTask, load):
        """Run one task on this thread: ``load(t)`` gives (callable, index of the args frame)."""
        d = t.d
        name = d["name"]
        ctx = TaskContext(t.task_id, name, d.get("route"), d.get("job_id"), d.get("actor_id"))
        self.running, self.running_ctx = t, ctx
        self._last_task = t
        if _EVENTS:
            _record((t.task_id, RUNNING, time.time(), d.get("attempt", 0)))
        context.task_local.spec = ctx
        if ctx.route:
            self.last_route = ctx.route
        if self.title != name:
            self.title = name
            _process.set_title(f"kernelray::{name}")
        gpu_ids = d.get("gpu_ids")
        if gpu_ids is not None:  # as Ray does: the task sees only the GPUs its lease holds
            os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in gpu_ids)
        omp_set = task_env.begin_task(d)
        try:
            fn, pos = load(t)
            args, kwargs, pos = self.unpack_args(t, pos)
            value = fn(*args, **kwargs)
            if d["num_returns"] == STREAMING:
                return self._stream(t, value)
            return self._ok_result(t, value)
        except FunctionNotSent:
            return fn_missing_result(t)
        except KeyboardInterrupt:
            if ctx.cancel_requested:
                return self._error_result(t, TaskCancelledError(t.task_id.hex()), False)
            return self._error_result(t, self._task_error(name, sys.exc_info()), False)
        except Exception:
            exc_info = sys.exc_info()
            return self._error_result(t, self._task_error(name, exc_info), self._retryable(t, exc_info[1]))
        finally:
            if _EVENTS:
                _record((t.task_id, _RUN_END, time.time(), d.get("attempt", 0)))
            self.running, self.running_ctx = None, None
            context.task_local.spec = None
            task_env.end_task(omp_set)
            sys.stdout.flush()
            sys.stderr.flush()

    def _ok_result(self, t: ExecTask, value):
        n = t.d["num_returns"]
        if (t.d.get("extra") or {}).get("dynamic") and inspect.isgenerator(value):
            gen, items = dynamic_returns(self, t, value)
            values = (gen, *items)
        elif n == 1:
            values = (value,)
        elif n == 0:
            values = ()
        else:
            values = fixed_returns(value, n)
        returns, frames, contained = [], [], []
        for i, v in enumerate(values):
            if type(v) is _Raised:  # a generator's error, in the returns it never yielded
                v = self._task_error(t.d["name"], v.exc_info)
                obj = serialize_error(v)
            else:
                obj = self._serialize_return(t, v, i + 1)
            returns.append([obj.kind, 1 + len(obj.buffers)])
            frames.append(obj.data)
            frames.extend(obj.buffers)
            if obj.contained:
                contained.append([i + 1, self._hand_off(obj.contained)])
        r = {"task_id": t.d["task_id"], "status": "ok", "returns": returns, "nframes": len(frames)}
        if contained:
            r["contained"] = contained
        self._report_borrows(r)
        return (t.idents, t.lease_id, r, frames)

    def _hand_off(self, refs) -> list:
        """Hold refs returned inside a value until the owner says it holds them (handoff_completed)."""
        out = []
        for ref in refs:
            self.handoff.setdefault(ref._id, []).append(ref)
            out.append([ref.hex(), ref._owner])
        return out

    def handoff_received(self, oid: bytes) -> None:
        """Loop thread: the task's owner took over the refs; drop one hold."""
        held = self.handoff.get(oid)
        if held:
            held.pop()
            if not held:
                self.handoff.pop(oid, None)

    def _report_borrows(self, r: dict) -> None:
        """Refs this task picked up and still holds are registered through its reply."""
        ctx = context.current_task()
        if ctx is None or not ctx.saw_refs:
            return
        core = self.core

        def collect():
            core.refs.drain()
            return core.refs.borrowed_during(ctx.task_id)

        borrowed = core.run_in_loop(collect)
        if borrowed:
            r["borrowed"] = borrowed

    def _serialize_return(self, t: ExecTask, value, index: int) -> StoredObject:
        try:
            obj = serialize(value)
        except Exception as exc:
            raise TypeError(f"Could not serialize the return value of {t.d['name']}: {type(exc).__name__}: {exc}") from exc
        if obj.nbytes >= INLINE_THRESHOLD and self.core.store_client is not None:
            oid = t.task_id + index.to_bytes(4, "little")
            obj = self.core.store_client.write(oid, obj)
        return obj

    def _stream(self, t: ExecTask, gen):
        count = 0
        core = self.core
        try:
            for item in gen:
                count += 1
                obj = self._serialize_return(t, item, count)
                content = {"task_id": t.d["task_id"], "index": count, "kind": obj.kind}
                if obj.contained:  # refs inside the item: handed to the task's owner, as for returns
                    content["contained"] = [[count, self._hand_off(obj.contained)]]
                    content["worker"] = core.address
                self._send_output_direct()
                core.session.send(self.task_sock, "generator_item_yielded", content, obj.frames(),
                                  ident=list(t.idents))
        except Exception:
            res = self._error_result(t, self._task_error(t.d["name"], sys.exc_info()), False)
            res[2]["num_items"] = count
            return res
        r = {"task_id": t.d["task_id"], "status": "ok", "returns": [], "nframes": 0, "num_items": count}
        return (t.idents, t.lease_id, r, [])

    def _task_error(self, name: str, exc_info) -> RayTaskError:
        etype, exc, tb = exc_info
        if tb is not None and tb.tb_next is not None:
            tb = tb.tb_next  # drop the executor's own frame
        tb_str = "".join(traceback.format_exception(etype, exc, tb))
        cause = exc.cause if isinstance(exc, RayTaskError) else exc
        err = RayTaskError(name, tb_str, cause, proctitle=f"kernelray::{name}")
        try:
            cloudpickle.dumps(err)
        except Exception:  # an exception that does not pickle still reports its traceback
            err.cause = None
        return err

    def _retryable(self, t: ExecTask, exc) -> bool:
        retry = t.d.get("retry_exceptions")
        if not retry:
            return False
        if retry == "frame":
            classes = cloudpickle.loads(t.frames[-1])
            return isinstance(exc, tuple(classes))
        return True

    def _error_result(self, t: ExecTask, exc, retryable: bool):
        obj = serialize_error(exc)
        r = {
            "task_id": t.d["task_id"],
            "status": "error",
            "retryable": retryable,
            "returns": [[ERROR, 1]],
            "nframes": 1,
            "ename": type(exc).__name__,
        }
        self._report_borrows(r)
        return (t.idents, t.lease_id, r, [obj.data])

    # -- output -----------------------------------------------------------------------
    def write_output(self, stream: str, text: str) -> None:
        ctx = context.current_task() or self.running_ctx
        route = ctx.route if ctx is not None else self.last_route
        name = ctx.name if ctx is not None else self.title
        self.output.append((stream, text, route, name, time.monotonic()))

    def _send_output_direct(self) -> None:
        """Main thread: output of the task just run goes out before its result.

        When the driver is the owner it travels on the task socket, in order with the
        result; otherwise (nested tasks) on a socket of this thread's own to the driver,
        still before the result leaves, so it reaches the notebook cell first.
        """
        if not self.output:
            return
        t = self._last_task
        owner = t.d.get("owner") if t is not None else None
        for stream, texts, route, name in self._group_output():
            if not route or not route.get("driver"):
                continue
            content = self._output_content(stream, texts, route, name)
            if route["driver"] == owner:
                self.core.session.send(self.task_sock, "output_emitted", content, ident=list(t.idents))
            else:
                self.core.session.send(self._driver_socket(route["driver"]), "output_emitted", content)

    def _driver_socket(self, address: str):
        """A DEALER to a driver, owned by the main thread (sockets never cross threads)."""
        sock = self._driver_socks.get(address)
        if sock is None:
            from ..protocol import transport

            sock = self.core.ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDHWM, 0)
            sock.connect(transport.connect_address(address))
            self._driver_socks[address] = sock
        return sock

    def _group_output(self, written_before: float | None = None) -> list:
        out = self.output
        groups: list = []
        while out:
            if written_before is not None and out[0][4] > written_before:
                break
            stream, text, route, name, _ = out.popleft()
            if groups and groups[-1][0] == stream and groups[-1][2] is route and groups[-1][3] == name:
                groups[-1][1].append(text)
            else:
                groups.append((stream, [text], route, name))
        return groups

    def _output_content(self, stream, texts, route, name) -> dict:
        return {
            "stream": stream,
            "text": "".join(texts),
            "name": name,
            "pid": os.getpid(),
            "job_id": route.get("job_id"),
            "parent": route.get("parent"),
            "task_id": route.get("task_id"),
        }

    def flush_output(self, min_age: float = 0.0) -> None:
        """Any thread: hand buffered output to the loop thread for the driver.

        The periodic flush takes only lines older than ``min_age``: fresher ones leave with
        the task's result, from the main thread, so a cell shows them in order."""
        if self.output:
            groups = self._group_output(time.monotonic() - min_age if min_age else None)
            if groups:
                self.core.loop.call_soon(self._send_output, groups)

    def _send_output(self, groups) -> None:
        core = self.core
        for stream, texts, route, name in groups:
            if not route or not route.get("driver"):
                continue
            content = self._output_content(stream, texts, route, name)
            try:
                core.send(core.peer(route["driver"]), "output_emitted", content)
            except Exception:  # noqa: BLE001 - a bad route must not break the loop
                log.debug("cannot send output to %s", route.get("driver"))


class TaskStream(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` of a worker: text goes to the driver of the task."""

    def __init__(self, executor: Executor, name: str, fallback):
        self._executor = executor
        self._name = name
        self._fallback = fallback

    def writable(self):
        return True

    @property
    def encoding(self):
        return "utf-8"

    def write(self, text) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if text:
            self._executor.write_output(self._name, text)
            if self._fallback is not None:
                try:
                    self._fallback.write(text)
                except Exception:  # noqa: BLE001
                    pass
        return len(text)

    def flush(self) -> None:
        if self._fallback is not None:
            try:
                self._fallback.flush()
            except Exception:  # noqa: BLE001
                pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._fallback.fileno() if self._fallback is not None else -1
