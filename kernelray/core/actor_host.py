"""Worker side of an actor: the instance, and how its calls run.

The GCS pushes the creation task to a leased worker like any task; the executor hands
every task that carries an ``actor_id`` to the ActorHost, which runs the constructor on
the main thread and keeps the instance.  Calls then arrive from their callers on the
worker's task socket, each caller's calls in its submission order, and run:

* one at a time on the main thread, in arrival order (the default) -- the task path
  itself, so a call costs what a task costs;
* on a pool of ``max_concurrency`` threads (a threaded actor: ``max_concurrency > 1``);
* on one asyncio event loop thread, at most ``max_concurrency`` at once (an async actor:
  any ``async def`` method makes one; ``max_concurrency`` defaults to 1000 as in Ray).
  Plain methods of an async actor run on the loop thread too, so they block it.

Concurrency groups (``concurrency_groups={"io": 2}``, as in Ray): every group has its
own threads.  In a threaded actor a group is a pool of that many threads; in an async
actor it is an event loop on its own thread, running at most that many calls at once (a
semaphore).  The call's group travels in its spec (``extra["cg"]``, set by the caller
from ``@method(concurrency_group=)`` or ``.options(concurrency_group=)``); calls without
one run in the default group: the pool or loop above, sized by ``max_concurrency``.  An
actor with groups always runs concurrently (a threaded actor with a default group of
one thread, unless ``max_concurrency`` says more).

Concurrent calls finish on other threads.  Only the main thread sends on the task
socket, so finished results wait in ``done`` and an eventfd wakes the main thread, which
polls it together with the task socket.

Event loops, as Ray's concurrency-group guide describes: an async actor's constructor and
its plain methods run on its default event loop ("AsyncIO Thread: default"), so
``asyncio.get_running_loop()`` works there; a group's calls run on that group's loop
("AsyncIO Thread: <group>").  Sync and threaded actors' calls see no running loop.

``exit_actor()`` (and ``__ray_terminate__``, and SIGTERM when the actor goes out of scope)
is a graceful exit, see actor_exit.py: the calls running finish, the ones not started
are dropped, the host sends the results that are ready, runs ``__ray_shutdown__`` and the
atexit handlers, tells the GCS the exit is intended (the actor goes DEAD and is not
restarted; callers fail the calls still queued), and the process exits.  A plain
``sys.exit()`` in a method ends the process as a crash would, so ``max_restarts``
applies, as in Ray.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import pickle
import sys
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import zmq

from ..exceptions import AsyncioActorExit, RaySystemError, TaskCancelledError
from ..protocol.session import poll_in
from . import actor_exit, context
from .actor_exit import ExitControl
from . import task_events as _task_events
from .task_spec import RUNNING, STREAMING

_EVENTS = _task_events.ENABLED  # calls run on the actor's threads record RUNNING / RUN_END here
_record = _task_events.record
_now = _task_events.now

SYNC, THREADED, ASYNC = "sync", "threaded", "async"
_EXIT = object()  # marks "exit_actor() was called" in the done queue
_SKIPPED = object()  # a call that had not started when the actor began to exit


class ActorExit(SystemExit):
    """Raised by ``exit_actor()``: the actor ends on purpose and is not restarted."""

    def __init__(self):
        super().__init__(0)


def _terminate():
    exit_actor()


BUILTIN_METHODS = {
    "__ray_ready__": lambda: True,  # resolves once the actor is constructed
    "__ray_terminate__": _terminate,  # a graceful exit, queued behind earlier calls
}


class ActorHost:
    def __init__(self, executor):
        self.executor = executor
        self.core = executor.core
        self.instance = None
        self.actor_id: str | None = None
        self.class_name = ""
        self.num_restarts = 0
        self.options: dict = {}
        self.mode = SYNC
        self.done: deque = deque()
        self.wake_fd: int | None = None
        self.poller: zmq.Poller | None = None
        self.pool: ThreadPoolExecutor | None = None
        self.aio_loop: asyncio.AbstractEventLoop | None = None
        self.semaphore: asyncio.Semaphore | None = None
        # concurrency groups other than the default: name -> ThreadPoolExecutor (threaded actors)
        # or (event loop, semaphore) (async actors)
        self.groups: dict = {}
        self.exit = ExitControl(self)
        self.running = 0  # calls handed to the actor's threads and not collected yet (main thread)
        self.in_call = False  # the main thread runs the constructor or a call
        self.exiting = False

    # -- main thread --------------------------------------------------------------------
    def execute(self, t):
        """Run or dispatch one actor task; None when it runs on the actor's threads."""
        extra = t.d.get("extra") or {}
        if extra.get("kind") == "create":
            return self._create(t, extra)
        ex = self.executor
        if self.instance is None:
            err = RaySystemError(f"the actor task {t.d['name']} reached a worker that hosts no actor")
            return ex._error_result(t, err, False)
        method = extra.get("m", "")
        if self.exit.requested:  # exiting: a call not started yet is dropped (its caller sees the actor die)
            return None
        if self.mode == SYNC:
            return self._run_on_main(t, lambda t: (self._bound(method), 0))
        return self._dispatch(t, method)

    def _run_on_main(self, t, load):
        """Run the constructor or a call on this thread; exit after it if an exit was asked for."""
        actor_exit.start_call()
        self.in_call = True
        try:
            result = self.executor.run(t, load)
        except ActorExit:
            result = None
        finally:
            self.in_call = False
        if actor_exit.call_asked_exit():  # even if user code caught the SystemExit: no value, as in Ray
            result = None
        if result is None or self.exit.requested:
            if result is not None:
                self.executor.results.append(result)
            self.exit_now()
        return result

    def busy(self) -> bool:
        return self.in_call or self.running > 0

    def handle(self):
        """An ActorHandle to this actor (``get_runtime_context().current_actor``)."""
        from ..actor import ActorHandle, actor_meta

        opts = self.options
        max_pending_calls = opts.get("max_pending_calls")
        meta = actor_meta(type(self.instance), opts.get("max_task_retries") or 0,
                          -1 if max_pending_calls is None else max_pending_calls, opts.get("concurrency_groups"))
        return ActorHandle(bytes.fromhex(self.actor_id), meta)

    def _bound(self, method: str):
        fn = BUILTIN_METHODS.get(method)
        return fn if fn is not None else method_of_class(self.instance, method)

    def _create(self, t, extra: dict):
        ex = self.executor
        self.actor_id = t.d["actor_id"]
        self.class_name = extra.get("class_name") or t.d["name"].split(".")[0]
        self.num_restarts = extra.get("num_restarts", 0)
        self.options = extra

        def load(t):
            cls, pos = ex.load_function(t)

            def construct(*args, **kwargs):
                self._start(extra)
                if self.mode == ASYNC:  # on its default event loop, as in Ray
                    instance = self._construct_on_loop(cls, args, kwargs)
                else:
                    instance = cls(*args, **kwargs)
                self.instance = instance
                ex.actor = instance

            return construct, pos

        self.exit.install_sigterm()
        result = self._run_on_main(t, load)  # (exit_actor() inside __init__ exits here)
        r = result[2]
        if r["status"] == "ok":
            r["pid"] = os.getpid()
            ex.idle_title = f"kernelray::{self.class_name}"
        else:
            r["error_message"] = _error_text(result[3])
        return result

    def _construct_on_loop(self, cls, args, kwargs):
        ctx = context.task_local.spec

        async def construct():
            context.task_local.spec = ctx
            try:
                return cls(*args, **kwargs), actor_exit.call_asked_exit()
            except AsyncioActorExit:
                return None, True
            finally:
                context.task_local.spec = None

        instance, asked_exit = asyncio.run_coroutine_threadsafe(construct(), self.aio_loop).result()
        if asked_exit:  # exit_actor() in the constructor: exit on this thread
            self.exit.ask_from_call()
            raise ActorExit()
        return instance

    def _start(self, extra: dict) -> None:
        """The actor's threads and event loops, before its constructor runs."""
        concurrency = int(extra.get("max_concurrency") or 1)
        groups = extra.get("concurrency_groups") or {}
        if extra.get("is_async"):
            self.mode = ASYNC
            self.aio_loop, self.semaphore = self._start_event_loop("AsyncIO Thread: default", concurrency)
            for name, size in groups.items():
                self.groups[name] = self._start_event_loop(f"AsyncIO Thread: {name}", int(size))
        elif concurrency > 1 or groups:
            self.mode = THREADED
            self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix=f"kernelray-{self.class_name}")
            for name, size in groups.items():
                self.groups[name] = ThreadPoolExecutor(int(size),
                                                       thread_name_prefix=f"kernelray-{self.class_name}-{name}")
        if self.mode != SYNC:
            self.wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            self.poller = zmq.Poller()
            self.poller.register(self.executor.task_sock, zmq.POLLIN)
            self.poller.register(self.wake_fd, zmq.POLLIN)

    def _start_event_loop(self, thread_name: str, size: int):
        loop = asyncio.new_event_loop()
        threading.Thread(target=self._run_event_loop, args=(loop,), name=thread_name, daemon=True).start()
        return loop, asyncio.Semaphore(size)

    def _group(self, t):
        """Where the call runs: its concurrency group's pool, or (loop, semaphore); default: None."""
        name = (t.d.get("extra") or {}).get("cg")
        if name is None:
            return None
        group = self.groups.get(name)
        if group is None:
            known = ", ".join(repr(g) for g in self.groups) or "none"
            raise ValueError(f"{t.d['name']} asks for the concurrency group {name!r}, which the actor "
                             f"{self.class_name} does not define (its groups: {known})")
        return group

    def _dispatch(self, t, method: str):
        ex = self.executor
        try:
            group = self._group(t)
            if t.d["num_returns"] == STREAMING:
                raise TypeError(f"{t.d['name']}: streaming (num_returns='streaming') actor methods need an actor "
                                "that runs one call at a time (no async methods, max_concurrency=1, "
                                "no concurrency_groups)")
            fn = self._bound(method)
            # refs in the arguments belong to this call (its reply registers the ones kept)
            ctx = context.task_local.spec = self._context(t)
            args, kwargs, _ = ex.unpack_args(t, 0)
        except Exception:
            return ex._error_result(t, ex._task_error(t.d["name"], sys.exc_info()), False)
        finally:
            context.task_local.spec = None
        if t.d.get("route"):
            ex.last_route = t.d["route"]
        self.running += 1
        if self.mode == THREADED:
            (group or self.pool).submit(self._run_in_thread, t, ctx, fn, args, kwargs)
        else:
            loop, semaphore = group or (self.aio_loop, self.semaphore)
            asyncio.run_coroutine_threadsafe(self._run_coroutine(t, ctx, fn, args, kwargs, semaphore), loop)
        return None

    def wait_for_input(self, task_sock, timeout_ms: int) -> bool:
        """Poll the task socket, and the wake-up of finished concurrent calls."""
        if self.poller is None:
            return poll_in(task_sock, timeout_ms)
        return bool(self.poller.poll(timeout_ms))

    def collect(self, results: list) -> None:
        """Move finished concurrent calls into the executor's unsent results."""
        if self.wake_fd is None:
            return
        try:
            os.eventfd_read(self.wake_fd)
        except BlockingIOError:
            pass
        done = self.done
        while done:
            item = done.popleft()
            self.running -= 1
            if item is _EXIT:
                self.exit.requested = True
            elif item is not _SKIPPED:
                results.append(item)
        if self.exit.requested and self.running <= 0:  # the calls that were running have finished
            self.exit_now()

    def exit_now(self) -> None:
        """A graceful exit: send what is done, run the hooks, tell the GCS the exit is intended, and go."""
        if self.exiting:
            return
        self.exiting = True
        ex = self.executor
        while self.done:
            item = self.done.popleft()
            if item is not _EXIT and item is not _SKIPPED:
                ex.results.append(item)
        if ex.results:
            ex.flush_results()
        self.exit.run_hooks(self.instance, self.aio_loop)
        ex.flush_output()
        core = self.core
        try:
            core.call(core.gcs, "report_actor_exit_request",
                      {"actor_id": self.actor_id, "worker_id": core.worker_id.hex()}, timeout=5)
        except Exception:  # noqa: BLE001 - exit anyway; the GCS then sees a dead worker
            pass
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    # -- the actor's threads --------------------------------------------------------------------
    def _complete(self, result) -> None:
        self.done.append(result)
        try:
            os.eventfd_write(self.wake_fd, 1)
        except OSError:
            pass

    def _context(self, t):
        from .executor import TaskContext

        d = t.d
        return TaskContext(t.task_id, d["name"], d.get("route"), d.get("job_id"), d.get("actor_id"))

    def _run_in_thread(self, t, ctx, fn, args, kwargs) -> None:
        if self.exit.requested:
            self._complete(_SKIPPED)
            return
        context.task_local.spec = ctx
        actor_exit.start_call()
        if _EVENTS:
            _record((t.task_id, RUNNING, _now(), t.d.get("attempt", 0)))
        try:
            value = fn(*args, **kwargs)
            result = self.executor._ok_result(t, value)
        except BaseException:  # noqa: BLE001 - the error is the result
            result = self._error(t, sys.exc_info())
        finally:
            context.task_local.spec = None
            if _EVENTS:
                _record((t.task_id, _task_events.RUN_END, _now(), t.d.get("attempt", 0)))
        self._complete(_EXIT if actor_exit.call_asked_exit() else result)

    async def _run_coroutine(self, t, ctx, fn, args, kwargs, semaphore) -> None:
        ex = self.executor
        async with semaphore:
            if self.exit.requested:
                self._complete(_SKIPPED)
                return
            actor_exit.start_call()  # (each call is an asyncio task, with its own context)
            # one thread runs every coroutine of this group: between awaits this is the context of the call running
            context.task_local.spec = ctx
            if _EVENTS:
                _record((t.task_id, RUNNING, _now(), t.d.get("attempt", 0)))
            try:
                value = fn(*args, **kwargs)
                if inspect.isawaitable(value):
                    value = await value
                context.task_local.spec = ctx  # other calls ran during the awaits
                result = ex._ok_result(t, value)
            except asyncio.CancelledError:
                context.task_local.spec = ctx
                result = ex._error_result(t, TaskCancelledError(t.task_id.hex()), False)
            except BaseException:  # noqa: BLE001
                context.task_local.spec = ctx
                result = self._error(t, sys.exc_info())
            if _EVENTS:
                _record((t.task_id, _task_events.RUN_END, _now(), t.d.get("attempt", 0)))
        self._complete(_EXIT if actor_exit.call_asked_exit() else result)

    def _error(self, t, exc_info):
        ex = self.executor
        retryable = isinstance(exc_info[1], Exception) and ex._retryable(t, exc_info[1])
        return ex._error_result(t, ex._task_error(t.d["name"], exc_info), retryable)

    def _run_event_loop(self, loop) -> None:
        asyncio.set_event_loop(loop)
        loop.run_forever()


def _error_text(frames) -> str:
    """The text of a pickled task error (for the GCS, which never unpickles user classes)."""
    try:
        return str(pickle.loads(bytes(frames[0])))
    except Exception as exc:  # noqa: BLE001
        return f"The actor's constructor raised an exception ({type(exc).__name__} while describing it)."


def exit_actor() -> None:
    """End the current actor on purpose: it goes DEAD and is not restarted.

    Raises ActorExit (a SystemExit), or AsyncioActorExit in an asyncio actor; the actor
    exits even if the caller catches it.  Calls already queued fail with ActorDiedError;
    ``get`` on the call that ran ``exit_actor`` raises ActorDiedError too, as in Ray.
    """
    core = context.core
    host = getattr(getattr(core, "executor", None), "actor_host", None)
    if host is None or host.actor_id is None:  # (set from the start of the constructor on)
        raise TypeError("exit_actor API is called on a non-actor worker. Call it inside an actor method "
                        "to exit the actor gracefully.")
    host.exit.ask_from_call()
    if host.mode == ASYNC:
        raise AsyncioActorExit()
    raise ActorExit()


def method_of_class(instance, name: str):
    """``instance.<name>`` looked up on the class, as Ray binds actor methods: an instance
    attribute of the same name does not hide the method."""
    cls = type(instance)
    try:
        attr = inspect.getattr_static(cls, name)
    except AttributeError:
        return getattr(instance, name)  # e.g. a __getattr__ that makes methods
    binder = getattr(type(attr), "__get__", None)
    return binder(attr, instance, cls) if binder is not None else attr
