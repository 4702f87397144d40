"""A real browser: JupyterLab on loopback, notebooks/dashboard.ipynb run in headless Chromium (Debian's,
driven by Playwright), the dashboard's DOM read while its tasks run.

What it needs comes from the project's own files: jupyterlab and playwright are in the ``test`` extra
of pyproject.toml (installed here with pip if missing); Chromium comes from Debian (apt-get, if
/usr/bin/chromium is missing).  When neither can be had, the test is skipped and says why.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "dashboard.ipynb"
pytestmark = pytest.mark.timeout(600)  # may install JupyterLab, Playwright and Chromium first
CHROMIUM = "/usr/bin/chromium"
TOKEN = "kr-test-token"
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NON_LOOPBACK = re.compile(r"^(https?|wss?)://(?!(127\.0\.0\.1|localhost|\[::1\])[:/])")
KERNEL_IDLE = """() => {
  const name = document.querySelector('.jp-Toolbar-kernelName')?.textContent ?? '';
  const st = document.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status;
  return st === 'idle' && name.trim() !== '' && !name.includes('No Kernel'); }"""
# records every state of the tasks counter the DOM shows; done when all 30 work tasks finished
RECORD_UNTIL_FINISHED = """(want) => {
  const el = document.querySelector('.kr-dashboard .kr-tasks-total');
  if (!el) return false;
  const d = el.dataset;
  const seen = (window.__krSeen ??= []);
  const key = [d.pending, d.submitted, d.running, d.finished, d.failed].join('/');
  if (!seen.length || seen[seen.length - 1].key !== key)
    seen.push({key, pending: +d.pending, submitted: +d.submitted, running: +d.running, finished: +d.finished,
               version: +d.version});
  return +d.finished >= want; }"""


def _test_extra() -> list:
    import tomllib

    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["optional-dependencies"]["test"]


def _ensure_python_packages() -> None:
    wanted = {"jupyterlab": "jupyterlab", "playwright": "playwright"}
    missing = [m for m in wanted if importlib.util.find_spec(m) is None]
    if not missing:
        return
    reqs = [r for r in _test_extra() if re.split(r"[<>=!~ \[]", r, maxsplit=1)[0].lower() in missing]
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", *reqs], capture_output=True, text=True, timeout=600)
    if r.returncode != 0 or any(importlib.util.find_spec(m) is None for m in missing):
        pytest.skip(f"cannot install {reqs} (from pyproject's test extra): {r.stderr[-500:]}")


def _ensure_chromium() -> None:
    if os.path.exists(CHROMIUM):
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.skip(f"{CHROMIUM} is missing and apt-get (as root) is not available to install Debian's chromium")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
        except subprocess.TimeoutExpired:
            pytest.skip(f"{' '.join(cmd)} took more than 15 minutes")
        if r.returncode != 0:
            pytest.skip(f"cannot install Debian's chromium ({' '.join(cmd)}): {r.stderr[-500:]}")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"apt-get installed chromium but {CHROMIUM} is missing")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    _ensure_python_packages()
    _ensure_chromium()
    base = tmp_path_factory.mktemp("jlab")
    (base / "root").mkdir()
    shutil.copy(NOTEBOOK, base / "root" / "dashboard.ipynb")
    st = base / "settings" / "@jupyterlab" / "apputils-extension"
    st.mkdir(parents=True)
    (st / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    log = open(base / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", "--port=0",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={base / 'root'}",
         f"--LabApp.user_settings_dir={base / 'settings'}", f"--LabApp.workspaces_dir={base / 'ws'}",
         "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env=dict(os.environ, JUPYTER_CONFIG_DIR=str(base / "cfg"), JUPYTER_RUNTIME_DIR=str(base / "rt"),
                 PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")),
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    info, deadline = base / "rt" / f"jpserver-{proc.pid}.json", time.monotonic() + 60
    try:
        while True:
            assert proc.poll() is None, (base / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "JupyterLab did not answer within 60 s"
            try:
                url = f"http://127.0.0.1:{json.loads(info.read_text())['port']}"
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                break
            except (OSError, ValueError, KeyError):
                time.sleep(0.1)
        yield url
    finally:
        try:  # a clean shutdown stops the kernels too; SIGTERM to this server's pid as the fallback
            urllib.request.urlopen(urllib.request.Request(f"{url}/api/shutdown", method="POST",
                                                          headers={"Authorization": f"token {TOKEN}"}), timeout=10)
            proc.wait(30)
        except Exception:  # noqa: BLE001
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        log.close()


@pytest.fixture
def page(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True,
                                                   args=CHROME_ARGS, viewport={"width": 1280, "height": 1000})
        try:
            ctx.route(NON_LOOPBACK, lambda route: route.abort())  # nothing from a CDN, nothing from the internet
            pg = ctx.pages[0]
            pg.set_default_timeout(60_000)
            yield pg
        finally:
            ctx.close()


def test_dashboard_shows_tasks_finishing_in_jupyterlab(lab, page, tmp_path):
    from playwright.sync_api import expect

    errors = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.goto(f"{lab}/lab/tree/dashboard.ipynb?token={TOKEN}&reset")
    page.wait_for_function(KERNEL_IDLE, polling=100)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_function(RECORD_UNTIL_FINISHED, arg=30, polling=50, timeout=90_000)
    dash = page.locator(".kr-dashboard")
    dash.scroll_into_view_if_needed()
    shot = tmp_path / "dashboard.png"
    dash.screenshot(path=str(shot))
    seen = page.evaluate("window.__krSeen")
    in_flight = [s for s in seen if s["pending"] + s["submitted"] + s["running"] > 0 and s["finished"] < 30]
    assert in_flight, seen  # the DOM showed tasks pending or running before they finished ...
    assert any(s["running"] > 0 for s in seen), seen
    assert len({s["finished"] for s in seen}) >= 3, seen  # ... and the finished count climbing live
    assert seen[-1]["finished"] >= 30
    expect(page.locator(".kr-dashboard .kr-task-summary")).to_contain_text("work")
    bar = page.locator(".kr-progress .progress-bar")
    expect(bar).to_have_attribute("style", re.compile(r"width: 100%"))
    expect(page.locator(".kr-progress-text")).to_have_attribute("data-done", "30")
    expect(page.locator(".jp-OutputArea-output", has_text="notebook finished OK")).to_be_visible(timeout=60_000)
    page.wait_for_function(KERNEL_IDLE, polling=100)
    assert shot.stat().st_size > 10_000
    keep = os.environ.get("KERNELRAY_BROWSER_SHOT")
    if keep:
        shutil.copy(shot, keep)
    _check_task_stream(page)
    assert not [e for e in errors if "kernelray" in e.lower() or "widget" in e.lower()], errors


# the canvas has drawn bars: some pixel is not transparent
CANVAS_INKED = """(c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) return true; return false; }"""


def _check_task_stream(page) -> None:
    """The task stream's lanes (workers, the actor's) and bars are in the DOM; screenshots to tests/artifacts/."""
    from playwright.sync_api import expect

    artifacts = ROOT / "tests" / "artifacts"
    artifacts.mkdir(exist_ok=True)
    stream = page.locator(".kr-task-stream .kr-stream").last
    stream.scroll_into_view_if_needed()
    page.wait_for_function("""() => [...document.querySelectorAll('.kr-stream')].some(
        s => +s.dataset.bars >= 30 && s.querySelector('.kr-stream-lane[data-kind=actor]'))""", polling=200)
    expect(stream.locator(".kr-stream-lane").first).to_be_visible()
    assert stream.locator(".kr-stream-lane[data-kind=worker]").count() >= 1
    assert stream.locator(".kr-stream-lane[data-kind=actor]").first.text_content().strip().endswith(
        tuple("0123456789abcdef")) and "Counter" in stream.locator(".kr-stream-lane[data-kind=actor]").first.text_content()
    assert stream.locator("canvas").evaluate(CANVAS_INKED)
    assert "work" in stream.locator(".kr-stream-legend").text_content()
    box = stream.locator("canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] - 3, box["y"] + 8)  # hover over the newest bars of the first lane
    stream.screenshot(path=str(artifacts / "task_stream.png"))
    page.locator(".kr-dashboard").first.screenshot(path=str(artifacts / "dashboard.png"))
    assert float(stream.get_attribute("data-draw-ms")) < 100  # one frame (the benchmark measures 10k bars)
    expect(page.locator(".kr-cluster .kr-bundle").first).to_be_attached()
    _check_cell_highlight(page, artifacts)


def _check_cell_highlight(page, artifacts) -> None:
    """Selecting the cell that ran the 30 `work` tasks highlights its bars in the task stream."""
    cell = page.locator(".jp-Notebook .jp-Cell").nth(4)
    assert "work.remote" in cell.text_content()
    cell.locator(".jp-InputPrompt").click()
    page.wait_for_function("""() => [...document.querySelectorAll('.kr-stream')].some(
        s => +s.dataset.highlighted >= 30)""", polling=200, timeout=10_000)
    stream = page.locator(".kr-task-stream .kr-stream").last
    assert "cell [" in stream.locator(".kr-stream-info").text_content()
    stream.screenshot(path=str(artifacts / "task_stream_cell_selected.png"))
