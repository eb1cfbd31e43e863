"""The README a newcomer meets names every notebook, panel and experiment that exists."""

from __future__ import annotations

from pathlib import Path

from vizlab.experiments import TOPICS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_notebook_is_in_the_table():
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"`{nb.name}`" in README, nb.name


def test_every_experiment_topic_is_named():
    missing = [name for name in TOPICS if f"`{name}`" not in README]
    assert missing == []


def test_every_app_topic_is_named():
    apps = sorted(p.stem for p in (ROOT / "widgets" / "apps").glob("*.ipynb"))
    missing = [name for name in apps if f"`{name}`" not in README]
    assert missing == []


def test_pictures_exist():
    for picture in ("docs/images/panel.png", "docs/images/figure.png"):
        assert f"({picture})" in README
        assert (ROOT / picture).read_bytes()[:4] == b"\x89PNG"
