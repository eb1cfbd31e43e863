"""Keep ``benchmarks/RESULTS.md`` as one file with one section per benchmark.

Each benchmark script rewrites only its own section (a ``## title`` heading and everything
up to the next ``## `` heading), so running one benchmark never erases another's numbers.
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import torch

__all__ = ["RESULTS", "write_section", "machine_info"]

RESULTS = Path(__file__).with_name("RESULTS.md")
_HEADER = "# Benchmark results\n\nWritten by the scripts in this folder; each owns one section.\n"


def write_section(title: str, markdown: str, path: str | os.PathLike | None = None) -> Path:
    """Replace the section ``## title`` of the results file (append it if new).

    Args:
        title: the heading text, without ``## ``.
        markdown: the section body.
        path: the results file; default ``benchmarks/RESULTS.md``.

    Returns:
        The path written.
    """
    path = Path(path) if path is not None else RESULTS
    text = path.read_text(encoding="utf-8") if path.exists() else _HEADER
    section = f"## {title}\n\n{markdown.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}[ \t]*\n.*?(?=^## |\Z)", re.M | re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text, encoding="utf-8")
    return path


def machine_info() -> str:
    """Markdown bullet list describing where the numbers were measured."""
    from vizlab.device import describe_device, resolve_device, usable_cpus

    lines = [
        f"- machine: {platform.machine()}, {platform.system()} {platform.release()}",
        f"- CPUs: {usable_cpus()} usable of {os.cpu_count()} reported",
        f"- python {platform.python_version()}, torch {torch.__version__}",
        f"- torch threads: {torch.get_num_threads()}",
        f"- device: {describe_device(resolve_device('auto'))}",
    ]
    if hasattr(os, "getloadavg"):  # other work on the machine skews CPU timings
        lines.append(
            "- load average (1, 5, 15 min): " + ", ".join(f"{v:.1f}" for v in os.getloadavg())
        )
    return "\n".join(lines)
