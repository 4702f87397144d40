"""An executed notebook converted to HTML by nbconvert shows the pictures without a kernel (static SVG)."""

from __future__ import annotations

import pytest

from ..test_notebooks import NOTEBOOKS, ensure_kernelspec

pytest.importorskip("anywidget")
pytestmark = pytest.mark.timeout(180)


def test_the_executed_dashboard_notebook_shows_the_pictures_as_html(tmp_path, monkeypatch):
    import nbformat
    from jupyter_client import KernelManager
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    ensure_kernelspec()
    root = tmp_path / "kr"
    root.mkdir()
    monkeypatch.setenv("KERNELRAY_TMPDIR", str(root))
    monkeypatch.delenv("KERNELRAY_ADDRESS", raising=False)
    nb = nbformat.read(NOTEBOOKS / "dashboard.ipynb", as_version=4)
    km = KernelManager(kernel_name="python3", transport="ipc", ip=str(root / "kernel-ipc"))
    NotebookClient(nb, km=km, timeout=90, resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    html, _ = HTMLExporter().from_notebook_node(nb)
    (tmp_path / "dashboard.html").write_text(html)
    assert '<svg class="kr-stream-static"' in html and 'class="kr-bar"' in html  # the task stream's bars
    assert "Counter " in html  # the actor's lane
    assert 'class="kr-cluster-static"' in html and "kr-bundle" in html  # the placement group's bundle
    assert 'class="kr-memory-static"' in html and 'class="kr-fn-progress-static"' in html
    assert "application/vnd.jupyter.widget-view+json" in str(nb.cells)  # the live view is there as well
