"""Every curriculum row appears, by its ID, in a heading of its section's notebook."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = {
    "A": "01_convolutions", "B": "02_depth", "C": "03_phenomena", "D": "04_augmentation",
    "E": "05_regularization", "F": "06_dropout", "G": "07_normalization", "H": "08_residual",
}  # fmt: skip
# The curriculum's row IDs by section (the lectures' feature list; stable, tests cite them).
ROWS = {
    "A": ("A-CH", "A-1x1", "A-POOL", "A-RF", "A-ZOO", "A-FILT", "A-ACT"),
    "B": ("B-GRID", "B-STUCK", "B-POOL", "B-PARAMS"),
    "C": ("C-OVER", "C-RAND", "C-DD"),
    "D": ("D-AUG", "D-MIX", "D-CUT", "D-RA", "D-LAYER", "D-EFFECT"),
    "E": ("E-ES", "E-L2", "E-WD", "E-L1", "E-REPARAM"),
    "F": ("F-MASK", "F-INV", "F-MC", "F-VAR", "F-SCHED"),
    "G": ("G-STD", "G-BN1", "G-BN2", "G-BN3", "G-BNSMALL", "G-AXES", "G-LNPARAMS", "G-SMOOTH"),
    "H": ("H-DEGRADE", "H-BLOCK", "H-GRAD", "H-BNID", "H-ENSEMBLE", "H-ODE"),
}


@pytest.mark.parametrize("section", sorted(ROWS))
def test_every_row_has_a_heading(section):
    nb = json.loads((ROOT / "notebooks" / f"{NOTEBOOKS[section]}.ipynb").read_text())
    markdown = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    headings = [line for line in markdown.splitlines() if line.lstrip().startswith("#")]
    missing = [row for row in ROWS[section] if not any(row in h for h in headings)]
    assert missing == []
    assert any("xercise" in h for h in headings), "no Exercises section"
