"""The magics and the bridge in-process (an IPython shell in the test process, a real cluster)."""

from __future__ import annotations

import ast
import time

import pytest

import kernelray
from kernelray.extension import cellexec
from kernelray.extension.bridge import bridge


@pytest.fixture(scope="module")
def ip(cluster):
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    shell.run_line_magic("load_ext", "kernelray")
    try:
        yield shell
    finally:
        shell.run_line_magic("unload_ext", "kernelray")
        InteractiveShell.clear_instance()  # later tests see no IPython
        assert kernelray.is_initialized()  # the extension did not start this cluster: it keeps running
        assert not bridge.attached


def run(ip, code: str):
    from IPython.utils.capture import capture_output

    with capture_output() as cap:
        result = ip.run_cell(code)
    return result, cap


# -- reading a cell ---------------------------------------------------------------------------
def test_free_and_assigned_names():
    tree = ast.parse("import numpy as np\nx = a + 1\ny = x * b\nif c:\n    z = 1\nprint(z, np)\n"
                     "def f(q):\n    return q + d\nx = x + e\n")
    # q (a parameter) over-approximates: shipping an unused name is harmless
    assert cellexec.free_names(tree) == {"a", "b", "c", "z", "print", "q", "d", "e"}
    assert cellexec.assigned_names(tree) == {"np", "x", "y", "z", "f"}
    tree = ast.parse("total = total + 1")
    assert cellexec.free_names(tree) == {"total"}


def test_execute_cell_returns_last_expression_and_bindings():
    ns = {"a": 2}
    assert cellexec.execute_cell("b = a * 3\nb + 1", "<remote-cell-t>", ns, ()) == 7
    assert cellexec.execute_cell("c = 1\nd = 2", "<remote-cell-t>", ns, ("c", "d")) == (None, 1, 2)
    with pytest.raises(NameError, match="did not assign it"):
        cellexec.execute_cell("e = 1", "<remote-cell-t>", ns, ("nope",))
    with pytest.raises(ZeroDivisionError) as info:
        cellexec.execute_cell("x = 1\ny = x / 0", "<remote-cell-9>", {}, ())
    text = getattr(info.value, cellexec.TRACEBACK_ATTR)
    assert 'File "<remote-cell-9>", line 2, in <module>' in text and "y = x / 0" in text
    assert "cellexec" not in text


# -- the magics ------------------------------------------------------------------------------
def test_remote_cell_in_process(ip):
    ip.user_ns.update(base=5, ref=kernelray.put(37))
    result, _ = run(ip, "%%remote out, other --get -o res\nout = base + ref\nother = 'x'\nout * 2")
    assert result.error_in_exec is None, result.error_in_exec
    assert result.result == 84
    assert (ip.user_ns["out"], ip.user_ns["other"], ip.user_ns["res"]) == (42, "x", 84)
    result, _ = run(ip, "%%remote w\nw = base - 1")
    assert isinstance(ip.user_ns["w"], kernelray.ObjectRef) and kernelray.get(ip.user_ns["w"]) == 4
    assert result.result is None
    result, _ = run(ip, "%%remote --noblock -o later\nbase + 100")
    assert result.result is None and kernelray.get(ip.user_ns["later"]) == 105
    result, _ = run(ip, "%%remote\nbase + 1;")
    assert result.result is None  # a trailing semicolon hides the value, as in a notebook
    assert ip.run_line_magic("remote", "base * 3") == 15


def test_remote_cell_error_keeps_the_exception_type(ip):
    result, cap = run(ip, "%%remote\nx = 1\nraise KeyError('missing')")
    assert isinstance(result.error_in_exec, KeyError)
    assert "line 3, in <module>" in cap.stdout and "raise KeyError('missing')" in cap.stdout


@pytest.mark.parametrize("line, cell, fragment", [
    ("--get --noblock", "x = 1", "--noblock"),
    ("x,, 3y", "x = 1", "not a variable name"),
    ("--resources [1]", "x = 1", "JSON object of resource names"),
    ("--num-gpus -2", "x = 1", ">= 0"),
    ("", "   \n", "empty"),
])
def test_remote_usage_errors(ip, line, cell, fragment):
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match=fragment.replace("-", r"\-")):
        ip.run_cell_magic("remote", line, cell)


def test_remote_cell_runtime_options(ip):
    assert ip.run_cell_magic("remote", "--num-cpus 0.5", "import os\nos.getpid()") != __import__("os").getpid()
    result, _ = run(ip, "%%remote --resources '{\"unobtainium\": 1}' --noblock -o never\n1")
    ref = ip.user_ns["never"]
    ready, _ = kernelray.wait([ref], timeout=0.5)
    assert not ready  # infeasible: pending
    kernelray.cancel(ref)


# -- interrupts, in-process ----------------------------------------------------------------------
def test_keyboard_interrupt_in_a_cell_cancels_its_tasks(ip):
    ip.run_cell("import time, kernelray\n@kernelray.remote\ndef nap():\n    time.sleep(60)\n")
    result, cap = run(ip, "naps = [nap.remote() for _ in range(2)]\ntime.sleep(0.5)\nraise KeyboardInterrupt")
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    assert "cancelled 2 tasks submitted by this cell (nap ×2)" in cap.stderr
    from kernelray.exceptions import TaskCancelledError

    for r in ip.user_ns["naps"]:
        with pytest.raises(TaskCancelledError):
            kernelray.get(r, timeout=10)
    deadline = time.monotonic() + 10
    while kernelray.available_resources().get("CPU") != 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert kernelray.available_resources().get("CPU") == 2
    # a later cell's interrupt does not touch earlier cells' work
    ip.run_cell("keep = nap.options(num_cpus=0).remote()")
    result, cap = run(ip, "raise KeyboardInterrupt")
    assert "cancelled" not in cap.stderr
    ready, _ = kernelray.wait([ip.user_ns["keep"]], timeout=0.3)
    assert not ready
    kernelray.cancel(ip.user_ns["keep"], force=True)


# -- the summary -------------------------------------------------------------------------------
def test_summary_html_for_a_live_and_a_gone_cluster(cluster):
    from kernelray.extension.summary import context_html

    html = context_html(kernelray.api._driver.info)
    assert "connected" in html and "CPUs" in html and "Object store" in html
    gone = dict(kernelray.api._driver.info, job_id="ffffffff")
    assert "shut down" in context_html(gone)
    assert kernelray.api.RayContext(gone)._repr_mimebundle_() is None  # not in a kernel: no widget
