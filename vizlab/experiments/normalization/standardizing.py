"""G-STD: gradient descent on least squares with raw and with standardized inputs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from vizlab.experiments.base import Result, drawer, experiment, pick
from vizlab.experiments.normalization.drawing import styled_drawer
from vizlab.plots import descent_paths


def _descend(
    x: np.ndarray, y: np.ndarray, lr: float, tol: float, max_steps: int
) -> tuple[np.ndarray, int, bool]:
    """Gradient descent on ``0.5 * mean((x w - y)^2)`` from ``w = 0``; stops once the loss
    gap to the optimum is below ``tol`` times the starting gap.

    Returns the iterates ``(T + 1, 2)``, the steps taken and whether it converged.
    """
    n = len(y)
    w_star = np.linalg.lstsq(x, y, rcond=None)[0]

    def loss(w: np.ndarray) -> float:
        return 0.5 * float(np.mean((x @ w - y) ** 2))

    best = loss(w_star)
    w = np.zeros(2)
    gap0 = loss(w) - best
    path = [w.copy()]
    for step in range(1, max_steps + 1):
        w = w - lr * (x.T @ (x @ w - y)) / n  # the real gradient of the data loss
        path.append(w.copy())
        if loss(w) - best <= tol * gap0:
            return np.array(path), step, True
    return np.array(path), max_steps, False


@experiment("standardization", ["G-STD"], "Standardizing inputs preconditions the problem")
def standardization(
    *,
    scale: str = "quick",
    data: Any = None,
    device: str = "auto",
    seed: int = 0,
    stop: Any = None,
    callbacks: Sequence[Any] = (),
    n: int = 200,
    means: tuple[float, float] = (3.0, 0.0),
    scales: tuple[float, float] = (1.5, 0.3),
    tol: float = 1e-6,
) -> Result:
    """Least squares with two inputs, before and after standardizing them (G-STD).

    The inputs have different means and scales (``means``, ``scales``), like raw pixel
    values next to a small feature. The loss ``0.5 * mean((x w - y)^2)`` is a quadratic in
    ``w`` with Hessian ``A = x^T x / n``; gradient descent with step ``1 / lambda_max(A)``
    needs about ``cond(A) * log(1 / tol) / 2`` steps. Standardizing (subtract the mean,
    divide by the standard deviation; the targets are centred, so the intercept is their
    mean) makes ``A`` the inputs' correlation matrix, with condition number near 1.

    Pure numpy on synthetic data (seeded); ``data`` and ``device`` are not used. The fact
    holds at any scale; ``"full"`` only takes more samples.
    """
    rng = np.random.default_rng(seed)
    n = pick(scale, n, 10 * n)
    z = rng.standard_normal((n, 2))
    x_raw = np.asarray(means) + np.asarray(scales) * z  # (n, 2)
    y = x_raw @ np.array([0.8, -2.0]) + 0.1 * rng.standard_normal(n)  # (n,)
    x_std = (x_raw - x_raw.mean(0)) / x_raw.std(0)
    y_std = y - y.mean()
    numbers: dict[str, Any] = {"n": n, "tol": tol}
    for key, x, t in (("raw", x_raw, y), ("standardized", x_std, y_std)):
        hessian = x.T @ x / n  # (2, 2)
        eig = np.linalg.eigvalsh(hessian)
        lr = 1.0 / eig[-1]
        path, steps, converged = _descend(x, t, lr, tol, max_steps=20000)
        w_star = np.linalg.lstsq(x, t, rcond=None)[0]
        numbers[key] = {
            "hessian": hessian,
            "eigenvalues": eig,
            "condition": float(eig[-1] / eig[0]),
            "lr": float(lr),
            "steps": steps,
            "converged": converged,
            "w_star": w_star,
            "path": path - w_star,  # iterates relative to the optimum, as descent_paths draws
        }
    raw, std = numbers["raw"], numbers["standardized"]
    facts = {
        "condition_drops": std["condition"] < raw["condition"],
        "fewer_steps": std["converged"] and std["steps"] < raw["steps"],
    }
    config = {"n": n, "means": list(means), "scales": list(scales), "seed": seed}
    return Result("standardization", ("G-STD",), scale, numbers, facts, config)


@drawer("standardization")
@styled_drawer
def _draw_standardization(result: Result) -> dict[str, tuple[Figure, str]]:
    num = result.numbers
    problems = {
        f"{key} inputs": (np.array(num[key]["hessian"]), np.array(num[key]["path"]))
        for key in ("raw", "standardized")
    }
    fig = descent_paths(problems)
    caption = (
        f"Gradient descent from w = 0, step 1/lambda_max: condition "
        f"{num['raw']['condition']:.0f} -> {num['standardized']['condition']:.2f}, steps "
        f"{num['raw']['steps']} -> {num['standardized']['steps']}."
    )
    return {"descent_paths": (fig, caption)}
