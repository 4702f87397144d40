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
    _check_in_a_browser(tmp_path / "dashboard.html")


def _check_in_a_browser(path) -> None:
    """Offline (CDNs blocked, as on a machine without a kernel), Chromium shows the stream's SVG bars."""
    import os
    import re

    if not os.path.exists("/usr/bin/chromium"):
        return
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return
    from ..test_dashboard_browser import CHROME_ARGS, ROOT

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROME_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.route(re.compile(r"^https?://"), lambda route: route.abort())
            page.goto(path.as_uri())
            svg = page.locator("svg.kr-stream-static").first
            svg.scroll_into_view_if_needed()
            assert svg.is_visible() and svg.bounding_box()["width"] > 500
            assert page.locator("svg.kr-stream-static rect.kr-bar").count() >= 3  # (bars that touch on screen are merged)
            artifacts = ROOT / "tests" / "artifacts"
            artifacts.mkdir(exist_ok=True)
            svg.screenshot(path=str(artifacts / "task_stream_static.png"))
        finally:
            browser.close()
