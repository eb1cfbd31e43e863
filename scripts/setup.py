#!/usr/bin/env python3
"""Set up vizlab from nothing: a virtual environment, the right PyTorch build, the project.

Why a script and not just ``pip install -e .``: on Linux, PyPI's default ``torch`` wheel is
the CUDA build and drags several GB of NVIDIA libraries along, which a laptop without an
NVIDIA GPU never uses. So PyTorch is installed *first*, choosing the build for this machine,
and the project afterwards (its ``torch>=...`` requirement is then already met).

How the build is chosen (first match wins):

1. A torch that meets the requirement is already importable in the environment: keep it.
2. ``VIZLAB_TORCH`` is set: its words are passed to ``pip install`` as they are, e.g.
   ``VIZLAB_TORCH="torch==2.5.1 --index-url https://download.pytorch.org/whl/cu124"``.
3. An NVIDIA driver is present: PyPI's default (CUDA) build.
4. No NVIDIA GPU: the pinned version (``VIZLAB_TORCH_PIN``, default 2.13.0) when pip resolves
   it without NVIDIA packages (a local CPU wheel, macOS, Windows); otherwise the same version
   from PyTorch's CPU-only index.

Only the standard library is used, so this runs on a bare ``python3``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import venv
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PIN = "2.13.0"
MIN_TORCH = (2, 3)
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
GPU_PACKAGE_PREFIXES = ("nvidia-", "triton", "cuda-")


@dataclass
class TorchPlan:
    """What to ask pip for, and why (printed so a user can see the choice)."""

    args: list[str]
    reason: str
    check_cpu_only: bool = False
    fallback: list[str] | None = None


def choose_torch_plan(
    *, env: dict[str, str], has_nvidia: bool, system: str, pin: str = DEFAULT_PIN
) -> TorchPlan:
    """Decide how to install torch on this machine (pure: unit-tested without pip)."""
    custom = env.get("VIZLAB_TORCH", "").split()
    if custom:
        return TorchPlan(custom, "VIZLAB_TORCH is set")
    pin = env.get("VIZLAB_TORCH_PIN", pin)
    if has_nvidia:
        return TorchPlan(
            [f"torch>={MIN_TORCH[0]}.{MIN_TORCH[1]}"], "NVIDIA driver found: CUDA build"
        )
    if system != "Linux":
        return TorchPlan([f"torch=={pin}"], f"{system}: PyPI's build has no CUDA libraries")
    return TorchPlan(
        [f"torch=={pin}"],
        "no NVIDIA GPU: CPU build",
        check_cpu_only=True,
        fallback=[f"torch=={pin}", "--index-url", CPU_INDEX],
    )


def has_nvidia_driver() -> bool:
    return shutil.which("nvidia-smi") is not None or Path("/proc/driver/nvidia").exists()


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def venv_python(venv_dir: Path) -> Path:
    sub = "Scripts" if os.name == "nt" else "bin"
    exe = "python.exe" if os.name == "nt" else "python"
    return venv_dir / sub / exe


def ensure_venv(venv_dir: Path) -> Path:
    py = venv_python(venv_dir)
    if not py.exists():
        print(f"creating a virtual environment in {venv_dir.name}/", flush=True)
        try:
            venv.EnvBuilder(with_pip=True).create(venv_dir)
        except (OSError, subprocess.CalledProcessError) as err:
            sys.exit(
                f"could not create a virtual environment ({err}). On Debian/Ubuntu install "
                "python3-venv first: sudo apt-get install python3-venv"
            )
    return py


def torch_ok(py: Path) -> bool:
    code = (
        "import sys, torch\n"
        "v = tuple(int(p) for p in torch.__version__.split('+')[0].split('.')[:2])\n"
        f"sys.exit(0 if v >= {MIN_TORCH!r} else 1)\n"
    )
    return subprocess.run([str(py), "-c", code], capture_output=True).returncode == 0


def pulls_gpu_packages(py: Path, args: list[str]) -> bool:
    """Ask pip (dry run, no install) whether ``args`` would bring NVIDIA packages along."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [str(py), "-m", "pip", "install", "--dry-run", "--quiet", "--report", str(report)]
        proc = subprocess.run(cmd + args, capture_output=True, text=True)
        if proc.returncode != 0 or not report.exists():
            return True  # unknown: prefer the CPU index
        names = [i["metadata"]["name"].lower() for i in json.loads(report.read_text())["install"]]
    return any(n.startswith(GPU_PACKAGE_PREFIXES) for n in names)


def install_torch(py: Path) -> None:
    if torch_ok(py):
        print("torch is already installed: keeping it", flush=True)
        return
    plan = choose_torch_plan(
        env=dict(os.environ), has_nvidia=has_nvidia_driver(), system=platform.system()
    )
    print(f"installing PyTorch ({plan.reason})", flush=True)
    args = plan.args
    if plan.check_cpu_only and pulls_gpu_packages(py, args):
        print("the default build would pull CUDA libraries: using PyTorch's CPU index", flush=True)
        args = plan.fallback or args
    run([str(py), "-m", "pip", "install", *args])


def project_stamp(extras: str) -> str:
    h = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    h.update(extras.encode())
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--venv", default=str(ROOT / ".venv"), help="where the environment lives")
    parser.add_argument("--extras", default="ui,dev", help="optional dependency groups")
    args = parser.parse_args(argv)
    venv_dir = Path(args.venv)
    py = ensure_venv(venv_dir)
    stamp_file = venv_dir / ".vizlab-setup"
    stamp = project_stamp(args.extras)
    if stamp_file.exists() and stamp_file.read_text() == stamp and torch_ok(py):
        print("vizlab environment is up to date", flush=True)
        return 0
    install_torch(py)
    target = f"{ROOT}[{args.extras}]" if args.extras else str(ROOT)
    run([str(py), "-m", "pip", "install", "--quiet", "-e", target])
    stamp_file.write_text(stamp)
    print(f"ready: {venv_python(venv_dir)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
