"""The ``vizlab`` command: ``info``, ``lab``, ``app`` and ``figures``.

Each subcommand is a thin shell over the engine: argument parsing and messages here, the work
in ``vizlab.data``, ``vizlab.train`` and friends. Errors a user can fix are printed as one
line on stderr with exit code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "build_parser"]

REPO_ROOT = Path(__file__).resolve().parents[1]
TOUR = "00_tour.ipynb"


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vizlab",
        description="See inside a convolutional network while it trains.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = sub.add_parser("info", help="device, versions and which datasets are available")
    info.add_argument("--root", help="folder with dataset files (default: $VIZLAB_DATA)")
    info.set_defaults(func=cmd_info)

    lab = sub.add_parser("lab", help="open JupyterLab on the bundled notebooks")
    lab.add_argument("notebook", nargs="?", default=TOUR, help=f"notebook to open (default {TOUR})")
    lab.add_argument("--port", type=int, help="port for the JupyterLab server")
    lab.add_argument("--no-browser", action="store_true", help="do not open a browser")
    lab.set_defaults(func=cmd_lab)

    app = sub.add_parser("app", help="serve one panel as a standalone web app (Voila)")
    app.add_argument("topic", help="which panel to serve")
    app.add_argument("--port", type=int, help="port for the Voila server")
    app.set_defaults(func=cmd_app)

    fig = sub.add_parser(
        "figures", help="train headless and write figures (PNG) and numbers (JSON)"
    )
    fig.add_argument("--topic", default="curves", help="which figure set (default: curves)")
    fig.add_argument("--data", default="digits", help="dataset name (default: digits)")
    fig.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: auto)")
    fig.add_argument("--epochs", type=int, default=5, help="training epochs (default: 5)")
    fig.add_argument("--batch-size", type=int, default=32, help="batch size (default: 32)")
    fig.add_argument("--out", default="figures", help="output folder (default: ./figures)")
    fig.add_argument("--seed", type=int, default=0)
    fig.set_defaults(func=cmd_figures)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (CliError, ValueError) as err:
        print(f"vizlab {args.command}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"vizlab {args.command}: interrupted", file=sys.stderr)
        return 130


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def cmd_info(args: argparse.Namespace) -> int:
    import torch

    from vizlab.data import available
    from vizlab.device import configure_threads, describe_device, resolve_device, usable_cpus

    configure_threads()
    device = resolve_device("auto")
    lines = [
        f"vizlab        {_version('vizlab')}",
        f"python        {platform.python_version()} ({platform.system()} {platform.machine()})",
        f"device        {describe_device(device)}",
        f"usable CPUs   {usable_cpus()}",
        f"cuda          {'yes: ' + torch.version.cuda if torch.cuda.is_available() else 'no'}",
    ]
    for dist in (
        "torch",
        "numpy",
        "matplotlib",
        "scikit-learn",
        "ipywidgets",
        "jupyterlab",
        "voila",
    ):
        lines.append(f"{dist:<13} {_version(dist)}")
    lines.append("datasets:")
    for name, status in available(root=args.root).items():
        lines.append(f"  {name:<14} {'available' if status is True else status}")
    print("\n".join(lines))
    return 0


def _notebooks_dir() -> Path:
    for candidate in (REPO_ROOT / "notebooks", Path.cwd() / "notebooks"):
        if candidate.is_dir():
            return candidate
    raise CliError("no notebooks folder found: run this from a vizlab checkout")


def cmd_lab(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("jupyterlab") is None:
        raise CliError("JupyterLab is not installed: pip install 'vizlab[ui]' (or run make lab)")
    folder = _notebooks_dir()
    notebook = folder / args.notebook
    if not notebook.exists():
        names = ", ".join(sorted(p.name for p in folder.glob("*.ipynb")))
        raise CliError(f"no notebook {args.notebook!r} in {folder}; choose one of: {names}")
    cmd = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={folder}", str(notebook)]
    if args.port:
        cmd.append(f"--port={args.port}")
    if args.no_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers often run as root; Jupyter refuses otherwise
    return subprocess.call(cmd)


def cmd_app(args: argparse.Namespace) -> int:
    apps = sorted(p.stem for p in (REPO_ROOT / "widgets" / "apps").glob("*.ipynb"))
    if args.topic not in apps:
        have = ", ".join(apps) if apps else "none yet"
        raise CliError(f"unknown app topic {args.topic!r}; available: {have}")
    if shutil.which("voila") is None and importlib.util.find_spec("voila") is None:
        raise CliError("Voila is not installed: pip install 'vizlab[ui]'")
    cmd = [
        sys.executable,
        "-m",
        "voila",
        str(REPO_ROOT / "widgets" / "apps" / f"{args.topic}.ipynb"),
    ]
    if args.port:
        cmd.append(f"--port={args.port}")
    return subprocess.call(cmd)


def cmd_figures(args: argparse.Namespace) -> int:
    from vizlab.figures import write_figures

    if args.topic != "curves":
        raise CliError(f"unknown topic {args.topic!r}; available: curves")
    out = Path(args.out)
    start = time.perf_counter()
    paths = write_figures(
        out,
        data=args.data,
        device=args.device,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        progress=_progress_bar,
    )
    print(file=sys.stderr)
    for path in paths:
        print(os.fspath(path))
    print(f"done in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


def _progress_bar(done: float, text: str) -> None:
    """One ``\\r``-updated line on stderr: ``[#####.....]  50%  epoch 2/3  loss 0.41``."""
    width = 30
    filled = int(round(done * width))
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done:4.0%}  {text:<40}")
    sys.stderr.flush()
