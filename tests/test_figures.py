"""``write_figures``: one folder per topic, atomic results, skip what is done, a gallery."""

from __future__ import annotations

import json

import pytest
from matplotlib.figure import Figure

from vizlab.experiments import TOPICS
from vizlab.experiments.base import Result, Topic
from vizlab.figures import write_figures


@pytest.fixture
def fake_topic(monkeypatch):
    calls = []

    def run(*, scale="quick", data=None, device="auto", seed=0, stop=None, callbacks=()):
        calls.append(seed)
        return Result("fake", ("Z-FAKE",), scale, {"x": [1.0, float("nan")]}, {"holds": True})

    def draw(result):
        fig = Figure(figsize=(2, 2))
        fig.add_subplot().plot(result.numbers["x"])
        return {"line": (fig, "a line & its caption")}

    monkeypatch.setitem(TOPICS, "fake", Topic("fake", ("Z-FAKE",), "A fake topic", run, draw))
    return calls


def test_writes_png_json_and_gallery(tmp_path, fake_topic):
    progress = []
    paths = write_figures(tmp_path, topics=["fake"], progress=lambda f, t: progress.append(f))
    assert (tmp_path / "fake" / "line.png").read_bytes()[:4] == b"\x89PNG"
    record = json.loads((tmp_path / "fake" / "result.json").read_text())
    assert record["numbers"] == {"x": [1.0, None]}  # NaN becomes null: valid JSON
    assert record["facts"] == {"holds": True} and record["captions"]["line"]
    page = (tmp_path / "index.html").read_text()
    assert "fake/line.png" in page and "a line &amp; its caption" in page and "Z-FAKE" in page
    assert paths[-1] == tmp_path / "index.html"
    assert progress[-1] == 1.0
    assert not list(tmp_path.rglob(".*.tmp"))


def test_rerun_skips_done_topics_unless_forced(tmp_path, fake_topic):
    write_figures(tmp_path, topics=["fake"])
    write_figures(tmp_path, topics=["fake"])
    assert fake_topic == [0]
    write_figures(tmp_path, topics=["fake"], seed=1)  # other settings: not the same result
    write_figures(tmp_path, topics=["fake"], seed=1, force=True)
    assert fake_topic == [0, 1, 1]


def test_a_topic_without_its_result_json_is_redone(tmp_path, fake_topic):
    write_figures(tmp_path, topics=["fake"])
    (tmp_path / "fake" / "result.json").unlink()  # as if interrupted before the last write
    write_figures(tmp_path, topics=["fake"])
    assert fake_topic == [0, 0]


def test_unknown_topic_or_scale_fails_before_running(tmp_path, fake_topic):
    with pytest.raises(ValueError, match="unknown topic.*nope"):
        write_figures(tmp_path, topics=["fake", "nope"])
    with pytest.raises(ValueError, match="scale"):
        write_figures(tmp_path, topics=["fake"], scale="huge")
    assert fake_topic == [] and not (tmp_path / "index.html").exists()
