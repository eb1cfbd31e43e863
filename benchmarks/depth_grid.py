"""The lecture's depth grid, timed: VGG blocks x convs per block, with and without probes.

The lecture's full grid is blocks 1-4 x convs 1-4, 3 repetitions, 3 epochs on 50,000
``shapes`` images, every run watched by ``vizlab.watch``. On a GPU the whole grid should
take under two minutes and the probes should cost under 3 %. A CPU cannot do that grid in a
lecture's time, so on a CPU the default is a reduced size (stated in the results). After a
warm-up grid, the grid runs with probes off and then with probes on; the table gives both
wall times.

Usage:
    python benchmarks/depth_grid.py [--device auto] [--size full|reduced]
        [--images N] [--epochs E] [--reps R] [--blocks 1 2 3 4] [--convs 1 2 3 4]
        [--workers W] [--no-write]
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import machine_info, write_section  # noqa: E402

from vizlab.device import configure_threads, describe_device, resolve_device  # noqa: E402
from vizlab.models import vgg  # noqa: E402
from vizlab.probes import watch  # noqa: E402
from vizlab.train import init_worker, sweep  # noqa: E402

SIZES = {
    "full": {"images": 50_000, "epochs": 3, "reps": 3, "blocks": [1, 2, 3, 4],
             "convs": [1, 2, 3, 4]},
    "reduced": {"images": 2_000, "epochs": 1, "reps": 1, "blocks": [1, 2, 3, 4],
                "convs": [1, 2, 3, 4]},
}  # fmt: skip


def build(blocks: int, convs: int):
    """Module level, so worker processes can import it."""
    return vgg(blocks=blocks, convs=convs, norm="batch")


def run_grid(args, *, probes: bool, executor=None) -> tuple[float, object]:
    factory = functools.partial(watch, every=10) if probes else None
    data = {"name": "shapes", "n": args.images + args.images // 9}  # ~10 % held out for val
    start = time.perf_counter()
    result = sweep(
        build, {"blocks": args.blocks, "convs": args.convs}, reps=args.reps, data=data,
        epochs=args.epochs, batch_size=args.batch_size, device=args.device,
        watch_factory=factory, executor=executor,
    )  # fmt: skip
    return time.perf_counter() - start, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--size",
        choices=sorted(SIZES),
        default=None,
        help="default: full on CUDA, reduced elsewhere",
    )
    parser.add_argument("--images", type=int)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--reps", type=int)
    parser.add_argument("--blocks", type=int, nargs="+")
    parser.add_argument("--convs", type=int, nargs="+")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="default 512 on CUDA, 128 elsewhere"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="run cells on a spawn process pool of this many workers",
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)  # fmt: skip

    device = resolve_device(args.device)
    configure_threads()
    cuda = device.type == "cuda"
    size = args.size or ("full" if cuda else "reduced")
    for key, value in SIZES[size].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.batch_size = args.batch_size or (512 if cuda else 128)

    executor = None
    if args.workers:
        ctx = multiprocessing.get_context("spawn")
        threads = max(1, configure_threads() // args.workers)
        executor = ProcessPoolExecutor(
            args.workers, mp_context=ctx, initializer=init_worker, initargs=(threads,)
        )
    try:
        run_grid(args, probes=False, executor=executor)  # warm-up (and data load) once
        off, _ = run_grid(args, probes=False, executor=executor)
        on, result = run_grid(args, probes=True, executor=executor)
    finally:
        if executor is not None:
            executor.shutdown()
    runs = len(result.rows)
    failed = len(result.failed())
    _, _, acc = result.pivot("test_acc", "blocks", "convs")
    grid_text = f"blocks {args.blocks} x convs {args.convs}"
    where = describe_device(device) + (f", {args.workers} worker processes" if args.workers else "")
    row = (
        f"| {size}: {grid_text}, {args.reps} rep, {args.epochs} epoch, {args.images:,} "
        f"train images, batch {args.batch_size} | {where} | {runs} ({failed} failed) | "
        f"{off:.1f} | {on:.1f} | {on / off:.2f}x |"
    )
    print(row, flush=True)
    body = [
        "Wall time of a whole `sweep` over the VGG depth grid (batch norm, width 16, Adam) on "
        "`shapes` 32x32, probes off (no watch) and on (`vizlab.watch(model, every=10)` per "
        "run), after one warm-up grid. Targets on one H100 at full size (blocks 1-4 x convs 1-4, "
        "3 reps, 3 epochs, 50,000 images): whole grid < 2 min, probes on <= 1.03x.",
        "",
        "| size | device | runs | probes off s | probes on s | on / off |",
        "|---|---|---:|---:|---:|---:|",
        row,
    ]
    if not cuda:
        body.append("| full | GPU: not measured (no GPU lent in this session) | | | | |")
    body += [
        "",
        "Mean test accuracy of the probes-on grid (rows: blocks, columns: convs): "
        + "; ".join(
            f"{b} blocks: " + ", ".join("n/a" if a != a else f"{a:.2f}" for a in acc[i])
            for i, b in enumerate(args.blocks)
        ),
        "",
        machine_info(),
    ]
    text = "\n".join(body)
    if args.no_write:
        print(text)
    else:
        print(f"wrote {write_section(f'depth grid ({device.type})', text)}")


if __name__ == "__main__":
    main()
