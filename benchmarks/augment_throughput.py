"""How fast augmentation runs next to the training step it feeds.

Augmentation happens on every training batch, so it must cost clearly less than the
forward + backward + optimizer step that consumes the batch; otherwise it, not the model,
sets the pace of a lecture demo. This measures images per second for flip + crop and for
RandAugment(2, 9) on a batch of 512 32x32 RGB images, and, in the same run, one Adam step
of the lecture's VGG (3 blocks, 2 convs, width 16, batch norm) on the same batch. Each
number is the median of several timed repetitions after a warm-up.

Usage:
    python benchmarks/augment_throughput.py [--reps 7] [--batch 512] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import machine_info, write_section  # noqa: E402

from vizlab import augment as A  # noqa: E402
from vizlab.device import configure_threads, describe_device, resolve_device  # noqa: E402
from vizlab.models import vgg  # noqa: E402


def median_seconds(fn: Callable[[], object], *, reps: int, device: torch.device) -> float:
    """Median wall time of ``fn`` over ``reps`` runs, after two warm-up calls."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(2):
        fn()
    sync()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)

    configure_threads()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    x = torch.rand(args.batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (args.batch,), device=device)

    pipelines = {
        "flip + crop": A.Compose(A.Flip(), A.Crop(padding=4)).to(device),
        "RandAugment(2, 9)": A.RandAugment(2, 9).to(device),
    }
    model = vgg(blocks=3, convs=2, width=16, norm="batch").to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def train_step() -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    rows = []
    with torch.no_grad():
        for name, op in pipelines.items():
            seconds = median_seconds(lambda op=op: op(x), reps=args.reps, device=device)
            rows.append((name, seconds))
    step = median_seconds(train_step, reps=args.reps, device=device)
    rows.append(("training step (VGG 3x2, width 16, BN, Adam)", step))

    lines = [
        f"Batch of {args.batch} 3x32x32 images on {describe_device(device)}, "
        f"median of {args.reps} runs.",
        "",
        "| what | ms per batch | images/s | share of training step |",
        "|---|---:|---:|---:|",
    ]
    for name, seconds in rows:
        lines.append(
            f"| {name} | {seconds * 1e3:.1f} | {args.batch / seconds:,.0f} | {seconds / step:.2f} |"
        )
    cheaper = all(seconds < step for _, seconds in rows[:-1])
    lines += [
        "",
        f"Augmentation cheaper than the training step: {'yes' if cheaper else 'NO'}.",
        "",
    ]
    if device.type == "cpu" and not torch.cuda.is_available():
        lines += ["No CUDA device was available for this run; CPU numbers only.", ""]
    lines.append(machine_info())
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        title = f"Augmentation throughput ({device.type})"
        print(f"wrote {write_section(title, text)}")


if __name__ == "__main__":
    main()
