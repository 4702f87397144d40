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


# -- %remote [options] expr --------------------------------------------------------------------
@pytest.mark.parametrize("line, flags, expr", [
    ("f(3)", "", "f(3)"),
    ("--get f(3)", "--get ", "f(3)"),
    ("--num-cpus 2 --resources '{\"a b\": 1}' f(x) + 1", "--num-cpus 2 --resources '{\"a b\": 1}' ", "f(x) + 1"),
    ("-o r --noblock g(1, 2)", "-o r --noblock ", "g(1, 2)"),
    ("-or --output=s --num-c 1 h()", "-or --output=s --num-c 1 ", "h()"),  # as argparse: attached, =, prefix
    ("--num-cpus -1 x", "--num-cpus -1 ", "x"),  # an option's value is the next token, even "-1"
    ("-- -x", "", "-x"),  # `--` ends the options
    ("--get  ", "--get  ", ""),
    ('"--get".upper()', "", '"--get".upper()'),  # the expression is the rest of the line, verbatim
    ("  a  --get  ", "  ", "a  --get"),
])
def test_split_line_options_then_expression(line, flags, expr):
    from kernelray.extension.magics import KernelrayMagics, split_line

    assert split_line(KernelrayMagics.remote.parser, line) == (flags, expr)


def test_remote_line_takes_the_cell_options(ip):
    ip.user_ns.update(base=5, ref=kernelray.put(37))
    assert ip.run_line_magic("remote", "--get base + ref") == 42  # free variables from the notebook
    result, _ = run(ip, "x = %remote --get --num-cpus 0.5 base * 3\ny = %remote base * 4;\n")
    assert result.error_in_exec is None, result.error_in_exec
    assert (ip.user_ns["x"], ip.user_ns["y"]) == (15, None)  # a trailing `;` hides the value, as with %time
    ref = ip.run_line_magic("remote", "--noblock base + 1")
    assert isinstance(ref, kernelray.ObjectRef) and kernelray.get(ref) == 6
    assert ip.run_line_magic("remote", "--noblock -o later base + 2") is None
    assert kernelray.get(ip.user_ns["later"]) == 7
    assert ip.run_line_magic("remote", "-o kept base + 3") == 8  # blocking: the value, -o keeps the ObjectRef
    assert isinstance(ip.user_ns["kept"], kernelray.ObjectRef) and kernelray.get(ip.user_ns["kept"]) == 8
    assert ip.run_line_magic("remote", "--get --output=val base + 4") == 9 and ip.user_ns["val"] == 9
    assert ip.run_line_magic("remote", "-- -base") == -5
    result, _ = run(ip, "s = %remote {base}")
    assert ip.user_ns["s"] == {5}  # the line is Python: no IPython {var} expansion
    ref = ip.run_line_magic("remote", "--resources '{\"unobtainium\": 1}' --noblock 1")
    ready, _ = kernelray.wait([ref], timeout=0.5)
    assert not ready  # infeasible: pending, so the resources were applied
    kernelray.cancel(ref)


def test_remote_line_in_a_cell_actor(ip):
    ip.user_ns["base"] = 5
    ip.run_cell_magic("remote", "--actor linebox", "kept = 100")
    assert ip.run_line_magic("remote", "--actor linebox kept + base") == 105
    ip.user_ns["kept"] = -1  # a notebook variable of the same name: the actor's own wins
    assert ip.run_line_magic("remote", "--actor linebox kept") == 100


@pytest.mark.parametrize("line, fragment", [
    ("", "needs an expression"),
    ("--get --num-cpus 1", "needs an expression"),
    ("--get --noblock f(1)", "cannot go with --noblock"),
    ("--bogus f()", "unknown option '--bogus'"),
    ("-x", "goes after '--'"),
    ("--num f()", "ambiguous option '--num'"),
    ("--num-cpus abc f()", "invalid float value"),
    ("--num-gpus -2 f()", ">= 0"),
    ("--resources [1] f()", "JSON object of resource names"),
    ("--resources '{\"CPU\": 1}' f()", "not in --resources"),
    ("-o 2bad f()", "-o needs a variable name"),
    ("-o", "expected one argument"),
    ("%time f()", "`%time f()` is IPython syntax"),
])
def test_remote_line_usage_errors(ip, monkeypatch, line, fragment):
    from IPython.core.error import UsageError
    from kernelray.extension import magics

    monkeypatch.setattr(magics, "_remote_run_cell", lambda: pytest.fail("submitted despite a usage error"))
    with pytest.raises(UsageError) as info:
        ip.run_line_magic("remote", line)
    text = str(info.value)
    assert text.startswith("%remote") and fragment in text, text
    assert text.endswith(f"Usage: {magics.LINE_USAGE}")  # the line form's usage, not the cell's


# -- IPython syntax inside a %%remote cell ------------------------------------------------------
def test_magic_lines_found_only_where_ipython_sees_them():
    from kernelray.extension.magics import magic_lines

    src = ("#%%remote\na = 1\n%time b = 2\n!ls -l \\\n  more\nz = !ls\nq = %env\nw?\n"
           "y = (a\n     % 3)\ns = '''\n%notmagic\n!not a command\n'''\nbad syntax here(\n")
    assert magic_lines(src) == [(3, "%time b = 2"), (4, "!ls -l \\"), (6, "z = !ls"), (7, "q = %env"), (8, "w?")]
    assert magic_lines("#%%remote\nx = 1\n") == []


def test_remote_cell_with_a_magic_is_refused_before_submitting(ip, monkeypatch):
    from IPython.core.error import UsageError
    from kernelray.extension import magics

    monkeypatch.setattr(magics, "_remote_run_cell", lambda: pytest.fail("submitted a cell with a magic"))
    with pytest.raises(UsageError) as info:
        ip.run_cell_magic("remote", "x", "x = 1\n%timeit x + 1\n!pip install nothing\nx")
    text = str(info.value)
    assert text.startswith("%%remote: line 3 `%timeit x + 1`, line 4 `!pip install nothing` are IPython syntax")
    assert "nothing was submitted" in text and text.endswith(f"Usage: {magics.CELL_USAGE}")
    result, cap = run(ip, "%%remote --actor magicbox\n%pip list")
    assert isinstance(result.error_in_exec, UsageError) and "line 2 `%pip list`" in cap.stderr
    assert "magicbox" not in {key[1] for key in ip.magics_manager.registry["KernelrayMagics"].actor_handles}
    # a real SyntaxError stays a SyntaxError, with the cell's numbering
    with pytest.raises(SyntaxError) as info:
        ip.run_cell_magic("remote", "", "x = 1\ny = (\n")
    assert info.value.filename.startswith("<remote-cell-")


def test_remote_cell_python_that_looks_like_a_magic_runs(ip):
    ip.user_ns["base"] = 5
    cell = "y = (base\n     % 3)\ns = '''\n%not a magic\n!nor a command\n'''\ny, s.split()"
    assert ip.run_cell_magic("remote", "", cell) == (2, ["%not", "a", "magic", "!nor", "a", "command"])


def test_time_above_remote_times_the_remote_cell(ip):
    ip.user_ns["base"] = 5
    result, cap = run(ip, "%%time\n%%remote\nbase * 2")
    assert result.error_in_exec is None, result.error_in_exec
    assert "Wall time" in cap.stdout


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


def test_kernelray_line_magic_status_memory_and_cells(ip):
    """%kernelray status|memory|dashboard; call sites name the notebook cell that made each ref."""
    from IPython.core.error import UsageError

    from kernelray.core import context

    assert ip.run_cell("import kernelray\nheld_by_cell = kernelray.put(list(range(10)))", store_history=True).success
    oid = ip.user_ns["held_by_cell"].binary()
    site = context.core.call_sites.get(oid, "")
    assert site.startswith("In ["), site  # the cell, not IPython's hashed file name
    for line in ("status", "memory", "memory --group-by cell"):
        result, cap = run(ip, f"%kernelray {line}")
        assert result.success, result.error_in_exec
    assert "In [" in cap.stdout and "refs" in cap.stdout  # grouped by cell
    for bad in ("", "bogus", "memory --group-by nothing", "status now"):
        with pytest.raises(UsageError, match="Usage: %kernelray"):
            ip.run_line_magic("kernelray", bad)
    dash = ip.run_line_magic("kernelray", "dashboard")
    try:
        assert type(dash).__name__ == "Dashboard"
    finally:
        dash.close()
    del ip.user_ns["held_by_cell"]


def test_kernelray_dashboard_shows_one_picture_alone(ip):
    from IPython.core.error import UsageError

    pytest.importorskip("anywidget")
    names = {"stream": "TaskStream", "progress": "FunctionProgress", "memory": "MemoryView", "cluster": "ClusterView"}
    for word, cls in names.items():
        view = ip.run_line_magic("kernelray", f"dashboard {word}")
        try:
            assert type(view).__name__ == cls
            assert "text/html" in view._repr_mimebundle_()
        finally:
            view.close()
    with pytest.raises(UsageError, match="unknown view"):
        ip.run_line_magic("kernelray", "dashboard tables")
