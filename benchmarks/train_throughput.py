"""Training images per second: a plain hand-written loop vs ``fit`` vs ``fit`` + ``watch``.

The question is what ``fit``'s conveniences (checks, device-side metrics, callbacks) and the
probes cost on top of the bare minimum a person would write. The variants run interleaved,
in rounds (each round trains every variant on the same images, in a rotating order, from a
fresh model), so drift in the machine's speed hits all of them alike; the table reports
medians over rounds. ``fit``'s rate is its own training-loop rate (evaluation excluded),
the plain loop's is timed the same way, so the two are comparable.

Models: the lecture VGG (3 blocks x 2 convs, width 32, batch norm) and a ResNet-20, on
32x32 ``shapes`` images.

Usage:
    python benchmarks/train_throughput.py [--device auto] [--images N] [--rounds R]
        [--batch-size B] [--only vgg] [--no-write]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import machine_info, write_section  # noqa: E402

from vizlab.data import load  # noqa: E402
from vizlab.data.dataset import Dataset  # noqa: E402
from vizlab.device import configure_threads, describe_device, resolve_device  # noqa: E402
from vizlab.models import resnet, vgg  # noqa: E402
from vizlab.probes import watch  # noqa: E402
from vizlab.train import fit  # noqa: E402

MODELS = {
    "vgg": ("vgg(3 blocks x 2 convs, width 32, BN)",
            lambda: vgg(blocks=3, convs=2, width=32, norm="batch")),
    "resnet20": ("resnet(depth=20)", lambda: resnet(depth=20)),
}  # fmt: skip


def plain_loop(make, data: Dataset, *, batch_size: int, seed: int, device) -> float:
    """What a person writes by hand: Adam, cross-entropy, shuffled slices. Images/s."""
    torch.manual_seed(seed)
    model = make().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=device.type == "cuda")
    x_all, y_all = data.train.x, data.train.y
    order = torch.randperm(len(y_all), generator=torch.Generator().manual_seed(seed))
    order = order.to(device)
    model.train()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    total = torch.zeros((), device=device)
    for i in range(0, len(y_all), batch_size):
        idx = order[i : i + batch_size]
        x, y = x_all[idx], y_all[idx]  # (B, C, H, W), (B,)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.detach()
    total.item()  # wait for the device, as fit does at the end of an epoch
    return len(y_all) / (time.perf_counter() - start)


def fit_rate(make, data, *, batch_size, seed, device, probes=False, **kw) -> float:
    torch.manual_seed(seed)
    model = make()
    probe = watch(model) if probes else None
    h = fit(model, data, epochs=1, batch_size=batch_size, seed=seed, device=device,
            watch=probe, **kw)  # fmt: skip
    return h.images_per_s


def make_variants(make, data, *, batch_size: int, device):
    variants = {
        "plain loop": lambda s: plain_loop(make, data, batch_size=batch_size, seed=s,
                                           device=device),
        "fit": lambda s: fit_rate(make, data, batch_size=batch_size, seed=s, device=device),
        "fit + watch": lambda s: fit_rate(make, data, batch_size=batch_size, seed=s,
                                          device=device, probes=True),
    }  # fmt: skip
    # fit's "auto" layout is channels-last on CPU and CUDA; is it worth it here?
    variants["fit, NCHW"] = lambda s: fit_rate(
        make, data, batch_size=batch_size, seed=s, device=device, channels_last=False
    )
    names = list(variants)
    return variants, names


def run_rounds(variants, names, warm_variants, *, rounds: int) -> dict:
    for name in names:  # warm-up on two batches: first-call costs (allocator, kernels)
        warm_variants[name](0)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            rates[name].append(variants[name](r + 1))
    return {name: statistics.median(values) for name, values in rates.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--images",
        type=int,
        default=None,
        help="training images per round (default 50,000 on CUDA, 2,560 on CPU)",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--batch-size", type=int, default=None, help="default 512 on CUDA, 128 on CPU"
    )
    parser.add_argument("--only", choices=sorted(MODELS), action="append")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)  # fmt: skip

    device = resolve_device(args.device)
    configure_threads()
    cuda = device.type == "cuda"
    # 20 steps of 128 on a CPU: a round short enough to interleave, long enough that a watch
    # at every=10 samples its steady 10% of steps (step 0 is always sampled).
    images = args.images or (50_000 if cuda else 2_560)
    batch_size = args.batch_size or (512 if cuda else 128)
    data = load("shapes", n=images + 256, val_fraction=256 / (images + 256))
    data = Dataset(data.name, data.classes, data.train, data.val, data.test.subset(0))
    data = data.to(device)
    warm_data = Dataset(data.name, data.classes, data.train.subset(2 * batch_size), data.val,
                        data.test)  # fmt: skip

    rows = []
    for key in args.only or list(MODELS):
        label, make = MODELS[key]
        started = time.perf_counter()
        variants, names = make_variants(make, data, batch_size=batch_size, device=device)
        warm, _ = make_variants(make, warm_data, batch_size=batch_size, device=device)
        r = run_rounds(variants, names, warm, rounds=args.rounds)
        ratio_fit = r["plain loop"] / r["fit"]
        ratio_watch = r["fit"] / r["fit + watch"]
        rows.append(
            f"| {label} | {describe_device(device)} | {r['plain loop']:,.0f} | {r['fit']:,.0f} "
            f"| {r['fit + watch']:,.0f} | {r['fit, NCHW']:,.0f} | {ratio_fit:.2f}x "
            f"| {ratio_watch:.2f}x |"
        )
        print(rows[-1], f"[{time.perf_counter() - started:.0f} s]", flush=True)

    body = [
        f"Images/s of one training epoch over {len(data.train):,} `shapes` images (32x32), "
        f"batch {batch_size}, Adam; median of {args.rounds} interleaved rounds after a "
        "warm-up. `fit` x = plain / fit time ratio (target <= 1.10x on a GPU); watch x = "
        "fit / fit+watch (`vizlab.watch(model)`, every=10; target <= 1.03x on a GPU; each round "
        "builds a fresh watch, so on a short CPU round its first sampled step, which fixes "
        "every layer's histogram range, weighs more than in a long run: see the probe "
        "overhead section for the steady state). "
        "fit uses its defaults for the device (channels-last memory on CPU and CUDA, bf16 "
        "autocast on CUDA; the plain loop uses the same autocast but the default NCHW "
        "layout); `fit, NCHW` is fit with channels_last=False. On CPU the plain loop and "
        "fit therefore differ by layout too: compare `fit, NCHW` with the plain loop for "
        "the cost of fit itself.",
        "",
        "| model | device | plain loop | fit | fit + watch | fit, NCHW | fit x | watch x |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
        *rows,
    ]
    if not cuda:
        body.append("| (all) | GPU: not measured (no GPU lent in this session) | | | | | | |")
    body += ["", machine_info()]
    text = "\n".join(body)
    if args.no_write:
        print(text)
    else:
        print(f"wrote {write_section(f'train throughput ({device.type})', text)}")


if __name__ == "__main__":
    main()
