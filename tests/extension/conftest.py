"""Real Jupyter kernels for the extension tests.

``JupyterKernel`` starts an ipykernel with jupyter_client's KernelManager, executes code
and records every IOPub message, so a test can ask which cell (parent ``msg_id``) an
output landed in.  Each kernel gets its own ``KERNELRAY_TMPDIR``: its clusters' session
directories show up there, which is how the leak checks find their processes.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import time

import pytest

from kernelray import node as krnode

KERNEL_NAME = "python3"


def ensure_kernelspec() -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    if KERNEL_NAME not in KernelSpecManager().find_kernel_specs():
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--user"], check=True, timeout=60)


def sessions_under(root: str) -> list:
    try:
        return sorted(d for d in os.listdir(root) if d.startswith("session_"))
    except FileNotFoundError:
        return []


def live_processes(root: str) -> list:
    return [p for sid in sessions_under(root) for p in krnode.session_processes(sid)]


def wait_no_processes(root: str, timeout: float = 5.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not live_processes(root):
            return []
        time.sleep(0.05)
    return live_processes(root)


def kill_leftovers(root: str) -> None:
    for pid, _ in live_processes(root):
        try:
            os.kill(pid, 9)
        except OSError:
            pass


class CellError(AssertionError):
    pass


class JupyterKernel:
    def __init__(self, tmpdir: str, cwd: str | None = None):
        from jupyter_client import KernelManager

        ensure_kernelspec()
        self.tmpdir = tmpdir
        os.makedirs(tmpdir, exist_ok=True)
        env = dict(os.environ, KERNELRAY_TMPDIR=tmpdir, PYTHONUNBUFFERED="1")
        env.pop("PYTEST_CURRENT_TEST", None)
        env.pop("KERNELRAY_ADDRESS", None)
        # ipc transport: no TCP port race between picking the kernel's ports and binding them
        self.km = KernelManager(kernel_name=KERNEL_NAME, transport="ipc", ip=os.path.join(tmpdir, "kernel-ipc"))
        self.km.start_kernel(env=env, cwd=cwd or tmpdir)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.msgs: list = []
        self.replies: dict = {}

    # -- IOPub bookkeeping --------------------------------------------------------------
    def _pull(self, timeout: float) -> bool:
        try:
            msg = self.kc.get_iopub_msg(timeout=timeout)
        except queue.Empty:
            return False
        self.msgs.append(msg)
        return True

    def drain(self, seconds: float = 0.3) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._pull(max(0.01, deadline - time.monotonic()))

    def idle(self, msg_id: str) -> bool:
        return any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                   and m["parent_header"].get("msg_id") == msg_id for m in self.msgs)

    def wait_idle(self, msg_id: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.idle(msg_id):
            if time.monotonic() > deadline:
                raise TimeoutError(f"cell {msg_id} did not finish within {timeout} s")
            self._pull(0.2)

    def wait_for(self, predicate, timeout: float = 30, what: str = "output") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
            self._pull(0.1)

    # -- cells ---------------------------------------------------------------------------
    def submit(self, code: str) -> str:
        return self.kc.execute(code)

    def run(self, code: str, timeout: float = 60, allow_error: bool = False) -> str:
        msg_id = self.submit(code)
        self.wait_idle(msg_id, timeout)
        if not allow_error:
            errors = self.errors(msg_id)
            if errors:
                e = errors[0]
                raise CellError(f"cell failed: {e['ename']}: {e['evalue']}\n" + "\n".join(e["traceback"]))
        return msg_id

    def outputs(self, msg_id: str, types=("stream", "display_data", "execute_result", "error")) -> list:
        return [m for m in self.msgs if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] in types]

    def text(self, msg_id: str, name: str | None = None) -> str:
        return "".join(m["content"]["text"] for m in self.outputs(msg_id, ("stream",))
                       if name is None or m["content"]["name"] == name)

    def errors(self, msg_id: str) -> list:
        return [m["content"] for m in self.outputs(msg_id, ("error",))]

    def result(self, msg_id: str) -> dict | None:
        res = [m["content"]["data"] for m in self.outputs(msg_id, ("execute_result",))]
        return res[-1] if res else None

    def eval(self, expr: str, timeout: float = 60):
        """The value of ``expr`` in the kernel (via its repr; literals only)."""
        import ast

        msg_id = self.run(expr, timeout)
        data = self.result(msg_id)
        if data is None:
            raise CellError(f"{expr!r} produced no result")
        return ast.literal_eval(data["text/plain"])

    # -- lifecycle -----------------------------------------------------------------------
    def pid(self) -> int:
        return self.km.provisioner.process.pid

    def stop(self) -> None:
        try:
            self.kc.stop_channels()
        finally:
            if self.km.has_kernel:
                try:
                    self.km.shutdown_kernel(now=True)
                except Exception:  # noqa: BLE001 - a kernel we SIGKILLed
                    pass


@pytest.fixture
def kernel_factory(tmp_path):
    """Start kernels (each with its own KERNELRAY_TMPDIR); stop them and check for leaks."""
    kernels: list = []

    def start(name: str = "k", cwd: str | None = None) -> JupyterKernel:
        k = JupyterKernel(str(tmp_path / f"kr-{name}-{len(kernels)}"), cwd=cwd)
        kernels.append(k)
        return k

    yield start
    for k in kernels:
        k.stop()
    for k in kernels:
        left = wait_no_processes(k.tmpdir)
        if left:
            kill_leftovers(k.tmpdir)
            raise AssertionError(f"cluster processes left behind by a kernel: {left}")


@pytest.fixture(scope="module")
def nb_kernel(tmp_path_factory):
    """One kernel for a module: the extension loaded, a 2-CPU cluster started by it."""
    root = tmp_path_factory.mktemp("kr-nb")
    k = JupyterKernel(str(root / "tmp"), cwd=str(root))
    try:
        k.run("%load_ext kernelray\nimport kernelray, os, sys, time\n"
              "assert not kernelray.is_initialized()\n"
              "ctx = kernelray.init(num_cpus=2)\nSID = os.path.basename(ctx['session_dir'])")
        yield k
    finally:
        k.stop()
        left = wait_no_processes(k.tmpdir)
        if left:
            kill_leftovers(k.tmpdir)
            raise AssertionError(f"cluster processes left behind by the notebook kernel: {left}")
