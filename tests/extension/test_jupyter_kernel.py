"""The Jupyter face against real kernels: output routing, %%remote, interrupts, code shipping."""

from __future__ import annotations

import os
import textwrap
import time

import pytest

from kernelray import node as krnode


def _cell(code: str) -> str:
    return textwrap.dedent(code).strip("\n") + "\n"


# -- output follows its cell ------------------------------------------------------------------
def test_late_output_lands_in_the_submitting_cell(nb_kernel):
    k = nb_kernel
    first = k.run(_cell("""
        @kernelray.remote
        def late(tag):
            time.sleep(1)
            print("late stdout", tag)
            print("late stderr", tag, file=sys.stderr)
            return tag
        late_ref = late.remote("A")
        print("cell one done")
    """))
    second = k.submit("time.sleep(2.5)\nprint('cell two done')")
    k.wait_idle(second, 30)
    k.wait_for(lambda: "late stderr A" in k.text(first, "stderr"), 10, "the late stderr line")
    assert "cell one done" in k.text(first)
    assert "late stdout A" in k.text(first, "stdout")
    assert "late" not in k.text(second)
    assert "cell two done" in k.text(second)
    # plain lines: no Ray prefix for work submitted from a cell
    assert "pid=" not in k.text(first)
    late_msgs = [m for m in k.msgs if m["msg_type"] == "stream" and "late stdout A" in m["content"]["text"]]
    assert [m["parent_header"]["msg_id"] for m in late_msgs] == [first]
    # it arrived while the second cell ran, and still went to the first
    second_busy = next(i for i, m in enumerate(k.msgs) if m["parent_header"].get("msg_id") == second)
    assert k.msgs.index(late_msgs[0]) > second_busy


def test_output_order_and_nested_tasks(nb_kernel):
    k = nb_kernel
    cell = k.run(_cell("""
        @kernelray.remote
        def leaf(i):
            print(f"leaf {i}")
            return i
        @kernelray.remote
        def parent(n):
            print("parent start")
            total = sum(kernelray.get([leaf.remote(i) for i in range(n)]))
            print("parent end")
            return total
        print("before")
        print("total", kernelray.get(parent.remote(3)))
        print("after")
    """))
    out = k.text(cell, "stdout")
    for i in range(3):
        assert f"leaf {i}" in out
    order = [out.index(s) for s in ("before", "parent start", "parent end", "total 3", "after")]
    assert order == sorted(order), out


def test_work_not_submitted_from_a_cell_keeps_ray_prefix(nb_kernel):
    k = nb_kernel
    cell = k.run(_cell("""
        import threading
        @kernelray.remote
        def from_thread():
            print("hello from a thread's task")
            return 1
        box = []
        t = threading.Thread(target=lambda: box.append(kernelray.get(from_thread.remote())))
        t.start(); t.join(30)
        time.sleep(0.5)
        print("box", box)
    """))
    k.drain(0.5)
    prefixed = [m for m in k.msgs if m["msg_type"] == "stream"
                and "(from_thread pid=" in m["content"]["text"] and "hello from a thread's task" in m["content"]["text"]]
    assert prefixed, k.text(cell)
    assert "box [1]" in k.text(cell)


def test_display_from_a_task_is_rich_output_of_the_cell(nb_kernel):
    k = nb_kernel
    cell = k.run(_cell("""
        from IPython.display import HTML
        @kernelray.remote
        def show():
            print("text first")
            display(HTML("<b>bold from a worker</b>"))
            display({"a": 1})
            return 7
        kernelray.get(show.remote())
    """))
    outs = k.outputs(cell)
    kinds = [m["msg_type"] for m in outs]
    assert "display_data" in kinds, kinds
    html = [m["content"]["data"] for m in outs if m["msg_type"] == "display_data"]
    assert html[0]["text/html"] == "<b>bold from a worker</b>"
    assert html[1]["text/plain"] == "{'a': 1}"
    assert kinds.index("stream") < kinds.index("display_data")
    assert k.result(cell)["text/plain"] == "7"


# -- %%remote ----------------------------------------------------------------------------------
def test_remote_cell_binds_shows_and_prints(nb_kernel):
    k = nb_kernel
    k.run("a, b = 20, kernelray.put(22)")
    cell = k.run(_cell("""
        %%remote x, y
        import os
        x = a + b
        y = [x] * 2
        print("on a worker:", os.getpid() != DRIVER_PID)
        x * 10
    """).replace("DRIVER_PID", str(k.eval("os.getpid()"))))
    assert "on a worker: True" in k.text(cell)
    assert k.result(cell)["text/plain"] == "420"
    assert k.eval("type(x).__name__, type(y).__name__") == ("ObjectRef", "ObjectRef")
    assert k.eval("kernelray.get(x), kernelray.get(y)") == (42, [42, 42])
    cell = k.run("%%remote u, v --get -o res\nu = a * 2\nv = 'vee'\nu + 1")
    assert k.result(cell)["text/plain"] == "41"
    assert k.eval("u, v, res") == (40, "vee", 41)
    assert k.eval("%remote a + 1") == 21


def test_remote_cell_noblock_and_options(nb_kernel):
    k = nb_kernel
    cell = k.run(_cell("""
        %%remote z --noblock --num-cpus 1 --resources {} -o zres
        import time
        time.sleep(0.3)
        print("noblock output")
        z = 5
        z * 2
    """))
    assert k.result(cell) is None
    assert k.eval("type(zres).__name__, type(z).__name__") == ("ObjectRef", "ObjectRef")
    assert k.eval("kernelray.get(zres), kernelray.get(z)") == (10, 5)
    k.wait_for(lambda: "noblock output" in k.text(cell), 10, "the noblock cell's output in its cell")


def test_remote_cell_display(nb_kernel):
    k = nb_kernel
    cell = k.run(_cell("""
        %%remote
        from IPython.display import Markdown
        display(Markdown("**md from a remote cell**"))
        None
    """))
    data = [m["content"]["data"] for m in k.outputs(cell, ("display_data",))]
    assert data and data[0]["text/markdown"] == "**md from a remote cell**"


def test_remote_error_shows_cell_line_numbers(nb_kernel):
    k = nb_kernel
    cell = k.run(_cell("""
        %%remote
        def helper(v):
            return 1 / v
        value = 0
        helper(value)
    """), allow_error=True)
    (err,) = k.errors(cell)
    assert err["ename"] == "ZeroDivisionError"
    tb = "\n".join(err["traceback"])
    assert 'File "<remote-cell-' in tb
    assert "line 5, in <module>" in tb and "helper(value)" in tb  # the notebook's own numbering
    assert "line 3, in helper" in tb and "return 1 / v" in tb
    assert "kernelray/" not in tb  # no runtime frames
    # the kernel answers afterwards
    assert k.eval("1 + 1") == 2


@pytest.mark.parametrize("cell, fragment", [
    ("%%remote --get --noblock\nx = 1", "cannot go with --noblock"),
    ("%%remote 1x\nx = 1", "not a variable name"),
    ("%%remote --resources '{bad'\nx = 1", "JSON object"),
    ("%%remote --resources '{\"CPU\": 1}'\nx = 1", "not in --resources"),
    ("%%remote --num-cpus -1\nx = 1", ">= 0"),
    ("%%remote --bogus\nx = 1", "unrecognized arguments"),
    ("%%remote -o 2bad\nx = 1", "-o needs a variable name"),
    ("%%remote\n\n", "empty"),
    ("%remote", "needs an expression"),
    ("%remote --get --noblock f()", "Usage: %remote [--get]"),
    ("%remote --bogus f()", "unknown option '--bogus'"),
    ("%%remote\nx = 1\n!ls", "line 3 `!ls` is IPython syntax"),
])
def test_remote_misuse_is_a_usage_error(nb_kernel, cell, fragment):
    k = nb_kernel
    msg_id = k.run(cell, allow_error=True)
    assert not k.errors(msg_id)  # IPython shows a UsageError as a message, without a traceback
    stderr = k.text(msg_id, "stderr")
    assert stderr.startswith("UsageError: ") and fragment in stderr, stderr


def test_remote_line_magic_with_options(nb_kernel):
    k = nb_kernel
    k.run("c = 6\nval = %remote --get --num-cpus 1 c * 7\nref = %remote --noblock -- -c")
    assert k.eval("val, type(ref).__name__, kernelray.get(ref)") == (42, "ObjectRef", -6)
    cell = k.run("%remote -o kept c + 1")
    assert k.result(cell)["text/plain"] == "7"  # the value shows; `kept` is its ObjectRef
    assert k.eval("type(kept).__name__, kernelray.get(kept)") == ("ObjectRef", 7)
    cell = k.run("%remote print('line magic output') or c;")
    assert "line magic output" in k.text(cell) and k.result(cell) is None


def test_remote_cell_ships_only_what_it_reads(nb_kernel):
    k = nb_kernel
    k.run("import threading\nunpicklable = threading.Lock()\nsmall = 3")
    assert k.eval("%remote small * 2") == 6  # the lock is not read: not shipped
    cell = k.run("%%remote\nunpicklable", allow_error=True)
    (err,) = k.errors(cell)
    assert err["ename"] == "TypeError" and "'unpicklable'" in err["evalue"]


# -- interrupts --------------------------------------------------------------------------------
def test_interrupt_cancels_the_cells_tasks_and_frees_cpus(nb_kernel):
    k = nb_kernel
    k.run(_cell("""
        @kernelray.remote
        def sleeper(i):
            print("started", i, flush=True)
            time.sleep(60)
        @kernelray.remote
        def stubborn(i):
            print("started", i, flush=True)
            while True:
                try:
                    time.sleep(60)
                except KeyboardInterrupt:
                    print("ignoring the interrupt", flush=True)
        HEAD_PIDS = kernelray.api._driver.processes.pids()
    """))
    head_pids = k.eval("HEAD_PIDS")
    cell = k.submit("refs = [sleeper.remote(0), stubborn.remote(1)]\nkernelray.get(refs)")
    k.wait_for(lambda: k.text(cell).count("started") == 2, 30, "both tasks to start")
    t0 = time.monotonic()
    k.km.interrupt_kernel()
    k.wait_idle(cell, 30)
    assert time.monotonic() - t0 < 15
    (err,) = k.errors(cell)
    assert err["ename"] == "KeyboardInterrupt"
    stderr = k.text(cell, "stderr")
    assert "cancelled 2 tasks submitted by this cell" in stderr, stderr
    assert "force-cancelled" in stderr
    # the cluster's own processes were not hit by the kernel's SIGINT
    assert all(krnode._process.pid_alive(p) for p in head_pids)
    assert k.eval(_cell("""
        deadline = time.monotonic() + 10
        while kernelray.available_resources().get("CPU") != 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        kernelray.available_resources().get("CPU")
    """)) == 2
    assert k.eval("kernelray.get(kernelray.remote(lambda: 'still usable').remote())") == "still usable"
    cancelled = k.eval(_cell("""
        from kernelray.exceptions import TaskCancelledError
        outcome = []
        for r in refs:
            try:
                kernelray.get(r, timeout=10)
            except TaskCancelledError:
                outcome.append("cancelled")
        outcome
    """))
    assert cancelled == ["cancelled", "cancelled"]


# -- notebook code ----------------------------------------------------------------------------
def test_redefined_function_runs_the_new_code(nb_kernel):
    k = nb_kernel
    k.run("@kernelray.remote\ndef version():\n    return 'one'")
    assert k.eval("kernelray.get(version.remote())") == "one"
    k.run("@kernelray.remote\ndef version():\n    return 'two'")
    assert k.eval("kernelray.get(version.remote())") == "two"
    k.run("class Shape:\n    sides = 3\n@kernelray.remote\ndef sides(s):\n    return s.sides")
    assert k.eval("kernelray.get(sides.remote(Shape()))") == 3
    k.run("class Shape:\n    sides = 4")
    assert k.eval("kernelray.get(sides.remote(Shape()))") == 4


def test_autoreload_reaches_workers(kernel_factory, tmp_path):
    work = tmp_path / "project"
    work.mkdir()
    (work / "helpers_kr.py").write_text("def value():\n    return 'old'\n")
    k = kernel_factory("autoreload", cwd=str(work))
    k.run(_cell("""
        %load_ext autoreload
        %autoreload 2
        import kernelray, helpers_kr
        kernelray.init(num_cpus=1)
        @kernelray.remote
        def through_module():
            return helpers_kr.value()
        @kernelray.remote
        def direct():
            from helpers_kr import value
            return value()
    """))
    assert k.eval("kernelray.get(through_module.remote()), kernelray.get(direct.remote())") == ("old", "old")
    time.sleep(0.05)
    (work / "helpers_kr.py").write_text("def value():\n    return 'new'\n")
    st = os.stat(work / "helpers_kr.py")
    os.utime(work / "helpers_kr.py", ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    assert k.eval("helpers_kr.value()") == "new"
    assert k.eval("kernelray.get(through_module.remote())") == "new"
    k.run("kernelray.shutdown()")


def test_env_and_paths_reach_workers(nb_kernel):
    k = nb_kernel
    got = k.eval(_cell("""
        @kernelray.remote
        def where(driver_path):
            import os, sys
            return os.getcwd(), all(p in sys.path for p in driver_path), os.environ.get("KR_TEST_VAR")
        opts = {"runtime_env": {"env_vars": {"KR_TEST_VAR": "set"}}}
        cwd, has_path, env = kernelray.get(where.options(**opts).remote([p for p in sys.path if p]))
        cwd == os.getcwd(), has_path, env
    """))
    assert got == (True, True, "set")


# -- the init() summary ----------------------------------------------------------------------
def test_init_summary_and_shutdown_button(kernel_factory):
    k = kernel_factory("summary")
    cell = k.run("import kernelray\nctx = kernelray.init(num_cpus=2)\nctx")
    data = k.result(cell)
    assert "application/vnd.jupyter.widget-view+json" in data
    html = data["text/html"]
    assert "connected" in html and '<b>CPUs</b></td><td style="text-align:left">2 (' in html and "Object store" in html
    assert "Dashboard" in html
    # the Shutdown button's handler, as a click would run it
    k.run("from kernelray.extension.summary import ClusterWidget\nw = ClusterWidget(ctx)\nw._shutdown()")
    assert k.eval("kernelray.is_initialized()") is False
    assert "shut down" in k.eval("ctx._repr_html_()")
    assert k.eval("w.button.disabled") is True
    cell = k.run("ctx2 = kernelray.init(num_cpus=1)\nctx2")
    assert '<b>CPUs</b></td><td style="text-align:left">1 (' in k.result(cell)["text/html"]
    assert k.eval("kernelray.get(kernelray.remote(lambda: 3).remote())") == 3
    k.run("kernelray.shutdown()")


# -- lifecycle ------------------------------------------------------------------------------------
def test_load_ext_starts_lazily_and_unload_stops(kernel_factory):
    k = kernel_factory("lazy")
    k.run("%load_ext kernelray\nimport kernelray")
    assert k.eval("kernelray.is_initialized()") is False
    assert k.eval("%remote 6 * 7") == 42
    sid = k.eval("import os; os.path.basename(kernelray.api._driver.info['session_dir'])")
    assert krnode.session_processes(sid)
    k.run("%unload_ext kernelray")
    assert k.eval("kernelray.is_initialized()") is False
    deadline = time.monotonic() + 5
    while krnode.session_processes(sid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not krnode.session_processes(sid)
    cell = k.run("%remote 1", allow_error=True)
    assert "UsageError: Line magic function `%remote` not found" in k.text(cell, "stderr")  # the magic is gone


def _start_cluster(k) -> str:
    return k.eval("import kernelray, os\nos.path.basename(kernelray.init(num_cpus=2)['session_dir'])")


def _wait_gone(sid: str, timeout: float = 5.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = krnode.session_processes(sid)
        if not left:
            return []
        time.sleep(0.05)
    return krnode.session_processes(sid)


@pytest.mark.parametrize("how", ["restart", "restart-now", "shutdown", "sigkill"])
def test_kernel_end_leaves_no_cluster_process(kernel_factory, how):
    k = kernel_factory(how)
    sid = _start_cluster(k)
    k.run("@kernelray.remote\ndef busy():\n    import time; time.sleep(30)\nrefs = [busy.remote() for _ in range(2)]")
    pids = krnode.session_processes(sid)
    assert len(pids) >= 3  # GCS, raylet, workers
    if how == "restart":
        k.km.restart_kernel(now=False)
    elif how == "restart-now":
        k.km.restart_kernel(now=True)
    elif how == "shutdown":
        k.km.shutdown_kernel(now=False)
    else:
        os.kill(k.pid(), 9)
    left = _wait_gone(sid)
    assert not left, f"{how}: left behind {left}"
    if how.startswith("restart"):
        k.kc.wait_for_ready(timeout=60)
        assert k.eval("1 + 1") == 2


# -- actors (when kernelray.actor exists) ---------------------------------------------------------
def test_remote_actor_cells_keep_state(nb_kernel):
    k = nb_kernel
    if not k.eval("import importlib.util; importlib.util.find_spec('kernelray.actor') is not None"):
        cell = k.run("%%remote --actor cells\ncount = 0", allow_error=True)
        assert "UsageError: " in k.text(cell, "stderr") and "actor support" in k.text(cell, "stderr")
        pytest.skip("kernelray.actor is not there yet: --actor gives a UsageError")
    k.run("%%remote --actor cells\ncount = 10\nprint('actor cell ran')")
    k.run("count = -1")  # a notebook variable of the same name does not override the actor's
    cell = k.run("%%remote --actor cells\ncount += 1\ncount")
    assert k.result(cell)["text/plain"] == "11"
    assert "actor cell ran" in "".join(m["content"]["text"] for m in k.msgs if m["msg_type"] == "stream")


def test_actor_output_follows_its_cell_and_interrupt_cancels_actor_calls(nb_kernel):
    k = nb_kernel
    if not k.eval("import importlib.util; importlib.util.find_spec('kernelray.actor') is not None"):
        pytest.skip("kernelray.actor is not there yet")
    k.run(_cell("""
        @kernelray.remote
        class Greeter:
            def slow(self):
                print("slow call started", flush=True)
                time.sleep(60)
            def hello(self, who):
                print(f"hello {who} from an actor")
                return who
        greeter = Greeter.remote()
    """))
    cell = k.run("kernelray.get(greeter.hello.remote('cell'))")
    assert "hello cell from an actor" in k.text(cell) and "pid=" not in k.text(cell)
    cell = k.submit("kernelray.get(greeter.slow.remote())")
    k.wait_for(lambda: "slow call started" in k.text(cell), 30, "the actor call to start")
    k.km.interrupt_kernel()
    k.wait_idle(cell, 30)
    assert "cancelled 1 task submitted by this cell (Greeter.slow)" in k.text(cell, "stderr")
    assert k.eval("kernelray.get(greeter.hello.remote('again'), timeout=20)") == "again"
