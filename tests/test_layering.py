"""The engine never reaches into the UI layer, at import time or at run time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BANNED = ("ipywidgets", "IPython", "ipympl", "matplotlib.pyplot", "widgets")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "vizlab").rglob("*.py")), ids=lambda p: p.name)
def test_engine_sources_import_no_ui(path):
    bad = [n for n in _imports(path) if any(n == b or n.startswith(b + ".") for b in BANNED)]
    assert bad == [], f"{path.relative_to(ROOT)} imports the UI layer: {bad}"


def test_fresh_interpreter_pulls_in_no_ui():
    """Import everything in vizlab and draw a figure; the UI stack must stay unloaded."""
    code = """
import io, pkgutil, importlib, sys
import vizlab
for mod in pkgutil.walk_packages(vizlab.__path__, "vizlab."):
    if mod.name != "vizlab.__main__":
        importlib.import_module(mod.name)
from vizlab.plots import curves
fig = curves({"epochs": [1, 2], "train_loss": [1, .5], "val_loss": [1, .6],
                     "train_acc": [.1, .5], "val_acc": [.1, .4]})
fig.savefig(io.BytesIO(), format="png")
loaded = [m for m in ("ipywidgets", "IPython", "ipympl", "matplotlib.pyplot", "widgets")
          if m in sys.modules]
print("LOADED", loaded)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "LOADED []" in proc.stdout, proc.stdout


def test_ruff_config_bans_ui_imports_in_engine():
    """The same rule as a lint, so an editor flags it before the tests run."""
    text = (ROOT / "pyproject.toml").read_text()
    for name in ("ipywidgets", "IPython", "matplotlib.pyplot"):
        assert f'"{name}".msg' in text
