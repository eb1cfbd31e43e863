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
    app.add_argument("--no-browser", action="store_true", help="do not open a browser")
    app.add_argument(
        "--ip", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine)"
    )
    app.set_defaults(func=cmd_app)

    fig = sub.add_parser(
        "figures", help="train headless and write figures (PNG) and numbers (JSON)"
    )
    fig.add_argument(
        "--topic",
        action="append",
        help="an experiment topic; repeat for several (default: all; see --list)",
    )
    fig.add_argument("--list", action="store_true", help="list the topics and exit")
    fig.add_argument("--scale", choices=("quick", "full"), default="quick")
    fig.add_argument("--data", help="dataset name for every topic (default: each topic's own)")
    fig.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: auto)")
    fig.add_argument("--out", default="figures", help="output folder (default: ./figures)")
    fig.add_argument("--seed", type=int, default=0)
    fig.add_argument("--force", action="store_true", help="rerun topics already written")
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


def _serve(cmd: list[str]) -> int:
    """Hand over to a server (JupyterLab, Voila). On POSIX this process *becomes* the server,
    so Ctrl-C and a terminating parent reach it directly and no orphan keeps the port."""
    if os.name == "posix":
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(cmd[0], cmd)
    return subprocess.call(cmd)


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
    return _serve(cmd)


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
        f"--Voila.ip={args.ip}",
        # one kernel per visitor, started fresh on each page load (a reload gets a new panel)
        "--theme=light",
    ]
    if args.port:
        cmd.append(f"--port={args.port}")
    if args.no_browser:
        cmd.append("--no-browser")
    return _serve(cmd)


def cmd_figures(args: argparse.Namespace) -> int:
    from vizlab.data import names as data_names
    from vizlab.device import resolve_device
    from vizlab.experiments import TOPICS
    from vizlab.figures import write_figures

    if args.list:
        for name, topic in TOPICS.items():
            print(f"{name:<24} {', '.join(topic.rows):<28} {topic.title}")
        return 0
    unknown = [t for t in args.topic or () if t not in TOPICS]
    if unknown:
        raise CliError(f"unknown topic {unknown[0]!r}; available: {', '.join(TOPICS)}")
    if args.data is not None and args.data not in data_names():
        raise CliError(f"unknown dataset {args.data!r}; choose one of: {', '.join(data_names())}")
    try:  # a bad --device fails now, not after the first topic has loaded its data
        resolve_device(args.device)
    except ValueError as err:
        raise CliError(str(err)) from None
    out = Path(args.out)
    start = time.perf_counter()
    paths = write_figures(
        out,
        topics=args.topic,
        scale=args.scale,
        data=args.data,
        device=args.device,
        seed=args.seed,
        force=args.force,
        progress=_progress_bar,
    )
    print(file=sys.stderr)
    for path in paths:
        print(os.fspath(path))
    print(
        f"done in {time.perf_counter() - start:.1f} s; open {out / 'index.html'}", file=sys.stderr
    )
    return 0


def _progress_bar(done: float, text: str) -> None:
    """One ``\\r``-updated line on stderr: ``[#####.....]  50%  epoch 2/3  loss 0.41``."""
    width = 30
    filled = int(round(done * width))
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done:4.0%}  {text:<40}")
    sys.stderr.flush()
