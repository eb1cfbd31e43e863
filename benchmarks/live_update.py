"""How long does one live update of a four-view dashboard take, compared with a full redraw?

The dashboard shows training curves, gradient flow, an activation histogram strip and
weight norms, fed a synthetic record stream shaped like a watch's (8 layers, 40-bin
histograms, one sampled step per update, one epoch every 50 updates). Three ways of
producing the PNG bytes a notebook panel would display are timed, interleaved update by
update so that whatever else the machine does hits all of them alike:

- ``live update``: ``Dashboard.update`` plus ``Dashboard.png()``: the moving artists are
  redrawn onto cached axes backgrounds (a full draw only when an axis had to grow);
- ``full redraw``: the same figure redrawn completely (``canvas.draw()``) and encoded the
  same way;
- ``savefig``: ``fig.savefig(BytesIO, format="png")``, what code without live views does.

Reported: medians (and 90th percentiles) in milliseconds, and how many of the live updates
needed a full draw. Run ``python benchmarks/live_update.py`` (about a minute); ``--quick``
for a smoke run that writes nothing.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import machine_info, write_section  # noqa: E402

from vizlab.plots import Dashboard  # noqa: E402

TITLE = "Live dashboard update vs full redraw"
LAYERS = [f"features.block{i}.conv{j}" for i in range(4) for j in range(2)]
BINS = 40
TARGET_MS = 60.0


def records(step: int, rng: np.random.Generator) -> list[tuple]:
    """One sampled step of every layer, with the stats a watch records."""
    rows = []
    for i, layer in enumerate(LAYERS):
        if step == 0:
            rows.append((0, layer, "activations", "hist_range", np.array([-4.0, 4.0])))
        rows += [
            (step, layer, "activations", "hist", rng.integers(0, 500, BINS)),
            (step, layer, "activations", "mean", float(rng.normal(0, 0.1))),
            (step, layer, "activations", "std", 1.0 + 0.1 * rng.random()),
            (step, layer, "activations", "zeros", 0.4 + 0.1 * rng.random()),
            (step, layer, "gradients", "act_grad_norm", 10.0 ** (-i / 3) * (1 + rng.random())),
            (step, layer, "weights", "weight_norm", 1.0 + i + 2e-4 * step),
        ]
    return rows


def history(update: int) -> dict:
    epochs = list(range(1, update // 50 + 2))
    return {
        "epochs": epochs,
        "train_loss": [2.0 / e for e in epochs],
        "val_loss": [2.2 / e**0.8 for e in epochs],
        "best_epoch": epochs[-1],
    }


def savefig_png(dash: Dashboard) -> bytes:
    """The dashboard through ``savefig``, with the moving artists drawn like static ones."""
    moving = [artist for view in dash.views for artist in view.artists]
    for artist in moving:
        artist.set_animated(False)
    try:
        buf = io.BytesIO()
        dash.fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        for artist in moving:
            artist.set_animated(True)


def ms(seconds: list[float]) -> tuple[float, float]:
    """Median and 90th percentile in milliseconds."""
    values = sorted(s * 1e3 for s in seconds)
    return statistics.median(values), values[int(0.9 * (len(values) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=120)
    parser.add_argument("--quick", action="store_true", help="10 updates, write nothing")
    args = parser.parse_args()
    updates = 10 if args.quick else args.updates
    rng = np.random.default_rng(0)
    # The baselines draw a twin dashboard fed the same data, so that their full draws do not
    # disturb the live one's cached backgrounds.
    dash, ref = Dashboard(), Dashboard()
    step = 0
    for _ in range(20):  # warm-up: the first full draws, the limits settle a little
        rows = records(step, rng)
        for board in (dash, ref):
            board.update(rows, history=history(step // 10))
            board.png()
        step += 10
    times: dict[str, list[float]] = {"live update": [], "full redraw": [], "savefig": []}
    full_in_live = 0
    size = 0
    for i in range(updates):
        step += 10
        rows = records(step, rng)
        ref.update(rows, history=history(step // 10))
        for name in ("live update", "full redraw", "savefig")[i % 3 :] + (
            "live update",
            "full redraw",
            "savefig",
        )[: i % 3]:
            start = time.perf_counter()
            if name == "live update":
                before = dash.renderer.full_draws
                dash.update(rows, history=history(step // 10))
                size = len(dash.png())
                full_in_live += dash.renderer.full_draws > before
            elif name == "full redraw":
                ref.full_png()
            else:
                savefig_png(ref)
            times[name].append(time.perf_counter() - start)
    width, height = dash.renderer.canvas.get_width_height()
    rows = ["| method | median ms | p90 ms |", "|---|---:|---:|"]
    for name, values in times.items():
        med, p90 = ms(values)
        rows.append(f"| {name} | {med:.1f} | {p90:.1f} |")
    live, full = ms(times["live update"])[0], ms(times["full redraw"])[0]
    note = (
        f"{updates} interleaved rounds on a {width}x{height} px dashboard (4 views, "
        f"{len(LAYERS)} layers, {BINS}-bin histograms); PNG of about {size // 1024} KiB. "
        f"{full_in_live} of the {updates} live updates needed a full draw (an axis grew). "
        f"Live update is {full / live:.1f}x faster than a full redraw; target "
        f"<= {TARGET_MS:.0f} ms: {'met' if live <= TARGET_MS else 'NOT met'}."
    )
    body = "\n".join(rows)
    print(note)
    print(body)
    if not args.quick:
        write_section(TITLE, f"{machine_info()}\n\n{note}\n\n{body}")


if __name__ == "__main__":
    main()
