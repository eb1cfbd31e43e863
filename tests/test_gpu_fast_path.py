"""The fast path of ``fit``: amp / channels_last / compile choices, checked against the plain
float32 path as the oracle. The CUDA tests (no host sync in a watched step, CPU == CUDA within
tolerance) run only where a GPU exists."""

from __future__ import annotations

import pytest
import torch
from small_data import digits_dataset
from torch import nn

from vizlab.data.dataset import Dataset
from vizlab.probes import watch
from vizlab.train import fit
from vizlab.train.accel import resolve_amp, resolve_channels_last

CPU = torch.device("cpu")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def digits(n_train=256, n_val=64, n_test=64, **kw) -> Dataset:
    return digits_dataset(n_train, n_val, n_test, **kw)


def cnn(seed=0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )


FIT = {"epochs": 2, "batch_size": 32, "lr": 3e-3, "device": "cpu"}


def test_auto_choices_on_cpu_and_bad_values_are_refused():
    assert resolve_amp("auto", CPU) is None  # bf16 is slower than fp32 on most CPUs
    assert resolve_amp(None, CPU) is None
    assert resolve_amp("bf16", CPU) is torch.bfloat16
    assert resolve_channels_last("auto", CPU) is True  # measured faster on x86 CPUs
    assert resolve_channels_last(False, CPU) is False
    assert resolve_channels_last("auto", torch.device("mps")) is False
    with pytest.raises(ValueError, match="amp must be 'auto', 'bf16' or None"):
        fit(cnn(), digits(), amp="fp16", **FIT)
    with pytest.raises(ValueError, match="channels_last must be 'auto', True or False"):
        fit(cnn(), digits(), channels_last="yes", **FIT)


def test_history_config_records_what_was_used():
    h = fit(cnn(), digits(), **FIT)
    assert (h.config["amp"], h.config["channels_last"], h.config["compile"]) == (None, True, False)
    h = fit(cnn(), digits(n_train=64), amp="bf16", channels_last=False, **{**FIT, "epochs": 1})
    assert (h.config["amp"], h.config["channels_last"]) == ("bfloat16", False)


def test_channels_last_computes_what_the_default_layout_computes():
    plain = fit(cnn(), digits(), channels_last=False, **FIT)
    model = cnn()
    fast = fit(model, digits(), channels_last=True, **FIT)
    conv = model[4].weight  # (16, 8, 3, 3): with 8 input channels the layouts differ
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    torch.testing.assert_close(fast.loss, plain.loss, rtol=1e-4, atol=1e-5)
    # The validation loss, not the accuracy: the layouts sum in different orders, and an
    # example whose two best logits nearly tie may flip its argmax (seen: 2 of 64).
    torch.testing.assert_close(fast.val_loss, plain.val_loss, rtol=1e-3, atol=1e-4)


def test_bf16_autocast_trains_and_keeps_parameters_and_norm_statistics_in_float32():
    plain = fit(cnn(), digits(), **FIT)
    model = cnn()
    h = fit(model, digits(), amp="bf16", **FIT)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert model[1].running_mean.dtype == model[1].running_var.dtype == torch.float32
    assert not h.diverged and h.loss[-1] < h.loss[0]
    # bf16 keeps ~3 significant digits: the first loss (same weights, same batch) agrees.
    assert h.loss[0] == pytest.approx(plain.loss[0], rel=2e-2)


def test_compile_is_refused_with_a_probe_and_for_an_unknown_backend():
    model = cnn()
    with pytest.raises(ValueError, match="compile cannot be combined with watch"):
        fit(model, digits(), compile=True, watch=watch(model), **FIT)
    with pytest.raises(ValueError, match="unknown torch.compile backend 'no-such'"):
        fit(cnn(), digits(), compile="no-such", **FIT)
    with pytest.raises(TypeError, match="compile must be a bool or a torch.compile backend"):
        fit(cnn(), digits(), compile=1.5, **FIT)


def test_compiled_forward_matches_the_eager_one():
    torch._dynamo.reset()
    plain = fit(cnn(), digits(), **{**FIT, "epochs": 1})
    compiled = fit(cnn(), digits(), compile="eager", **{**FIT, "epochs": 1})
    torch.testing.assert_close(compiled.loss, plain.loss, rtol=1e-5, atol=1e-6)
    torch._dynamo.reset()


class _SyncGuard:
    """Turns CUDA sync detection to "error" for steps ``start < step <= end``."""

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end, self.guarded = start, end, 0

    def on_step(self, state) -> None:
        if state.step == self.start:
            torch.cuda.set_sync_debug_mode("error")
        elif state.step == self.end:
            torch.cuda.set_sync_debug_mode(0)
        elif self.start < state.step < self.end:
            self.guarded += 1

    def on_fit_end(self, state) -> None:
        torch.cuda.set_sync_debug_mode(0)


@pytest.mark.gpu
@needs_cuda
def test_a_watched_cuda_step_never_waits_for_the_host():
    model = cnn()
    guard = _SyncGuard(start=3, end=15)  # steady state: after warm-up, inside epoch 1
    try:
        h = fit(
            model, digits(n_train=640), epochs=1, batch_size=32, device="cuda", log_every=1000,
            watch=watch(model, every=10), callbacks=[guard],
        )  # fmt: skip
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert guard.guarded == 11 and not h.diverged and len(h.loss) == 20


@pytest.mark.gpu
@needs_cuda
def test_cuda_results_match_the_cpu_path_within_tolerance():
    kwargs = {"epochs": 1, "batch_size": 32, "lr": 3e-3}
    cpu = fit(cnn(), digits(), device="cpu", **kwargs)
    exact = fit(cnn(), digits(), device="cuda", amp=None, channels_last=False, **kwargs)
    fast = fit(cnn(), digits(), device="cuda", **kwargs)  # bf16 + channels_last
    assert exact.loss[0] == pytest.approx(cpu.loss[0], rel=1e-3)  # TF32 convs: ~1e-3
    assert fast.loss[0] == pytest.approx(cpu.loss[0], rel=2e-2)  # bf16: ~3 digits
    assert exact.train_loss[-1] == pytest.approx(cpu.train_loss[-1], rel=5e-2)
    assert fast.train_loss[-1] == pytest.approx(cpu.train_loss[-1], rel=1e-1)
