"""How an actor's process ends on purpose: Ray's graceful exit and its hooks.

A graceful exit is asked for by

* ``exit_actor()`` in a method or the constructor (``ActorExit``, a SystemExit, or in an
  asyncio actor ``AsyncioActorExit``).  The call that asked never returns a value, even
  when user code catches the exception: the exit is remembered in a context variable
  that each call starts cleared (per thread, and per asyncio task);
* ``__ray_terminate__``, queued behind the calls before it;
* the last handle going out of scope: the GCS returns the lease "gracefully", and the
  raylet sends SIGTERM (then SIGKILL after ``GRACEFUL_EXIT_TIMEOUT_S``).

The process then lets the calls already running finish (threaded and asyncio actors),
drops the ones that have not started (their callers see ActorDiedError), calls the
actor's ``__ray_shutdown__`` once (an exception is written to the worker's stderr,
which reaches the driver, and does not stop the exit), runs the process's ``atexit``
handlers, tells the GCS, and exits with code 0.  ``kernelray.kill``, a job's end and a
crash kill the process instead: no hook runs, as in Ray.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import inspect
import signal
import sys
import traceback

GRACEFUL_EXIT_TIMEOUT_S = 30.0  # the raylet's SIGKILL after a graceful SIGTERM (Ray's default: 30 s)
HOOK_TIMEOUT_S = 30.0  # an async __ray_shutdown__ on the actor's event loop

_exit_called = contextvars.ContextVar("kernelray_exit_actor_called", default=False)


def start_call() -> None:
    """A call (or the constructor) starts: it has not asked to exit yet."""
    _exit_called.set(False)


def call_asked_exit() -> bool:
    """Whether the call running in this thread (or asyncio task) called ``exit_actor()``."""
    return _exit_called.get()


class ExitControl:
    """One actor process's graceful exit: asked for, waited on, then its hooks once."""

    def __init__(self, host):
        self.host = host
        self.requested = False
        self.hooks_done = False

    def ask_from_call(self) -> None:
        """``exit_actor()`` in the running call."""
        self.requested = True
        _exit_called.set(True)

    def install_sigterm(self) -> None:
        """SIGTERM from the raylet (the actor went out of scope): exit gracefully (main thread)."""
        signal.signal(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self, signum, frame) -> None:
        self.requested = True
        host = self.host
        if not host.busy():  # else the call running now ends first, then the host exits
            host.exit_now()

    def run_hooks(self, instance, loop: asyncio.AbstractEventLoop | None) -> None:
        """``__ray_shutdown__`` (once, not after a failed constructor), then the atexit handlers."""
        if self.hooks_done:
            return
        self.hooks_done = True
        if instance is not None:
            _call_ray_shutdown(instance, loop)
        try:
            atexit._run_exitfuncs()  # (it prints a handler's exception itself and goes on)
        except Exception:  # noqa: BLE001 - the exit goes on
            traceback.print_exc()


def _call_ray_shutdown(instance, loop) -> None:
    hook = getattr(type(instance), "__ray_shutdown__", None)
    if hook is None:
        return
    try:
        value = hook(instance)
        if inspect.isawaitable(value):
            if loop is not None and loop.is_running():
                asyncio.run_coroutine_threadsafe(_awaited(value), loop).result(HOOK_TIMEOUT_S)
            else:
                asyncio.run(_awaited(value))
    except Exception:  # noqa: BLE001 - logged, as Ray does; the exit goes on
        sys.stderr.write("Error during actor __ray_shutdown__ method\n" + traceback.format_exc())


async def _awaited(value):
    return await value
