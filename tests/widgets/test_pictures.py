"""Data of the progress-per-function, memory and cluster pictures (pure), bounded; the auto bar's switch."""

from __future__ import annotations

from kernelray.widgets import auto_progress
from kernelray.object_ref import ObjectRef
from kernelray.widgets.pictures import (MemoryModel, cluster_model, cluster_svg, function_progress, memory_svg,
                                        notebook_holders, progress_svg)


def test_progress_per_function_is_bounded_and_sorted():
    counts = {f"fn{i}": {"FINISHED": i, "RUNNING": 1} for i in range(100_000)}
    rows = function_progress(counts)
    assert len(rows) == 21 and rows[0][0] == "fn99999" and rows[-1][0] == "(99980 others)"
    assert sum(r[2] for r in rows) == sum(sum(c.values()) for c in counts.values())
    html = progress_svg(rows)
    assert html.startswith("<svg") and 'data-done="99999"' in html and len(html) < 40_000


def test_memory_keeps_a_bounded_history_and_the_largest_objects():
    m = MemoryModel(points=50)
    objs = [{"object_id": f"{i:040x}", "object_size": i, "reference_type": "LOCAL_REFERENCE",
             "call_site": f"In [3]:{i}", "location": "IN_STORE"} for i in range(100_000)]
    for t in range(200):
        m.apply(objs if t == 199 else [], [{"node_id": "n1" * 8, "used": t, "capacity": 1000, "num_spilled_now": 0}], t)
    assert len(m.history["n1" * 8]) == 50 and m.total_objects == 100_000
    assert [r["object_size"] for r in m.largest][:2] == [99_999, 99_998] and len(m.largest) == 10
    html = memory_svg(m)
    assert "In [3]:99999" in html and 'data-how="' in html and "del" in html and len(html) < 20_000


def test_memory_draws_primary_and_secondary_copies_and_spilled_bytes():
    m = MemoryModel()
    for t in range(5):
        m.apply([], [{"node_id": "a" * 32, "used": 300 + t, "capacity": 1000, "num_spilled_now": 2,
                      "primary_bytes": 200, "secondary_bytes": 100 + t, "spilled_bytes_now": 4096}], float(t))
    html = memory_svg(m)
    assert 'data-primary="200"' in html and 'data-secondary="104"' in html
    assert "kr-mem-primary" in html and "kr-mem-secondary" in html and "kr-mem-spilled" in html
    assert "2 spilled (4.0 KiB)" in html or "2 spilled (4 KiB)" in html or "2 spilled (4.1 kB)" in html, html


def test_memory_says_which_notebook_variable_holds_an_object():
    a, b, c = (ObjectRef(bytes([i]) * 28, "", _count=False) for i in (1, 2, 3))
    namespace = {"x": a, "refs": [b, c], "by_name": {"k": c}, "_hidden": a, "n": 5, "Out": {1: a}}
    held = notebook_holders(namespace, {a.hex(), c.hex()})
    assert held == {a.hex(): ["x", "Out"], c.hex(): ["refs", "by_name"]}
    m = MemoryModel()
    row = {"object_id": a.hex(), "object_size": 10, "reference_type": "LOCAL_REFERENCE", "call_site": "In [2]:1"}
    m.apply([row], [], 0.0, holders=lambda wanted: notebook_holders(namespace, wanted))
    html = memory_svg(m)
    assert "held by x, Out in the notebook" in html and "`del x`" in html


def test_cluster_draws_bundles_on_their_nodes_and_actors_with_restarts():
    nodes = [{"node_id": "a" * 32, "state": "ALIVE", "resources_total": {"CPU": 4.0, "GPU": 1.0, "node:1.2.3.4": 1.0},
              "resources_available": {"CPU": 1.0, "GPU": 1.0}}]
    pgs = [{"placement_group_id": "p" * 16, "name": "pg1", "state": "CREATED", "bundles": [{"CPU": 2.0}],
            "bundle_nodes": ["a" * 32]}]
    actors = [{"actor_id": "c" * 32, "class_name": "Counter", "state": "RESTARTING", "num_restarts": 2,
               "node_id": "a" * 32}]
    c = cluster_model(nodes, pgs, actors)
    n = c["nodes"][0]
    assert n["resources"] == {"CPU": (3.0, 4.0), "GPU": (0.0, 1.0)}
    assert n["bundles"][0]["pg"] == "pg1" and n["actors"][0]["restarts"] == 2
    html = cluster_svg(c)
    assert "kr-bundle" in html and "2 restarts" in html and "3 / 4" in html


def test_the_auto_bar_stays_away_outside_a_kernel_and_when_switched_off(monkeypatch):
    with auto_progress.watch(list(range(100))):  # no kernel here: nothing happens
        pass
    monkeypatch.setattr(auto_progress, "ENABLED", False)
    monkeypatch.setattr(auto_progress, "_in_kernel", lambda: True)
    with auto_progress.watch(list(range(100))):
        pass


def test_a_progress_bars_own_get_shows_no_second_bar(monkeypatch):
    shown = []
    monkeypatch.setattr(auto_progress, "_in_kernel", lambda: True)
    monkeypatch.setattr(auto_progress, "AFTER_S", 0.0)
    monkeypatch.setattr(auto_progress.threading, "Timer", lambda *_a: shown.append(1) or _NoTimer())
    with auto_progress.quiet(), auto_progress.watch(list(range(100))):
        pass
    assert not shown
    with auto_progress.watch(list(range(100))):
        pass
    assert shown == [1]


class _NoTimer:
    daemon = True

    def start(self):
        pass

    def cancel(self):
        pass
