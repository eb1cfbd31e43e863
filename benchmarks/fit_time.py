"""How long a 3-epoch ``fit`` of the lecture's VGG takes, on shapes and on digits.

A lecture demo must finish while the audience still remembers why it started, so this is
the number to watch when the training loop, the models or the data change. Each
measurement is the median of a few repetitions (after one short warm-up fit that pays the
one-time costs of the first convolution), reported with images per second.

Usage:
    python benchmarks/fit_time.py [--reps 3] [--epochs 3] [--device auto] [--only shapes]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import machine_info, write_section  # noqa: E402

from vizlab.data import load  # noqa: E402
from vizlab.data.dataset import Dataset  # noqa: E402
from vizlab.device import describe_device, resolve_device  # noqa: E402
from vizlab.models import vgg  # noqa: E402
from vizlab.train import fit  # noqa: E402

CASES = {
    "shapes": {
        "load": {"name": "shapes", "n": 10_000},
        "model": {"blocks": 3, "convs": 2, "width": 16},
    },
    "digits": {
        "load": {"name": "digits"},
        "model": {"blocks": 2, "convs": 2, "width": 16, "in_channels": 1, "input_size": 8},
    },
}


def measure(case: dict, *, reps: int, epochs: int, device: str) -> dict:
    """Median wall time of ``reps`` fits of a freshly seeded model."""
    data = load(**case["load"]).to(resolve_device(device))
    torch.manual_seed(0)
    warm = vgg(**case["model"])
    small = Dataset(data.name, data.classes, data.train.subset(256), data.val, data.test.subset(0))
    fit(warm, small, epochs=1, device=device)
    seconds, histories = [], []
    for rep in range(reps):
        torch.manual_seed(rep)
        model = vgg(**case["model"])
        start = time.perf_counter()
        history = fit(model, data, epochs=epochs, device=device, seed=rep)
        seconds.append(time.perf_counter() - start)
        histories.append(history)
    n_train = len(data.train)
    median = statistics.median(seconds)
    params = sum(p.numel() for p in model.parameters())
    return {
        "n_train": n_train,
        "params": params,
        "median": median,
        "min": min(seconds),
        "wall_ips": epochs * n_train / median,
        "loop_ips": statistics.median(h.images_per_s for h in histories),
        "val_acc": statistics.median(h.val_acc[-1] for h in histories),
        "test_acc": statistics.median(h.test_acc for h in histories),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--only", choices=sorted(CASES), action="append")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)

    rows = []
    for name in args.only or list(CASES):
        case = CASES[name]
        r = measure(case, reps=args.reps, epochs=args.epochs, device=args.device)
        model = ", ".join(f"{k}={v}" for k, v in case["model"].items())
        rows.append(
            f"| {name} | vgg({model}) | {r['params']:,} | {r['n_train']:,} | "
            f"{r['median']:.2f} | {r['min']:.2f} | {r['wall_ips']:,.0f} | "
            f"{r['loop_ips']:,.0f} | {r['val_acc']:.3f} | {r['test_acc']:.3f} |"
        )
        print(rows[-1], flush=True)

    device = describe_device(resolve_device(args.device))
    body = "\n".join(
        [
            f"{args.epochs}-epoch `fit` (Adam, lr 1e-3, batch 128) on {device}; median of "
            f"{args.reps} runs after a warm-up. Wall time includes the validation pass each "
            "epoch and the final test pass; the loop rate counts training steps only.",
            "",
            "| data | model | params | train images | median s | min s | images/s (wall) "
            "| images/s (train loop) | val acc | test acc |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
            machine_info(),
        ]
    )
    if not args.no_write:
        path = write_section(f"fit time ({device.split(' ')[0]})", body)
        print(f"wrote {path}")
    else:
        print(body)


if __name__ == "__main__":
    main()
