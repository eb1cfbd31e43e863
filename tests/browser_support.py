"""Starting JupyterLab or Voila on loopback and driving Chromium with Playwright.

The browser is the Debian ``chromium`` package found on PATH (never a Playwright download);
the servers are started from this interpreter, on a free port, with a random token, and are
always terminated. Used by ``tests/test_browser_*.py``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(os.environ.get("VIZLAB_TEST_ARTIFACTS", Path(__file__).parent / "artifacts"))


def chromium_or_skip() -> str:
    pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no chromium on PATH (apt-get install -y chromium)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _root_flag() -> list[str]:
    return ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    """Poll ``url`` until it answers; fail with the server's log if it dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@contextlib.contextmanager
def server(cmd: list[str], url: str, log: Path) -> Iterator[subprocess.Popen]:
    log.parent.mkdir(parents=True, exist_ok=True)
    # kernels train tiny models: one torch thread each, as in the rest of the suite
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "JUPYTER_PLATFORM_DIRS": "1"}
    env["OMP_NUM_THREADS"] = "1"
    with open(log, "wb") as out:
        # a session of its own: the server and every kernel it starts are stopped together
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            try:
                wait_http(url, proc)
            except (RuntimeError, TimeoutError) as err:
                raise RuntimeError(f"{err}; log:\n{log.read_text()[-3000:]}") from err
            yield proc
        finally:
            _stop_group(proc)


def _stop_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
    except ProcessLookupError:
        pass


@contextlib.contextmanager
def jupyterlab(root: Path) -> Iterator[tuple[str, str]]:
    """JupyterLab serving ``root``; yields ``(base_url, token)``."""
    port, token = free_port(), secrets.token_hex(16)
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        f"--ServerApp.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.workspaces_dir={root / '.workspaces'}",  # no tabs restored from elsewhere
        f"--LabApp.user_settings_dir={root / '.settings'}",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        *_root_flag(),
    ]
    base = f"http://127.0.0.1:{port}"
    with server(cmd, f"{base}/api/status?token={token}", ARTIFACTS / "jupyterlab.log"):
        yield base, token


@contextlib.contextmanager
def voila_app(topic: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """``vizlab app TOPIC`` on a free port; yields its URL and the server process."""
    port = free_port()
    cmd = [sys.executable, "-m", "vizlab", "app", topic, "--port", str(port), "--no-browser"]
    url = f"http://127.0.0.1:{port}/"
    with server(cmd, url, ARTIFACTS / f"voila-{topic}.log") as proc:
        yield url, proc


@contextlib.contextmanager
def browser(chromium: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def image_sources(page, selector: str = ".vizlab-panel .vizlab-image") -> list[str]:
    return page.eval_on_selector_all(selector, "els => els.map(e => e.src || '')")


def train_and_wait(page, timeout_ms: int = 180_000) -> str:
    """Click the panel's Train button and wait until *this* run reports progress and then
    finishes (the status's ``data-run`` counter tells runs apart); return the status text."""
    panel = page.locator(".vizlab-panel").first
    before = page.evaluate(_RUN_NUMBER)
    panel.locator("button.widget-button", has_text="Train").first.click()
    page.wait_for_function(
        f"""() => ({_RUN_NUMBER})() > {before} &&
            /step \\d+/.test(document.querySelector('.vizlab-panel .vizlab-status').textContent)""",
        timeout=timeout_ms,
    )
    page.wait_for_function(
        """() => /^(done|stopped|diverged|failed)/.test(
            document.querySelector('.vizlab-panel .vizlab-status').textContent.trim())""",
        timeout=timeout_ms,
    )
    return panel.locator(".vizlab-status").text_content().strip()


_RUN_NUMBER = """() => {
    const c = document.querySelector('.vizlab-panel .vizlab-status code');
    return c && c.dataset.run ? Number(c.dataset.run) : 0;
}"""


def dismiss_news(page) -> None:
    """Answer JupyterLab's "notified about news?" toast so it does not cover the panel."""
    no = page.locator(".jp-toast-button", has_text="No")
    if no.count():
        no.first.click()


def visible_errors(page) -> list[str]:
    """Error boxes, tracebacks and stderr outputs shown on the page."""
    selectors = [
        ".vizlab-panel .vizlab-error",
        ".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']",
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
        ".jp-RenderedText pre:has-text('Traceback')",
    ]
    found = []
    for sel in selectors:
        for el in page.locator(sel).all():
            if el.is_visible():
                found.append(el.text_content()[:300])
    return found
