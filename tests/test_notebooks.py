"""Every notebook in notebooks/ runs headless against a real kernel, ends promptly, leaves nothing."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time

import pytest

from kernelray import node as krnode

NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"

EXPECTED = {
    "quickstart.ipynb": ["[0, 1, 4, 9, 16, 25, 36, 49]", "499500", "285", "task 2 says hello", "[1, 2, 3, 4, 5]",
                         "computed in worker process", "[10, 11, 14, 19, 26]", "'CPU': 2.0"],
    "tree_reduce.ipynb": ["sum of 0..19999 = 199990000 in 5 rounds", "merged 4000 values in 3 rounds"],
    "nested_tasks.ipynb": ["sorted 5000 values", "level 0", "level 4", "[285, 2470, 8555]"],
    "matrices.ipynb": ["(600, 300) True", "max error"],
    "counters.ipynb": ["words counted: 452", "('the', 101)", "1038"],
}


def ensure_kernelspec() -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    if "python3" not in KernelSpecManager().find_kernel_specs():
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--user"], check=True, timeout=60)


ALL = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb") if not p.name.endswith(".out.ipynb"))  # not executed copies


def test_the_example_notebooks_are_there():
    assert set(EXPECTED) <= set(ALL)


def _texts(nb) -> str:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o["output_type"] == "stream":
                out.append(o["text"])
            elif o["output_type"] in ("execute_result", "display_data"):
                out.append(str(o["data"].get("text/plain", "")))
                out.append(str(o["data"].get("text/html", "")))
    return "\n".join(out)


@pytest.mark.parametrize("name", ALL)
def test_notebook_runs(name, tmp_path, monkeypatch):
    """Every notebook in notebooks/ (others' too): no error, prompt, shut down, nothing left."""
    import nbformat
    from nbclient import NotebookClient

    ensure_kernelspec()
    root = tmp_path / "kr"
    monkeypatch.setenv("KERNELRAY_TMPDIR", str(root))  # the kernel's clusters live here, apart
    monkeypatch.delenv("KERNELRAY_ADDRESS", raising=False)
    from jupyter_client import KernelManager

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    root.mkdir()
    # ipc transport: no TCP port race between picking the kernel's ports and binding them
    km = KernelManager(kernel_name="python3", transport="ipc", ip=str(root / "kernel-ipc"))
    client = NotebookClient(nb, km=km, timeout=60, resources={"metadata": {"path": str(NOTEBOOKS)}})
    t0 = time.monotonic()
    client.execute()
    elapsed = time.monotonic() - t0
    assert elapsed < 60, f"{name} took {elapsed:.1f} s"
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert not errors, errors
    text = _texts(nb)
    for expected in EXPECTED.get(name, ()):
        assert expected in text, f"{name}: {expected!r} not in the outputs:\n{text[-3000:]}"
    assert "kernelray-summary" in text or name != "quickstart.ipynb"  # the init() summary rendered
    assert "shutdown()" in nb.cells[-1].source
    sessions = [d for d in os.listdir(root) if d.startswith("session_")]
    assert sessions
    deadline = time.monotonic() + 5
    left = [p for s in sessions for p in krnode.session_processes(s)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for s in sessions for p in krnode.session_processes(s)]
    for pid, _ in left:
        os.kill(pid, 9)
    assert not left, f"{name} left cluster processes behind: {left}"
