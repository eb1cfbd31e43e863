#!/usr/bin/env python3
"""Remove outputs and execution counts from notebooks, so they are committed clean.

Outputs belong to the reader's own run; committed outputs bloat diffs and go stale.
Usage: ``python scripts/strip_notebooks.py [--check] [NOTEBOOK ...]`` (default: notebooks/).
With ``--check`` nothing is written and the exit code says whether any notebook had outputs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def strip(nb: dict) -> bool:
    """Strip ``nb`` in place; True when something was removed."""
    changed = False
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs") or cell.get("execution_count") is not None:
            changed = True
        cell["outputs"] = []
        cell["execution_count"] = None
    return changed


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [Path(a) for a in argv if a != "--check"] or sorted(
        (ROOT / "notebooks").glob("*.ipynb")
    )
    dirty = []
    for path in paths:
        nb = json.loads(path.read_text())
        if strip(nb):
            dirty.append(path)
            if not check:
                path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    for path in dirty:
        print(f"{'has outputs' if check else 'stripped'}: {path}")
    return 1 if (check and dirty) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
