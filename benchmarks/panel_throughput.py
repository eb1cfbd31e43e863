"""Does a live panel slow training down? And how fast does it react to a control?

Three numbers for ``widgets.LivePanel`` (the panel a learner points at their own model),
measured on the lecture's small VGG (2 blocks x 2 convs, width 16, batch norm) on the
embedded digits:

- throughput ratio: images/s of training inside the panel (a watch on every layer of the
  kinds its views draw, sampling at most 20 steps a second; the render thread drawing the
  four-view dashboard about twice a second; training in a background thread with one
  torch thread) against a headless ``fit`` of the same model
  with the same settings in the main thread, without a watch (target at least 0.8) and
  with the panel's watch (what the live drawing itself costs); rounds interleaved so
  machine noise hits all alike;
- update cost: median wall time of one ``render()`` (dashboard update + PNG), the work the
  render thread does per refresh;
- control-to-restart latency: from setting a control while a run trains to the new run's
  first recorded training step;
- Train to first picture: from pressing Train to the first live picture in the panel. A
  LivePanel lays out its dashboard while idle and fixes the time axes to the run, so this
  first picture is the run's empty dashboard (status and progress live); the first data
  follow at the next refresh, half a second later at most on this CPU.

Run ``python benchmarks/panel_throughput.py`` (about two minutes); ``--quick`` for a smoke
run that writes nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import machine_info, write_section  # noqa: E402

from vizlab import models  # noqa: E402
from vizlab.data import load  # noqa: E402
from vizlab.plots.dashboard import view_kinds  # noqa: E402
from vizlab.probes import watch  # noqa: E402
from vizlab.train import fit  # noqa: E402
from widgets import LivePanel  # noqa: E402

TITLE = "Live panel: throughput, update cost, restart latency"
SETTINGS = dict(epochs=3, lr=1e-3, batch_size=32)
# the panel's watch, as LivePanel sets it up by default: what its views draw, sampled at
# most every MIN_INTERVAL seconds
DEFAULTS = LivePanel.__init__.__kwdefaults__
EVERY, MIN_INTERVAL = DEFAULTS["every"], DEFAULTS["min_interval"]
KINDS = view_kinds(DEFAULTS["views"])


def build():
    return models.vgg(blocks=2, convs=2, width=16, norm="batch", in_channels=1, input_size=(8, 8))


def headless(data, every: int | None = None) -> float:
    """A plain ``fit`` in the main thread; with ``every``, under the panel's watch."""
    model = build()
    probe = watch(model, every=every, min_interval=MIN_INTERVAL, what=KINDS) if every else None
    history = fit(model, data, device="cpu", seed=0, watch=probe, **SETTINGS)
    return history.images_per_s


def in_panel(data) -> tuple[float, list[float], float]:
    panel = LivePanel(build(), data, device="cpu", **SETTINGS)
    timings: list[float] = []
    render = panel.render

    def timed():
        t0 = time.perf_counter()
        out = render()
        timings.append(time.perf_counter() - t0)
        return out

    panel.render = timed
    try:
        # a person looks at a new panel for a moment before pressing Train: time enough for
        # the render thread to lay out the dashboard (about 0.4 s), as it does in a notebook
        deadline = time.perf_counter() + 10
        while not panel.prepared and time.perf_counter() < deadline:
            time.sleep(0.01)
        t0 = time.perf_counter()
        panel.train()
        while panel.renders == 0 and not panel.run.finished.is_set():
            time.sleep(0.005)
        first = time.perf_counter() - t0
        panel.wait(300)
        return panel.run.history.images_per_s, timings, first
    finally:
        panel.close()


def trained_a_step(run) -> bool:
    """Whether the run's history holds a step (``bool(history)`` counts epochs, not steps:
    testing it here once made this benchmark time the first epoch instead)."""
    return run.history is not None and bool(run.history.steps)


def restart_latency(data, repeats: int) -> list[float]:
    panel = LivePanel(build(), data, device="cpu", **{**SETTINGS, "epochs": 50})
    latencies = []
    try:
        for i in range(repeats):
            panel.train()
            while not trained_a_step(panel.run):
                time.sleep(0.005)
            t0 = time.perf_counter()
            panel.controls["lr"].value = 1e-3 * (2 if i % 2 == 0 else 1)
            run = panel.run
            while not trained_a_step(run):
                time.sleep(0.002)
            latencies.append(time.perf_counter() - t0)
        panel.stop()
        panel.wait(10)
    finally:
        panel.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--epochs",
        type=int,
        default=SETTINGS["epochs"],
        help="epochs per run; a short run is dominated by the panel's one-off first draw",
    )
    parser.add_argument("--quick", action="store_true", help="one round, write nothing")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    SETTINGS["epochs"] = args.epochs
    data = load("digits")
    headless(data)  # warm-up: first-call costs (allocator, kernels) out of the timings
    plain, watched, panel, updates, firsts = [], [], [], [], []
    for _ in range(rounds):
        plain.append(headless(data))
        watched.append(headless(data, every=EVERY))
        ips, timings, first = in_panel(data)
        panel.append(ips)
        updates += timings
        firsts.append(first)
    ratios = [p / h for p, h in zip(panel, plain)]
    vs_watched = [p / h for p, h in zip(panel, watched)]
    latency = restart_latency(data, 3 if args.quick else 10)
    ms = [t * 1000 for t in updates]
    table = "\n".join(
        [
            "| measure | median | range |",
            "|---|---|---|",
            f"| headless fit, images/s | {statistics.median(plain):,.0f} | "
            f"{min(plain):,.0f}-{max(plain):,.0f} |",
            f"| headless fit + the panel's watch (every={EVERY}, min_interval={MIN_INTERVAL} s), "
            "images/s | "
            f"{statistics.median(watched):,.0f} | {min(watched):,.0f}-{max(watched):,.0f} |",
            f"| inside LivePanel, images/s | {statistics.median(panel):,.0f} | "
            f"{min(panel):,.0f}-{max(panel):,.0f} |",
            f"| **throughput ratio** (target >= 0.8) | **{statistics.median(ratios):.2f}** | "
            f"{min(ratios):.2f}-{max(ratios):.2f} |",
            f"| ratio to the watched headless fit (the cost of live drawing) | "
            f"{statistics.median(vs_watched):.2f} | {min(vs_watched):.2f}-{max(vs_watched):.2f} |",
            f"| update cost (render + PNG), ms ({len(ms)} updates) | "
            f"{statistics.median(ms):.1f} | {min(ms):.1f}-{max(ms):.1f} |",
            f"| Train to first picture, ms (target < 2000) | "
            f"{statistics.median(firsts) * 1000:.0f} "
            f"| {min(firsts) * 1000:.0f}-{max(firsts) * 1000:.0f} |",
            f"| control-to-restart latency, ms ({len(latency)} changes; target < 1000) | "
            f"{statistics.median(latency) * 1000:.0f} | "
            f"{min(latency) * 1000:.0f}-{max(latency) * 1000:.0f} |",
        ]
    )
    print(table)
    if args.quick:
        return
    body = (
        f"{__doc__.split(chr(10) + chr(10))[1]}\n\n{table}\n\n"
        f"{rounds} interleaved rounds of {SETTINGS['epochs']} epochs each; "
        "`python benchmarks/panel_throughput.py`.\n\n" + machine_info()
    )
    write_section(f"{TITLE} ({SETTINGS['epochs']}-epoch runs)", body)


if __name__ == "__main__":
    main()
