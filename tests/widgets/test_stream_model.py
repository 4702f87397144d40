"""The task stream's data (TaskStreamModel): lanes, bars, bounds at 100k tasks, the static SVG."""

from __future__ import annotations

import json

from kernelray.util.timeline import chrome_trace
from kernelray.widgets import svg
from kernelray.widgets.stream_model import FAILED, OK, RUNNING, TaskStreamModel


def span(i, name="f", start=None, dur=0.01, node="n1", pid=100, actor=None, state="FINISHED", running=False, err=None):
    start = 1000.0 + i * 0.001 if start is None else start
    return {"task_id": f"{i:048x}", "name": name, "start": start, "end": start + dur, "running": running,
            "node_id": node, "worker_id": f"w{pid}", "pid": pid, "attempt": 0, "state": state, "error_type": err,
            "job_id": "01000000", "actor_id": actor}


def test_one_lane_per_worker_grouped_by_node_and_actor_calls_in_their_actor_lane():
    m = TaskStreamModel()
    m.apply([span(0, node="n2", pid=7), span(1, pid=1), span(2, pid=2), span(3, name="A.m", pid=3, actor="aa" * 8),
             span(4, pid=1)], version=1, now=1001.0)
    m.set_actor_names({"aa" * 8: "Counter"})
    lanes = m.payload()["lanes"]
    assert [(ln["node"], ln["label"]) for ln in lanes] == [("n2", "worker 7"), ("n1", "worker 1"), ("n1", "worker 2"),
                                                          ("n1", "Counter aaaaaa")]
    assert lanes[-1]["kind"] == "actor"
    assert len(m.payload()["bars"]) == 5


def test_bars_are_coloured_by_function_and_carry_status_and_error():
    m = TaskStreamModel()
    m.apply([span(0, "f"), span(1, "g", state="FAILED", err="TASK_EXECUTION_EXCEPTION"), span(2, "f", running=True)],
            version=1, now=1001.0)
    p = m.payload()
    assert p["functions"] == ["f", "g"] and len(p["colors"]) == 2 and p["colors"][0] != p["colors"][1]
    fns = [b[3] for b in p["bars"]]
    assert fns == [0, 1, 0]
    assert [b[4] for b in p["bars"]] == [OK, FAILED, RUNNING]
    assert p["bars"][1][6] == "TASK_EXECUTION_EXCEPTION"
    assert p["bars"][0][5] == f"{0:048x}"[:12]


def test_a_running_bar_is_updated_in_place_when_it_ends():
    m = TaskStreamModel()
    m.apply([span(0, dur=0.5, running=True, state="RUNNING")], version=1, now=1000.5)
    m.apply([span(0, dur=2.0)], version=2, now=1002.0)
    p = m.payload()
    assert len(p["bars"]) == 1 and p["bars"][0][2] == 2000.0 and p["bars"][0][4] == OK
    assert m.version == 2


def test_100k_tasks_keep_the_data_bounded():
    m = TaskStreamModel(max_bars=10_000)
    spans = [span(i, name=f"fn{i % 7}", pid=100 + i % 40, node=f"n{i % 4}", start=1000.0 + i * 0.002, dur=0.004)
             for i in range(100_000)]
    for k in range(0, len(spans), 20_000):  # as the poller receives them: deltas
        m.apply(spans[k:k + 20_000], version=k, now=1200.0)
    s = m.stats()
    assert s["bars"] == 10_000 and s["binned"] == 90_000
    assert s["bins"] <= m.max_bins and s["lanes"] == 40 and s["functions"] == 7
    p = m.payload()
    assert len(p["bars"]) == 10_000
    newest = max(b[1] for b in p["bars"])
    assert newest == round((spans[-1]["start"] - m.t0) * 1000, 1)  # the newest are kept
    busy = sum(b[2] * b[3] for b in p["bins"]) / 1000  # the binned work is accounted for
    assert abs(busy - 90_000 * 0.004) < 1.0
    assert len(json.dumps(p)) < 1_500_000  # what the browser receives per refresh
    html = svg.stream_svg(p)
    assert html.count("<rect") < 7_000 and len(html) < 1_500_000  # the static picture stays small


def test_bins_and_lanes_and_functions_are_capped():
    m = TaskStreamModel(max_bars=10, max_bins=50)
    m.apply([span(i, name=f"fn{i}", pid=i, start=1000.0 + i) for i in range(2_000)], version=1, now=3000.0)
    s = m.stats()
    assert s["bins"] <= 50 and s["lanes"] <= 257 and s["functions"] <= 513


def test_the_static_svg_has_a_lane_label_and_a_bar_per_task():
    m = TaskStreamModel()
    m.apply([span(0, dur=1.0), span(1, start=1002.0, pid=2, name="g")], version=1, now=1003.0)
    html = svg.stream_svg(m.payload())
    assert html.startswith("<svg") and 'data-bars="2"' in html
    assert html.count('class="kr-lane"') == 2 and html.count('class="kr-bar"') == 2
    assert svg.stream_svg(TaskStreamModel().payload()).startswith("<div")


def test_the_kept_bars_export_as_the_timeline_chrome_trace():
    m = TaskStreamModel()
    m.apply([span(0), span(1, pid=2, state="FAILED", err="WORKER_DIED")], version=1, now=1001.0)
    events = chrome_trace(m.spans())
    x = [e for e in events if e["ph"] == "X"]
    assert len(x) == 2 and {e["args"]["task_id"] for e in x} == {f"{0:048x}", f"{1:048x}"}
    assert any(e["args"]["error_type"] == "WORKER_DIED" for e in x)
    assert {e["name"] for e in events if e["ph"] == "M"} == {"process_name", "thread_name"}


def test_the_payload_says_which_bars_each_notebook_cell_drew():
    m = TaskStreamModel()
    spans = [{"task_id": f"{i:02x}" + "0" * 30, "name": "f", "start": float(i), "end": i + 0.5, "node_id": "n" * 32,
              "pid": 1} for i in range(10)]
    m.apply(spans, 1, 20.0)
    assert m.payload()["cells"] == {}  # no notebook: no highlight
    m.cell_of = lambda tid12: 3 if int(tid12[:2], 16) < 4 else (7 if int(tid12[:2], 16) < 6 else None)
    p = m.payload()
    assert p["cells"] == {"3": [0, 1, 2, 3], "7": [4, 5]}
    assert all(p["bars"][i][5] == (f"{i:02x}" + "0" * 30)[:12] for i in p["cells"]["3"])
