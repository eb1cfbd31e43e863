"""The catalog: every topic names a real panel, has an app notebook, and builds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("ipywidgets")

import widgets  # noqa: E402
from widgets.base import Panel  # noqa: E402
from widgets.catalog import PANELS, make, panel_class  # noqa: E402

APPS = Path(__file__).resolve().parents[1] / "widgets" / "apps"


@pytest.mark.parametrize("topic", sorted(PANELS))
def test_topic_has_a_panel_and_an_app(topic):
    cls = panel_class(topic)
    assert issubclass(cls, Panel) and cls.__name__ in widgets.__all__
    nb = json.loads((APPS / f"{topic}.ipynb").read_text())
    source = "".join(nb["cells"][-1]["source"])
    assert f'make("{topic}")' in source


def test_every_section_has_a_panel():
    assert {section for _, _, section in PANELS.values()} >= set("ABCDEFGH")


def test_apps_folder_has_no_strays():
    assert sorted(p.stem for p in APPS.glob("*.ipynb")) == sorted(PANELS)


def test_make_builds_the_live_panel_with_a_default_model():
    panel = make("live")
    try:
        assert type(panel).__name__ == "LivePanel" and panel.controls
    finally:
        panel.close()


def test_unknown_topic_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown panel topic 'nope'.*residual"):
        make("nope")
