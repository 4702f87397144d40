"""The bridge's task -> cell map that the task stream's cell highlight reads (pure, bounded)."""

from __future__ import annotations

from kernelray.extension.bridge import TaskCells


def test_tasks_are_mapped_to_the_execution_count_of_the_cell_that_submitted_them():
    cells = TaskCells()
    cells.cell_started("msg-a", 4)
    cells.cell_started("msg-b", 5)
    cells.add("msg-a", bytes.fromhex("ab" * 24))
    cells.add("msg-b", bytes.fromhex("cd" * 24))
    cells.add("msg-unknown", bytes.fromhex("ef" * 24))  # a cell we did not see start: nothing recorded
    assert cells.lookup("ab" * 6) == 4 and cells.lookup("cd" * 6) == 5 and cells.lookup("ef" * 6) is None


def test_the_map_keeps_only_the_newest_tasks(monkeypatch):
    monkeypatch.setattr(TaskCells, "KEEP", 100)
    cells = TaskCells()
    cells.cell_started("k", 1)
    for i in range(1000):
        cells.add("k", i.to_bytes(6, "big") + bytes(18))
    assert len(cells.cell_of_task) == 100 and cells.lookup((999).to_bytes(6, "big").hex()) == 1
