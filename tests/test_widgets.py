"""Widgets: the dashboard and progress bar, fed by the single poller; headless snapshots; Out-history pins;
the poller's cost while 50,000 tasks run."""

from __future__ import annotations

import threading
import time

import pytest

import kernelray as ray
from kernelray.widgets import _poller as poller_mod
from kernelray.widgets import render

from .conftest import wait_until

pytest.importorskip("ipywidgets")


@ray.remote
def nap(s):
    time.sleep(s)
    return s


@ray.remote
def noop():
    return None


@pytest.fixture
def dash(cluster):
    d = ray.dashboard()
    try:
        yield d
    finally:
        d.close()
        wait_until(lambda: not poller_mod.poller.stats()["running"], 5, what="the poller to stop with no views")


def _poller_threads():
    return [t for t in threading.enumerate() if t.name == "kernelray-widgets-poller"]


def test_dashboard_updates_live_from_one_poller(dash):
    second = ray.dashboard()
    try:
        assert len(_poller_threads()) == 1 and poller_mod.poller.stats()["views"] == 2
        refs = [nap.remote(0.3) for _ in range(8)]
        seen = []

        def record():
            t = dict(dash.summary["tasks"])
            if not seen or seen[-1] != t:
                seen.append(t)
            return t.get("FINISHED", 0) >= 8 and sum(t.values()) == t.get("FINISHED", 0)

        ray.get(refs)
        wait_until(record, 15, interval=0.05, what="the dashboard to show 8 finished")
        assert any(t.get("RUNNING") or t.get("PENDING_NODE_ASSIGNMENT") or t.get("SUBMITTED_TO_WORKER")
                   for t in seen), seen  # it showed work in flight, not only the end
        assert second.summary["tasks"] == dash.summary["tasks"]
        assert 'data-finished="' in dash.views["tasks"].value and "nap" in dash.views["tasks"].value
        assert dash.updates > 1 and poller_mod.poller.stats()["ticks"] >= 2
    finally:
        second.close()
    assert len(_poller_threads()) <= 1


def test_dashboard_views_and_headless_snapshot(dash):
    keep = ray.put(b"x" * 1000)  # noqa: F841 - listed in the objects view
    ray.get([nap.remote(0.01) for _ in range(3)])
    time.sleep(0.8)
    dash.refresh()
    html = dash.snapshot_html()
    for cls in ("kr-tasks", "kr-objects-view", "kr-actors-view", "kr-pg-view", "kr-nodes-view", "kr-pins-view"):
        assert cls in html, cls
    assert keep.hex()[:14] in dash.views["objects"].value
    assert "No placement groups." in dash.views["placement_groups"].value
    assert 'data-resource="CPU"' in dash.views["nodes"].value
    bundle = dash._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/html"] == dash.snapshot_html()
    assert bundle["text/plain"].startswith("kernelray dashboard:") and "FINISHED" in bundle["text/plain"]


def test_progress_widget(cluster):
    refs = [nap.remote(0.15) for _ in range(6)]
    bar = ray.widgets.progress(refs, description="naps")
    seen = set()
    try:
        wait_until(lambda: seen.add(bar.bar.value) or bar.bar.value == 6, 20, interval=0.05, what="the bar to fill")
        assert len(seen) >= 3, seen  # it moved through intermediate values
        assert bar.get() == [0.15] * 6
        assert bar.bar.bar_style == "success" and 'data-done="6"' in bar.label.value
        assert 'data-done="6" data-total="6"' in bar._repr_mimebundle_()["text/html"]
        assert bar.text_summary() == "naps: 6 / 6 ready"
        wait_until(lambda: bar not in poller_mod.poller.views, 5, what="a finished bar to leave the poller")
    finally:
        bar.close()
    failing = ray.widgets.progress([ray.remote(lambda: 1 / 0).remote()], display=False)
    try:
        with pytest.raises(ZeroDivisionError):
            failing.get()
        assert failing.failed == 1 and failing.bar.bar_style == "danger"
    finally:
        failing.close()


def test_output_history_pins(cluster):
    from IPython.core.interactiveshell import InteractiveShell

    from kernelray.widgets import history_pins, release_history_pins

    ip = InteractiveShell.instance()
    try:
        for code in ("import kernelray as ray", "ray.put(1)", "kept = ray.put(2); kept", "[ray.put(3), ray.put(4)]",
                     "1 + 1"):
            assert ip.run_cell(code, store_history=True).success
        pins = {p["index"]: p for p in history_pins(ip.user_ns)}
        only = {i for i, p in pins.items() if p["only_history"]}
        assert set(pins) == {2, 3, 4} and only == {2, 4}, pins
        assert pins[4]["num_refs"] == 2 and pins[2]["size"] > 0
        html = render.pins_html(list(pins.values()))
        assert 'data-count="3"' in html and "Out[2]" in html
        oid = pins[2]["object_ids"][0]
        core = ray.api._driver.core
        core.refs_flush()  # ref-count updates reach the I/O thread's table asynchronously
        wait_until(lambda: any(o.hex() == oid for o in list(core.refs.entries)), 5, what="the history's ref to be counted")
        assert release_history_pins(ip.user_ns) == 2
        assert sorted(ip.user_ns["Out"]) == [3, 5] and "_2" not in ip.user_ns and "_4" not in ip.user_ns
        assert [p["index"] for p in history_pins(ip.user_ns)] == [3]
        core.refs_flush()
        wait_until(lambda: not any(o.hex() == oid for o in list(core.refs.entries)), 5, what="the object to be freed")
    finally:
        InteractiveShell.clear_instance()


def test_poller_cost_while_50k_tasks_run(dash):
    """The dashboard keeps updating while 50,000 tasks run; its thread uses < 10 % of one core."""
    p = poller_mod.poller
    cpu0, wall0, ticks0 = p.cpu_s, time.monotonic(), p.ticks
    versions = set()
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            versions.add(dash.task_version)
            time.sleep(0.1)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    try:
        n = 50_000
        for start in range(0, n, 10_000):  # submitted in waves so the run lasts a while
            ray.get([noop.remote() for _ in range(10_000)])
        wait_until(lambda: dash.summary["tasks"].get("FINISHED", 0) >= n, 30, interval=0.1,
                   what="the dashboard to count 50,000 finished")
    finally:
        stop.set()
        t.join(2)
    wall = time.monotonic() - wall0
    cpu = p.cpu_s - cpu0
    ticks = p.ticks - ticks0
    frac = cpu / wall
    print(f"\npoller: {cpu:.3f} s CPU in {wall:.1f} s wall ({100 * frac:.2f} %), {ticks} ticks, "
          f"{len(versions)} distinct views of the task summary")
    assert frac < 0.10, frac
    assert ticks >= wall / poller_mod.INTERVAL_S * 0.5  # at least about twice a second
    assert len(versions) >= 5  # the view kept changing while the tasks ran
    assert dash.views["tasks"].value.count("<tr>") <= dash.max_rows + 25  # throttled: never 50k rows
