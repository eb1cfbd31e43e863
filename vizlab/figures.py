"""``vizlab figures``: run the lecture experiments headless and write a gallery.

For every topic of ``vizlab.experiments.TOPICS`` this writes, into ``out/<topic>/``, one PNG
per figure and ``result.json`` (the numbers, the curriculum facts and how long it took), then
``out/index.html``: a page showing every figure with its one-line caption. Each file is
written atomically, and ``result.json`` last, so a topic whose ``result.json`` exists is
complete: a rerun skips it (same scale, data, device and seed) unless ``force=True``. An
interrupted run therefore loses at most the topic it was working on.
"""

from __future__ import annotations

import html
import io
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from vizlab.io import atomic_write_bytes, atomic_write_json, atomic_write_text

__all__ = ["write_figures", "write_gallery", "topic_names"]

Progress = Callable[[float, str], None]


def topic_names() -> list[str]:
    from vizlab.experiments import TOPICS

    return list(TOPICS)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def write_figures(
    out: str | Path,
    *,
    topics: Iterable[str] | None = None,
    scale: str = "quick",
    data: str | None = None,
    device: str = "auto",
    seed: int = 0,
    force: bool = False,
    progress: Progress | None = None,
) -> list[Path]:
    """Run ``topics`` (default: all) and write their figures, numbers and the gallery.

    Args:
        out: output folder (created).
        topics: topic names from ``vizlab.experiments.TOPICS``.
        scale: ``"quick"`` or ``"full"``.
        data: dataset name for every experiment (``None``: each topic's own default).
        force: rerun topics whose results already exist.
        progress: called with ``(fraction done, text)`` while working.

    Returns:
        The paths written (PNG and JSON files, then ``index.html``).

    Raises:
        ValueError: for an unknown topic or scale, before anything runs.
    """
    from vizlab.experiments import TOPICS
    from vizlab.experiments.base import check_scale

    check_scale(scale)
    names = list(TOPICS) if topics is None else list(topics)
    unknown = [name for name in names if name not in TOPICS]
    if unknown:
        raise ValueError(f"unknown topic(s) {unknown}; available: {', '.join(TOPICS)}")
    out = Path(out)
    settings = {"scale": scale, "data": data, "device": device, "seed": seed}
    written: list[Path] = []
    for i, name in enumerate(names):
        report = _Report(progress, i, len(names), name)
        folder = out / name
        if not force and _done(folder, settings):
            report(1.0, "already done (use --force to rerun)")
            continue
        report(0.0, "starting")
        kwargs: dict[str, Any] = {"scale": scale, "device": device, "seed": seed}
        if data is not None:
            kwargs["data"] = data
        result = TOPICS[name].run(callbacks=[_FitProgress(report)], **kwargs)
        figures = result.figures()
        captions = {}
        for fig_name, (fig, caption) in figures.items():
            written.append(atomic_write_bytes(folder / f"{fig_name}.png", _png(fig)))
            captions[fig_name] = caption
        record = {**result.to_json(), "settings": settings, "captions": captions}
        record["title"] = TOPICS[name].title
        written.append(atomic_write_json(folder / "result.json", record))
        report(1.0, f"done in {result.seconds:.1f} s")
    written.append(write_gallery(out))
    return written


def _done(folder: Path, settings: dict[str, Any]) -> bool:
    try:
        record = json.loads((folder / "result.json").read_text())
    except (OSError, ValueError):
        return False
    pngs_there = all((folder / f"{name}.png").exists() for name in record.get("captions", {}))
    return record.get("settings") == settings and pngs_there


def write_gallery(out: str | Path) -> Path:
    """Write ``out/index.html`` from every ``out/<topic>/result.json`` found."""
    out = Path(out)
    sections = []
    for path in sorted(out.glob("*/result.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        topic = path.parent.name
        facts = "".join(
            f"<li class='{'held' if ok else 'failed'}'>{'&#10003;' if ok else '&#10007;'} "
            f"{html.escape(fact)}</li>"
            for fact, ok in record.get("facts", {}).items()
        )
        figures = "".join(
            f"<figure><img src='{html.escape(topic)}/{html.escape(name)}.png' "
            f"alt='{html.escape(caption)}'><figcaption>{html.escape(caption)}</figcaption>"
            "</figure>"
            for name, caption in record.get("captions", {}).items()
        )
        rows = ", ".join(record.get("rows", []))
        sections.append(
            f"<section id='{html.escape(topic)}'><h2>{html.escape(record.get('title', topic))}"
            f" <small>{html.escape(rows)}</small></h2>"
            f"<p class='meta'>{html.escape(record.get('scale', ''))} scale, "
            f"{record.get('seconds', 0):.1f} s</p><ul class='facts'>{facts}</ul>{figures}"
            "</section>"
        )
    page = _PAGE.format(body="\n".join(sections) or "<p>No results yet.</p>")
    return atomic_write_text(out / "index.html", page)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vizlab figures</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; }}
figure {{ display: inline-block; margin: 0.5em; max-width: 560px; vertical-align: top; }}
img {{ max-width: 100%; border: 1px solid #ddd; }}
figcaption {{ font-size: 0.9em; color: #333; }}
small {{ color: #777; font-weight: normal; }}
.facts {{ list-style: none; padding: 0; }} .held {{ color: #117733; }}
.failed {{ color: #b00020; }} .meta {{ color: #555; }}
</style></head>
<body><h1>vizlab: the lectures' claims, measured</h1>
{body}
</body></html>
"""


class _Report:
    """Turns one topic's own progress into overall progress over all topics."""

    def __init__(self, progress: Progress | None, index: int, total: int, name: str) -> None:
        self.progress, self.index, self.total, self.name = progress, index, total, name

    def __call__(self, fraction: float, text: str) -> None:
        if self.progress is not None:
            done = (self.index + min(1.0, max(0.0, fraction))) / self.total
            self.progress(done, f"{self.index + 1}/{self.total} {self.name}: {text}")


class _FitProgress:
    """A fit callback reporting each fit's progress, at most 10 times a second."""

    def __init__(self, report: _Report) -> None:
        self.report = report
        self._last = 0.0

    def on_step(self, state: Any) -> None:
        now = time.monotonic()
        if now - self._last >= 0.1:
            self._last = now
            self.report(0.0, f"training, epoch {state.epoch} step {state.step}")
