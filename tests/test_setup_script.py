"""The set-up script picks a PyTorch build that fits the machine (decision logic only)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("vizlab_setup", ROOT / "scripts" / "setup.py")
setup = importlib.util.module_from_spec(spec)
sys.modules["vizlab_setup"] = setup  # dataclasses look their module up there
spec.loader.exec_module(setup)


def test_cpu_linux_uses_the_pin_and_checks_for_cuda_packages():
    plan = setup.choose_torch_plan(env={}, has_nvidia=False, system="Linux")
    assert plan.args == [f"torch=={setup.DEFAULT_PIN}"]
    assert plan.check_cpu_only
    assert plan.fallback[-2:] == ["--index-url", setup.CPU_INDEX]


def test_nvidia_machine_takes_the_cuda_build():
    plan = setup.choose_torch_plan(env={}, has_nvidia=True, system="Linux")
    assert plan.args[0].startswith("torch>=") and not plan.check_cpu_only


def test_user_choice_wins():
    env = {"VIZLAB_TORCH": "torch==2.5.1 --index-url https://example.invalid/cu124"}
    plan = setup.choose_torch_plan(env=env, has_nvidia=False, system="Linux")
    assert plan.args == ["torch==2.5.1", "--index-url", "https://example.invalid/cu124"]


def test_pin_can_be_overridden_and_mac_needs_no_index():
    plan = setup.choose_torch_plan(
        env={"VIZLAB_TORCH_PIN": "2.6.0"}, has_nvidia=False, system="Darwin"
    )
    assert plan.args == ["torch==2.6.0"] and not plan.check_cpu_only


def test_project_pins_no_cuda_only_dependency():
    text = (ROOT / "pyproject.toml").read_text()
    assert "nvidia" not in text and "torchvision" not in text
