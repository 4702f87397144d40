"""The resource view as deltas: an idle cluster sends nothing, a change sends one node."""

from __future__ import annotations

from types import SimpleNamespace

from kernelray.gcs.resource_view import ResourceViewBroadcaster


class FakeServerTables:
    """Just the tables the broadcaster reads, and a record of what it publishes."""

    def __init__(self, n: int):
        self.nodes = SimpleNamespace(nodes={
            f"n{i}": {"node_id": f"n{i}", "address": f"tcp://h:{i}", "state": "ALIVE",
                      "resources_total": {"CPU": 2.0}, "resources_available": {"CPU": 2.0}} for i in range(n)})
        self.subscribers = {"resource_view": [[b"raylet"]]}
        self.published = []

    def publish(self, channel, content):
        self.published.append(content)


def test_first_broadcast_then_nothing_while_idle():
    server = FakeServerTables(100)
    view = ResourceViewBroadcaster(server)
    view.broadcast()
    assert len(server.published[0]["nodes"]) == 100
    for _ in range(10):
        view.broadcast()
    assert len(server.published) == 1


def test_a_change_sends_that_node_only_and_a_dead_node_once():
    server = FakeServerTables(100)
    view = ResourceViewBroadcaster(server)
    view.broadcast()
    server.nodes.nodes["n7"]["resources_available"] = {"CPU": 1.0}
    view.broadcast()
    assert server.published[-1] == {"delta": True, "nodes": [dict(server.nodes.nodes["n7"])]}
    server.nodes.nodes["n3"]["state"] = "DEAD"
    view.broadcast()
    view.broadcast()
    assert [n["node_id"] for n in server.published[-1]["nodes"]] == ["n3"] and len(server.published) == 3
    assert [n["node_id"] for n in view.full_view()["nodes"]].count("n3") == 0
