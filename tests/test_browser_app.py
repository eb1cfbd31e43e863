"""``vizlab app TOPIC`` in a real browser: Voila serves one panel as a standalone page.

The page must train once, survive a reload (a fresh kernel and a fresh panel) and the death
of its kernel, and serve five visitors at once, each with a working panel of their own.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from browser_support import (
    ARTIFACTS,
    browser,
    chromium_or_skip,
    train_and_wait,
    visible_errors,
    voila_app,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

pytest.importorskip("voila")


def open_panel(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(".vizlab-panel .vizlab-status", timeout=180_000)


def kernel_pids(server_pid: int) -> list[int]:
    return list(_kernels(server_pid))


def kernel_rss_mib(server_pid: int) -> list[float]:
    """Resident memory (MiB) of each kernel process under the app's server process."""
    return list(_kernels(server_pid).values())


def _kernels(server_pid: int) -> dict[int, float]:
    """``{pid: resident MiB}`` of the kernel processes under the app's server process."""
    parent, rss, cmdline = {}, {}, {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            status = Path(f"/proc/{pid}/status").read_text()
            cmdline[int(pid)] = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        parent[int(pid)] = int(stat[1])
        rss[int(pid)] = next(
            (int(line.split()[1]) / 1024 for line in status.splitlines() if "VmRSS" in line),
            0.0,  # kernel threads and zombies have no resident set
        )

    def under_server(pid: int) -> bool:
        while pid > 1:
            pid = parent.get(pid, 0)
            if pid == server_pid:
                return True
        return False

    return {p: rss[p] for p in rss if b"ipykernel" in cmdline[p] and under_server(p)}


def test_app_trains_survives_reload_and_serves_five():
    chromium = chromium_or_skip()
    with voila_app("live") as (url, proc), browser(chromium) as b:
        page = b.new_page(viewport={"width": 1300, "height": 1000})
        open_panel(page, url)
        assert train_and_wait(page).startswith("done")
        assert visible_errors(page) == []
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "app-live.png"), full_page=True)

        page.reload()  # a new kernel, a new panel: still works
        open_panel(page, url)
        assert train_and_wait(page).startswith("done")

        for pid in kernel_pids(proc.pid):  # the kernels die (a crash, an admin, OOM) ...
            os.kill(pid, signal.SIGKILL)
        page.reload()  # ... and the next page load gets a fresh, working one
        open_panel(page, url)
        assert train_and_wait(page).startswith("done")

        visitors = [b.new_page() for _ in range(5)]
        for v in visitors:
            open_panel(v, url)
        for v in visitors:
            assert train_and_wait(v).startswith("done")
            assert visible_errors(v) == []
        rss = kernel_rss_mib(proc.pid)
        assert len(rss) >= 5, f"expected a kernel per visitor, found {len(rss)}"
        (ARTIFACTS / "app-memory.txt").write_text(
            f"kernels: {len(rss)}; MiB per kernel: {sorted(round(r) for r in rss)}\n"
        )
