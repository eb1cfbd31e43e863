"""Every panel in a real browser: JupyterLab + Chromium, clicked like a student would.

For each topic of ``widgets.catalog.PANELS`` the test opens that panel's notebook in
JupyterLab, runs it, presses Train, waits for the status line to report progress and then
completion, moves a slider, trains again, checks that the pictures changed and that no error
or traceback is on the page, and saves a screenshot under ``tests/artifacts/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from browser_support import (
    ARTIFACTS,
    browser,
    chromium_or_skip,
    dismiss_news,
    image_sources,
    jupyterlab,
    train_and_wait,
    visible_errors,
)

PlaywrightTimeout = pytest.importorskip("playwright.sync_api").TimeoutError
ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "widgets" / "apps"
TOPICS = sorted(p.stem for p in APPS.glob("*.ipynb"))

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    chromium = chromium_or_skip()
    root = tmp_path_factory.mktemp("lab")
    for nb in APPS.glob("*.ipynb"):
        shutil.copy(nb, root / nb.name)
    with jupyterlab(root) as (base, token), browser(chromium) as b:
        yield base, token, b


def open_and_run(page, base: str, token: str, name: str) -> None:
    # a workspace of its own, reset: only this notebook is open, so "Run All" runs it
    page.goto(f"{base}/lab/workspaces/{name.split('.')[0]}/tree/{name}?token={token}&reset")
    page.wait_for_selector(".jp-Notebook", timeout=120_000)
    # JupyterLab may ask which kernel to start: take the proposed one (Python 3)
    select = page.locator(".jp-Dialog button", has_text="Select")
    try:
        select.wait_for(timeout=5_000)
        select.click()
    except PlaywrightTimeout:
        pass
    # wait for the kernel, then Run > Run All Cells
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    page.wait_for_selector(".vizlab-panel .vizlab-status", timeout=180_000)
    dismiss_news(page)


def move_a_slider(page) -> bool:
    """Move the first slider that can go down one step (down: fewer blocks, a smaller rate,
    fewer epochs: settings that stay valid), with the keyboard as a user could."""
    handles = page.locator(".vizlab-panel .noUi-handle")
    for i in range(handles.count()):
        handle = handles.nth(i)
        now, low = handle.get_attribute("aria-valuenow"), handle.get_attribute("aria-valuemin")
        if now is not None and low is not None and float(now) > float(low):
            handle.focus()
            handle.press("ArrowLeft")
            return True
    return False


@pytest.mark.parametrize("topic", TOPICS)
def test_panel_in_jupyterlab(lab, topic):
    base, token, b = lab
    page = b.new_page(viewport={"width": 1400, "height": 2000})
    try:
        open_and_run(page, base, token, f"{topic}.ipynb")
        before = image_sources(page)
        status = train_and_wait(page)
        assert status.startswith("done"), status
        first = image_sources(page)
        assert first != before and any(src.startswith("blob:") or src for src in first)
        assert move_a_slider(page), f"{topic}: no slider to move"
        page.wait_for_timeout(500)
        status = train_and_wait(page)
        assert status.startswith(("done", "stopped")), status
        page.wait_for_timeout(1500)  # the final picture follows the status by one render
        second = image_sources(page)
        assert second != first, f"{topic}: the pictures did not change after moving a slider"
        assert visible_errors(page) == []
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.locator(".vizlab-panel").first.screenshot(path=str(ARTIFACTS / f"panel-{topic}.png"))
    except Exception:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"failed-{topic}.png"), full_page=True)
        raise
    finally:
        page.close()
