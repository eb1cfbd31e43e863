"""How long does ``vizlab figures`` take, topic by topic, at the quick scale?

Runs every experiment topic through ``write_figures`` (training, figures, JSON and the
gallery) into a temporary folder and reports each topic's run time (from its
``result.json``) and the wall time of the whole command, against the target of under 10
minutes for all topics on a 2-core CPU. It also counts the curriculum facts that held.

Run ``python benchmarks/figures_time.py`` (a few minutes); ``--topic NAME`` (repeatable)
times only some topics and writes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import machine_info, write_section  # noqa: E402

from vizlab.figures import write_figures  # noqa: E402

TITLE = "vizlab figures: time per topic (quick scale)"
TARGET_S = 600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topic", action="append", help="only these topics; writes nothing")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        write_figures(out, topics=args.topic, device=args.device, force=True)
        wall = time.perf_counter() - start
        results = [json.loads(p.read_text()) for p in sorted(Path(out).glob("*/result.json"))]
    results.sort(key=lambda r: -r["seconds"])
    lines = ["| topic | rows | seconds | facts held |", "|---|---|---|---|"]
    held = total = 0
    for r in results:
        ok = sum(r["facts"].values())
        held, total = held + ok, total + len(r["facts"])
        lines.append(
            f"| `{r['topic']}` | {', '.join(r['rows'])} | {r['seconds']:.1f} | "
            f"{ok}/{len(r['facts'])} |"
        )
    verdict = "within" if wall < TARGET_S else "over"
    lines.append(
        f"| **all {len(results)} topics** (wall, incl. figures) | | **{wall:.0f}** | "
        f"{held}/{total} |"
    )
    table = "\n".join(lines)
    print(table)
    if args.topic:
        return
    body = (
        "`vizlab figures` at the quick scale, every topic, measured by "
        f"`python benchmarks/figures_time.py`. Target: all topics in under "
        f"{TARGET_S / 60:.0f} minutes on this 2-core CPU: {wall / 60:.1f} minutes, {verdict} "
        f"the target.\n\n{table}\n\n{machine_info()}"
    )
    write_section(TITLE, body)


if __name__ == "__main__":
    main()
