"""Notebooks are committed without outputs and run top to bottom without an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_is_a_tour():
    assert (ROOT / "notebooks" / "00_tour.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = json.loads(path.read_text())
    dirty = [
        i
        for i, cell in enumerate(nb["cells"])
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]
    assert dirty == [], f"{path.name}: cells {dirty} have outputs; run scripts/strip_notebooks.py"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_runs_top_to_bottom(path, monkeypatch):
    # The kernel inherits this: one torch thread, as in the rest of the suite (tiny models
    # gain nothing from a second thread, and a busy machine makes it spin).
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert errors == []
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    blind = [
        out["data"]["text/plain"][:60]
        for out in outputs
        if "data" in out
        and str(out["data"].get("text/plain", "")).startswith("<Figure")
        and "image/png" not in out["data"]
    ]
    assert blind == [], "figures shown as text instead of pictures"
    assert any("image/png" in out.get("data", {}) for out in outputs), "no picture at all"
