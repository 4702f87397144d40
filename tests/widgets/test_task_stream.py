"""The live task stream against a real cluster: deltas from the GCS, actor lanes, the mimebundle, the trace."""

from __future__ import annotations

import json
import time

import pytest

import kernelray as ray
from kernelray.core.task_events import FLUSH_INTERVAL_S
from kernelray.util.state import timeline_delta

from ..conftest import wait_until

pytest.importorskip("anywidget")


@ray.remote
def tick(i):
    time.sleep(0.01)
    return i


@ray.remote
class Counter:
    def add(self):
        return 1


def _stream():
    from kernelray.widgets.stream import TaskStream

    return TaskStream(live=False)


def test_the_gcs_answers_only_tasks_updated_since_a_version(cluster):
    ray.get([tick.remote(i) for i in range(20)])
    wait_until(lambda: len(timeline_delta()["spans"]) >= 20, 10, what="the 20 spans")
    seen = [timeline_delta()["version"]]

    def settled():  # no batch for longer than two flush intervals: the owner's and workers' last events are in
        time.sleep(2.5 * FLUSH_INTERVAL_S)
        seen.append(timeline_delta()["version"])
        return seen[-1] == seen[-2]

    wait_until(settled, 20, interval=0, what="the task events to settle")
    v = seen[-1]
    assert timeline_delta(since=v)["spans"] == []
    ray.get(tick.remote(99))
    wait_until(lambda: timeline_delta(since=v)["spans"], 10, what="the new task's span")
    assert {s["name"] for s in timeline_delta(since=v)["spans"]} == {"tick"}
    assert len(timeline_delta(since=v)["spans"]) == 1
    assert len(timeline_delta(since=-1, limit=3)["spans"]) <= 3  # the newest 3 tasks


def test_the_stream_shows_a_fan_out_and_an_actor_lane(cluster):
    c = Counter.remote()
    ray.get([c.add.remote() for _ in range(3)] + [tick.remote(i) for i in range(10)])
    s = _stream()
    try:
        def seen():
            s.refresh()
            p = s.data
            return p.get("lanes") and {"Counter.add", "tick"} <= set(p["functions"])

        wait_until(seen, 10, what="the stream to show tick and Counter.add")
        s._actors_at = 0.0
        s.refresh()
        lanes = s.data["lanes"]
        actor_lanes = [ln for ln in lanes if ln["kind"] == "actor"]
        assert actor_lanes and actor_lanes[0]["label"].startswith("Counter ")
        fn = s.data["functions"].index("Counter.add")
        actor_index = actor_lanes[0]["index"]
        assert all(b[0] == actor_index for b in s.data["bars"] if b[3] == fn)  # the calls are in their actor's lane
        bundle = s._repr_mimebundle_()
        assert "application/vnd.jupyter.widget-view+json" in bundle
        assert bundle["text/html"].startswith("<svg") and "kr-bar" in bundle["text/html"]
        assert "task stream" in bundle["text/plain"]
    finally:
        s.close()


def test_the_stream_exports_the_timeline_chrome_trace(cluster, tmp_path):
    ray.get([tick.remote(i) for i in range(5)])
    s = _stream()
    try:
        wait_until(lambda: (s.refresh(), s.model.stats()["bars"] >= 5)[1], 10, what="5 bars")
        path = s.export_chrome_trace(str(tmp_path / "trace.json"))
        events = json.load(open(path))
        ours = {e["args"]["task_id"] for e in events if e["ph"] == "X"}
        theirs = {e["args"]["task_id"] for e in ray.timeline() if e["ph"] == "X"}
        assert ours and ours <= theirs
    finally:
        s.close()
