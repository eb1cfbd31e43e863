"""How much does ``vizlab.watch`` slow training down?

Trains three nets with four variants each, interleaved step by step so that whatever else
the machine does (other processes, thermal drift) hits every variant alike:

- ``unwatched``: the plain training step;
- ``watch every=10``: the default watch, all kinds, one step in ten sampled;
- ``watch every=1``: the same watch sampling every step;
- ``naive hook``: a forward hook on the same layers that computes the full-tensor mean,
  std, fraction of zeros and a histogram at every step and reads each number back with
  ``.item()`` (what a first attempt at a probe usually looks like).

Each variant trains its own copy of the same initial model on the same batches; the order
of the variants rotates from one round to the next. After a short warm-up (which includes
each watch's first sampled step, where it fixes its histogram ranges), every round times one
step of each variant. Each net has a time budget; the number of rounds is the largest
multiple of 10 (at least 10) that the warm-up says fits in it, so ``every=10`` is sampled
exactly once per 10 rounds.

Reported, as ratios to the unwatched step:

- the median over rounds of the per-round wall-clock ratio (robust to interference, but
  for ``every=10`` it mostly shows the unsampled steps);
- the ratio of total wall-clock times (spreads sampled steps and flushes over all steps);
- the ratio of total process CPU times (all threads): on a machine shared with other
  work, wall-clock time also counts waiting for a core, CPU time does not.

Run: ``python benchmarks/probe_overhead.py`` (at most about 5 minutes); ``--quick`` for a
smoke run that writes nothing.
"""

from __future__ import annotations

import argparse
import copy
import functools
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import machine_info, write_section  # noqa: E402

from vizlab import load, models  # noqa: E402
from vizlab.device import configure_threads, resolve_device  # noqa: E402
from vizlab.probes import select_layers, watch  # noqa: E402

TITLE = "Probe overhead (watch vs unwatched training step)"
VARIANTS = ("unwatched", "watch every=10", "watch every=1", "naive hook")
BATCH = 128
WARMUP = 2
# (label, builder, dataset, time budget in seconds, targets for every=10 and every=1)
NETS: list[tuple[str, Callable[[], nn.Module], str, int, float, float]] = [
    (
        "lecture VGG (3 blocks x 2 convs, width 16, batch norm), shapes 3x32x32",
        lambda: models.vgg(blocks=3, convs=2, width=16, norm="batch"),
        "shapes",
        80,
        1.05,
        1.3,
    ),
    (
        "ResNet-20 (batch norm), shapes 3x32x32",
        lambda: models.resnet(depth=20),
        "shapes",
        100,
        1.05,
        1.3,
    ),
    (
        "small VGG (2 blocks x 2 convs, width 16, batch norm), digits 1x8x8",
        lambda: models.vgg(blocks=2, convs=2, width=16, norm="batch", in_channels=1, input_size=8),
        "digits",
        40,
        1.15,
        1.3,
    ),
]


def naive_hook(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
    """The baseline: full-tensor statistics every step, each read back with ``.item()``."""
    x = out.detach()
    x.mean().item(), x.std().item(), (x == 0).float().mean().item()
    lo, hi = x.min().item(), x.max().item()
    torch.histc(x, 40, lo, hi if hi > lo else lo + 1).tolist()


class Variant:
    """One copy of the model, its optimizer and its probe."""

    def __init__(self, name: str, model: nn.Module) -> None:
        self.name, self.model = name, model
        self.opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        self.watch = None
        self.handles = []
        if name.startswith("watch"):
            self.watch = watch(model, every=int(name.split("=")[1])).attach()
        elif name == "naive hook":
            for _, m in select_layers(model):
                self.handles.append(m.register_forward_hook(naive_hook))
        self.times: list[float] = []
        self.cpu: list[float] = []

    def step(self, x: torch.Tensor, y: torch.Tensor, sync: Callable[[], None]) -> None:
        sync()
        start, cpu = time.perf_counter(), time.process_time()
        self.model.train()
        self.opt.zero_grad(set_to_none=True)
        F.cross_entropy(self.model(x), y).backward()
        self.opt.step()
        sync()
        self.times.append(time.perf_counter() - start)
        self.cpu.append(time.process_time() - cpu)

    def close(self) -> None:
        if self.watch is not None:
            self.watch.close()
        for h in self.handles:
            h.remove()


@functools.cache
def dataset(name: str):
    """Each dataset once (generating ``shapes`` takes a few seconds)."""
    return load(name, n=1024) if name == "shapes" else load(name)


def run_net(label, build, data_name, budget, device, sync, quick) -> dict[str, dict[str, float]]:
    data = dataset(data_name)
    x_all, y_all = data.train.x.to(device), data.train.y.to(device)
    batches = [
        (x_all[i : i + BATCH], y_all[i : i + BATCH])
        for i in range(0, len(x_all) - BATCH + 1, BATCH)
    ]
    torch.manual_seed(0)
    base = build().to(device)
    variants = [Variant(name, copy.deepcopy(base)) for name in VARIANTS]
    try:
        for i in range(WARMUP):
            for v in variants:
                v.step(*batches[i % len(batches)], sync)
        round_s = sum(v.times[-1] for v in variants)
        rounds = 2 if quick else max(10, int(budget / round_s) // 10 * 10)
        print(f"  {rounds} rounds of about {round_s:.2f} s")
        for v in variants:
            v.times.clear()
            v.cpu.clear()
        for r in range(rounds):
            x, y = batches[(WARMUP + r) % len(batches)]
            for k in range(len(variants)):
                variants[(r + k) % len(variants)].step(x, y, sync)
    finally:
        for v in variants:
            v.close()
    for v in variants:
        if v.watch is not None:
            assert v.watch.records(), f"{v.name} recorded nothing"
    plain, plain_cpu = variants[0].times, variants[0].cpu
    out = {}
    for v in variants:
        per_round = [t / p for t, p in zip(v.times, plain)]
        out[v.name] = {
            "rounds": rounds,
            "step_ms": 1e3 * statistics.median(v.times),
            "median_ratio": statistics.median(per_round),
            "total_ratio": sum(v.times) / sum(plain),
            "cpu_ratio": sum(v.cpu) / sum(plain_cpu),
        }
    return out


def table(results: dict, targets: dict) -> str:
    lines = [
        "| net (rounds) | variant | median step (ms) | median wall ratio | total wall ratio "
        "| total CPU ratio | target |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for label, rows in results.items():
        t10, t1 = targets[label]
        goal = {"watch every=10": f"<= {t10}", "watch every=1": f"<= {t1}", "naive hook": "2-2.6"}
        for name, r in rows.items():
            lines.append(
                f"| {label} ({r['rounds']}) | {name} | {r['step_ms']:.1f} "
                f"| {r['median_ratio']:.3f} | {r['total_ratio']:.3f} | {r['cpu_ratio']:.3f} "
                f"| {goal.get(name, '')} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, or auto")
    parser.add_argument("--quick", action="store_true", help="2 rounds per net; write nothing")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    configure_threads()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    started = time.perf_counter()
    results, targets = {}, {}
    for label, build, data_name, budget, t10, t1 in NETS:
        print(label)
        results[label] = run_net(label, build, data_name, budget, device, sync, args.quick)
        targets[label] = (t10, t1)
    seconds = time.perf_counter() - started
    body = table(results, targets)
    print(body)
    print(f"total {seconds:.0f} s")
    if args.quick:
        return
    note = (
        f"Batch {BATCH}, Adam, {WARMUP} warm-up steps per variant, then the rounds in "
        f"brackets, variants interleaved step by step on {device.type}; whole run "
        f"{seconds:.0f} s (other work on the machine makes wall-clock ratios noisy: see the "
        "load average above). Ratios are to the unwatched step (see the script's docstring)."
    )
    if device.type == "cpu":
        note += (
            " No GPU was available when these numbers were taken, so there is no "
            "GPU row; `python benchmarks/probe_overhead.py --device cuda` on a GPU machine "
            "adds one (its own section)."
        )
    title = TITLE if device.type == "cpu" else f"{TITLE}, {device.type}"
    write_section(title, f"{machine_info()}\n\n{note}\n\n{body}")


if __name__ == "__main__":
    main()
