from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vizlab.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _vizlab(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vizlab", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_help_lists_every_command():
    proc = _vizlab("--help")
    assert proc.returncode == 0
    for command in ("info", "lab", "app", "figures"):
        assert command in proc.stdout


def test_info_reports_device_versions_and_datasets():
    proc = _vizlab("info")
    assert proc.returncode == 0, proc.stderr
    assert "device" in proc.stdout and "torch" in proc.stdout
    for name in ("digits", "shapes", "photos", "cifar10", "mnist", "fashion_mnist"):
        assert name in proc.stdout
    assert "digits" in proc.stdout.split("datasets:")[1]


def test_unknown_app_topic_is_a_one_line_error(capsys):
    assert main(["app", "no-such-topic"]) == 2
    err = capsys.readouterr().err
    assert "unknown app topic 'no-such-topic'" in err and "Traceback" not in err


def test_lab_with_missing_notebook_says_which_exist(capsys):
    assert main(["lab", "nope.ipynb", "--no-browser"]) == 2
    assert "00_tour.ipynb" in capsys.readouterr().err


def test_unknown_dataset_is_a_clear_error(capsys, tmp_path):
    assert main(["figures", "--data", "imagenet", "--out", str(tmp_path)]) == 2
    assert "imagenet" in capsys.readouterr().err


def test_figures_lists_every_experiment_topic(capsys):
    from vizlab.experiments import TOPICS

    assert main(["figures", "--list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == list(TOPICS) and len(listed) >= 20


def test_unknown_figures_topic_is_a_clear_error(capsys, tmp_path):
    assert main(["figures", "--topic", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown topic 'nope'" in err and "available:" in err and "Traceback" not in err


@pytest.mark.slow
def test_figures_writes_png_json_and_gallery(tmp_path):
    proc = _vizlab("figures", "--topic", "conv_arithmetic", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    pngs = list((tmp_path / "conv_arithmetic").glob("*.png"))
    assert pngs and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    record = json.loads((tmp_path / "conv_arithmetic" / "result.json").read_text())
    assert record["topic"] == "conv_arithmetic" and record["facts"]
    assert "conv_arithmetic/" in (tmp_path / "index.html").read_text()
    assert not list(tmp_path.rglob(".*.tmp")), "temporary files left behind"
