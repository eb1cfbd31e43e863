"""F-MC: Monte-Carlo dropout (Gal & Ghahramani 2016).

``mc_dropout``: N masked passes of a trained MLP give a predictive mean and spread; wrong
predictions are the uncertain ones; with the rate set to 0 the spread is exactly zero. The
helpers ``mc_passes``, ``predictive_entropy`` and ``set_rate`` are shared with the panel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from vizlab import plots
from vizlab.experiments.base import Result, dataset, drawer, experiment, pick, stopped
from vizlab.experiments.dropout.common import stopped_result
from vizlab.models import mlp
from vizlab.nn import DropConnectLinear, Dropout
from vizlab.plots.style import PALETTE, new_figure, styled
from vizlab.train import fit


def set_rate(model: nn.Module, p: float) -> int:
    """Set the rate ``p`` of every vizlab dropout layer in ``model``; returns how many."""
    count = 0
    for module in model.modules():
        if isinstance(module, (Dropout, DropConnectLinear)):
            module.p = float(p)
            count += 1
    return count


@torch.no_grad()
def mc_passes(model: nn.Module, x: torch.Tensor, n: int, *, batch_size: int = 1024) -> torch.Tensor:
    """Softmax outputs of ``n`` forward passes with dropout on (Monte-Carlo dropout).

    Only the dropout layers are put in training mode (batch norm, if any, stays in eval),
    and the model's modes are restored afterwards.

    Shape:
        - x: ``(B, C, H, W)`` on the model's device; returns ``(n, B, K)`` on the same device.
    """
    modes = {m: m.training for m in model.modules()}
    model.eval()
    for m in model.modules():
        if isinstance(m, (Dropout, DropConnectLinear, nn.Dropout)):
            m.train()
    try:
        out = []
        for _ in range(n):
            chunks = [model(xb).softmax(dim=1) for xb in x.split(batch_size)]
            out.append(torch.cat(chunks))
        return torch.stack(out)  # (n, B, K)
    finally:
        for m, mode in modes.items():
            m.train(mode)


def predictive_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of the mean prediction: ``probs (n, B, K) -> (B,)``."""
    mean = probs.mean(dim=0)
    return -(mean * mean.clamp_min(1e-12).log()).sum(dim=1)


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@experiment("mc_dropout", ("F-MC",), "Monte-Carlo dropout: predictive mean and uncertainty")
def mc_dropout(
    *,
    scale: str = "quick",
    data=None,
    device: str = "auto",
    seed: int = 0,
    stop=None,
    callbacks=(),
    p: float = 0.5,
    passes: int = 50,
    images: Sequence[int] | None = None,
) -> Result:
    """Train an MLP with dropout, then run ``passes`` masked forward passes on the test set.

    Reports, per chosen test image, the per-class mean and standard deviation of the softmax
    over passes; over the whole test set, the accuracy of the MC mean and the predictive
    entropy of right vs wrong predictions (wrong ones must be more uncertain on average).
    Then the same trained model with its rate set to 0 is run the same way: the passes are
    identical, the spread (max - min over passes) is exactly zero. Holds at quick scale
    (digits, a few epochs); the entropy gap needs a model that makes some errors (at least 3
    on the test split).

    Args:
        p: dropout rate of the hidden layers.
        passes: N, the number of masked passes.
        images: test indices to show; default: the most confident right prediction, the most
            uncertain prediction and the most confident wrong one.
    """
    torch.manual_seed(seed)
    data = dataset(data, "digits", seed=seed)
    c, h, w = data.shape
    model = mlp([c * h * w, 256, 256, data.num_classes], dropout=p)
    epochs = pick(scale, 6, 30)
    history = fit(
        model, data, epochs=epochs, batch_size=64, lr=1e-3, device=device, seed=seed,
        stop=stop, callbacks=callbacks,
    )  # fmt: skip
    if stopped(stop):
        return stopped_result("mc_dropout", ("F-MC",), scale, {})
    dev = _device_of(model)
    x, y = data.test.x.to(dev), data.test.y.to(dev)
    torch.manual_seed(seed)
    probs = mc_passes(model, x, passes)  # (N, B, K)
    mean = probs.mean(dim=0)  # (B, K)
    pred = mean.argmax(dim=1)
    right = pred == y
    entropy = predictive_entropy(probs)
    spread = probs.std(dim=0)  # (B, K)
    with torch.no_grad():
        eval_acc = float((model.eval()(x).argmax(dim=1) == y).float().mean())
    ent_right, ent_wrong = entropy[right], entropy[~right]
    # AUROC of "entropy flags an error": P(entropy of a wrong one > entropy of a right one)
    auroc = float(
        (ent_wrong[:, None] > ent_right[None, :]).float().mean()
        + 0.5 * (ent_wrong[:, None] == ent_right[None, :]).float().mean()
    )

    if images is None:
        conf = mean.max(dim=1).values
        chosen = [int(torch.where(right, conf, -1.0).argmax()), int(entropy.argmax())]
        if (~right).any():
            chosen.append(int(torch.where(~right, conf, -1.0).argmax()))
    else:
        chosen = [int(i) for i in images]
    shown = {
        str(i): {
            "label": int(y[i]),
            "pred": int(pred[i]),
            "probs": probs[:, i].cpu().tolist(),  # (N, K)
            "mean": mean[i].cpu().tolist(),
            "std": spread[i].cpu().tolist(),
            "entropy": float(entropy[i]),
        }
        for i in chosen
    }

    set_rate(model, 0.0)
    off = mc_passes(model, x, passes)
    set_rate(model, p)
    # range (max - min over passes) rather than std: exactly 0 for identical passes
    spread_off = float((off.amax(dim=0) - off.amin(dim=0)).max())
    identical_off = bool((off == off[:1]).all())

    n_wrong = int((~right).sum())
    facts = {
        "wrong_predictions_more_uncertain": n_wrong >= 3
        and float(ent_wrong.mean()) > float(ent_right.mean()),
        "spread_zero_without_dropout": spread_off == 0.0 and identical_off,
    }
    numbers = {
        "p": p,
        "passes": passes,
        "mc_acc": float(right.float().mean()),
        "eval_acc": eval_acc,
        "n_test": len(y),
        "n_wrong": n_wrong,
        "entropy_right": float(ent_right.mean()),
        "entropy_wrong": float(ent_wrong.mean()) if n_wrong else None,
        "entropy_auroc": auroc,
        "mean_spread": float(spread.max(dim=1).values.mean()),
        "spread_off": spread_off,
        "identical_off": identical_off,
        "entropies_right": ent_right.cpu().tolist(),
        "entropies_wrong": ent_wrong.cpu().tolist(),
        "images": shown,
        "classes": list(data.classes),
        "history": history.as_dict(),
    }
    config = {"data": data.name, "device": history.device, "seed": seed, "epochs": epochs}
    return Result("mc_dropout", ("F-MC",), scale, numbers, facts, config)


@drawer("mc_dropout")
@styled
def _draw_mc(result: Result) -> dict[str, tuple[Figure, str]]:
    n = result.numbers
    out: dict[str, tuple[Figure, str]] = {}
    for i, (index, img) in enumerate(n["images"].items()):
        fig = plots.mc_dropout(img["probs"], classes=n["classes"], label=img["label"])
        verdict = "right" if img["pred"] == img["label"] else "wrong"
        caption = (
            f"Test image {index}: label {n['classes'][img['label']]}, MC prediction "
            f"{n['classes'][img['pred']]} ({verdict}), entropy {img['entropy']:.2f} nats."
        )
        out[f"image{i}"] = (fig, caption)
    fig = new_figure(None, (9.0, 4.5))
    ax = fig.add_subplot()
    right, wrong = n["entropies_right"], n["entropies_wrong"]
    top = max(right + wrong + [1e-3])
    bins = np.linspace(0, top, 25)
    ax.hist(right, bins=bins, density=True, alpha=0.6, color=PALETTE[0], label="right")
    if wrong:
        ax.hist(wrong, bins=bins, density=True, alpha=0.6, color=PALETTE[3], label="wrong")
    ax.set_xlabel("predictive entropy (nats)")
    ax.set_ylabel("density")
    ax.set_title(f"{n['passes']} passes, AUROC {n['entropy_auroc']:.2f}")
    ax.legend(loc="best")
    out["entropy"] = (fig, "Wrong predictions carry more predictive entropy than right ones.")
    return out
