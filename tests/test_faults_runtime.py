"""Fault suite, runtime: divergence, stop and restart, corrupt or hostile files, atomic saves.

What is injected, and what must hold afterwards:

- divergence: a learning rate that blows up. The run is marked diverged at the step it
  happened; every step before it is kept, finite; the plots and live views draw the NaN.
- stop and restart: 50 rapid control changes (stop the run, start another) leave exactly
  one ``vizlab-run`` thread and, once that one stops too, no hook on any model and flat
  memory. A stop that lands in the middle of a step (during the forward or the backward)
  leaves the model bit for bit equal to an uninterrupted run of the same number of steps.
- files: truncated, wrong magic, absurd header sizes (refused before any large allocation),
  hostile pickles (never executed: a marker file they would create never appears).
- saves: a failure in the middle of an atomic write leaves the old file intact and no
  temporary file behind; nothing in vizlab writes a file any other way.
"""

from __future__ import annotations

import gc
import gzip
import math
import os
import pickle
import re
import struct
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from data_fixtures import (
    cifar_arrays,
    cifar_binary_bytes,
    cifar_pickle_bytes,
    idx_bytes,
    make_cifar,
    make_mnist,
)
from small_data import digits_dataset
from torch import nn

import vizlab.io as vio
from vizlab import models as M
from vizlab import plots as P
from vizlab.data import load
from vizlab.data.dataset import DatasetError
from vizlab.probes import watch
from vizlab.train import Run, fit

pytestmark = pytest.mark.usefixtures("one_thread")

ROOT = Path(__file__).resolve().parents[1]
DATA = digits_dataset(96, 32, 32)


def small_cnn() -> nn.Module:
    """A conv net with batch norm, dropout and a residual block: every probe kind fires."""
    return M.vgg(1, 1, 4, in_channels=1, input_size=8, norm="batch", dropout=0.1, residual=True)


def hooks_left(model: nn.Module) -> list[str]:
    """Every hook still registered on the model's modules and parameters."""
    left = []
    for name, m in model.named_modules():
        for attr in (
            "_forward_hooks",
            "_forward_pre_hooks",
            "_backward_hooks",
            "_backward_pre_hooks",
            "_state_dict_hooks",
            "_load_state_dict_pre_hooks",
        ):
            if getattr(m, attr, None):
                left.append(f"{name or '<root>'}.{attr}")
    for name, p in model.named_parameters():
        if p._post_accumulate_grad_hooks or p._backward_hooks:
            left.append(f"{name} tensor hook")
    return left


def run_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "vizlab-run" and t.is_alive()]


def finite(model: nn.Module) -> bool:
    return all(
        bool(torch.isfinite(t).all()) for t in model.state_dict().values() if t.is_floating_point()
    )


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan  # pragma: no cover - not Linux


# ---- divergence -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def diverged():
    model = small_cnn()
    w = watch(model, every=1)
    with w:
        history = fit(
            model, DATA, epochs=3, batch_size=16, optimizer="sgd", lr=1e3, device="cpu", watch=w
        )
    return history, w


def test_huge_lr_marks_the_step_and_keeps_everything_before(diverged):
    history, w = diverged
    assert history.diverged and history.diverged_step is not None and history.diverged_step > 1
    k = history.diverged_step
    assert history.steps == list(range(1, k)), "steps before the divergence were lost"
    assert len(history.loss) == k - 1 and all(math.isfinite(v) for v in history.loss)
    steps = sorted({r[0] for r in w.records()})
    # Watch steps count forwards before the one recorded: the diverged forward is k - 1.
    assert steps[0] == 0 and steps[-1] <= k - 1 and set(range(k - 1)) <= set(steps)
    assert not w.attached and history.test_acc is None
    snap = history.snapshot()
    assert len(snap["steps"]) == len(snap["loss"]) == k - 1
    assert history.as_dict()["diverged_step"] == k


def nan_records(records):
    """The records with every third numeric value replaced by NaN, +inf or -inf."""
    bad = [math.nan, math.inf, -math.inf]
    out = []
    for i, (step, layer, kind, stat, value) in enumerate(records):
        if stat.endswith("hist_range"):
            pass  # fixed at the first sampled step, before anything can diverge
        elif isinstance(value, float) and i % 3 == 0:
            value = bad[(i // 3) % 3]
        elif isinstance(value, np.ndarray) and value.dtype.kind == "f" and i % 3 == 0:
            value = value.copy()
            value.flat[0] = math.nan
        out.append((step, layer, kind, stat, value))
    return out


def test_plots_draw_nan_and_inf(diverged):
    history, w = diverged
    records = nan_records(w.records())
    hist = history.snapshot() | {
        "epochs": [1, 2, 3],
        "train_loss": [1.0, math.nan, math.inf],
        "val_loss": [math.nan, 2.0, math.nan],
        "train_acc": [0.1, math.nan, 0.2],
        "val_acc": [math.nan] * 3,
        "best_epoch": None,
    }
    hist["loss"] = [*hist["loss"], math.nan, math.inf]
    hist["steps"] = [*hist["steps"], len(hist["steps"]) + 1, len(hist["steps"]) + 2]
    figures = [
        P.curves(history),
        P.curves(hist),
        P.grad_flow(records),
        P.activation_hist(records),
        P.residual_split(records),
        P.norm_stats(records),
        P.weight_hist(records),
    ]
    for fig in figures:
        assert fig.axes
    for view in (
        P.LiveGradFlow(),
        P.LiveWeightNorms(),
        P.LiveActivationHist(),
        P.LiveResidualSplit(),
        P.LiveNormStats(),
        P.LiveDropoutMask(),
    ):
        view.update(records)
        view.update(records)  # the same rows again: nothing breaks
        assert view.png()[:8] == b"\x89PNG\r\n\x1a\n"
    curves = P.LiveCurves()
    curves.update(hist)
    assert curves.png()[:4] == b"\x89PNG"
    board = P.Dashboard()
    board.update(records, history=hist)
    assert board.png()[:4] == b"\x89PNG"


def test_a_watch_on_an_already_diverged_model_still_draws():
    """A panel restarted on a model whose weights are NaN: the first sample is all NaN."""
    model = small_cnn()
    with torch.no_grad():
        model.get_submodule("features.block1.residual.branch.conv1.conv").weight.fill_(math.nan)
    with watch(model, every=1) as w:
        h = fit(model, DATA, epochs=1, batch_size=16, device="cpu", watch=w)
    assert h.diverged and h.diverged_step == 1 and h.steps == [] and h.loss == []
    records = w.records()
    ranges = [r.value for r in records if r.stat.endswith("hist_range")]
    assert ranges and all(np.isfinite(v).all() for v in ranges)
    for fig in (P.curves(h), P.activation_hist(records), P.grad_flow(records)):
        assert fig.axes
    view = P.LiveActivationHist()
    view.update(records)
    assert view.png()[:4] == b"\x89PNG"


def test_a_diverged_background_run_keeps_its_history():
    run = Run(
        fit, small_cnn(), DATA, epochs=3, batch_size=16, optimizer="sgd", lr=1e3, device="cpu"
    )
    run.start()
    assert run.join(60) and run.status == "diverged" and run.error is None
    k = run.history.diverged_step
    assert run.history.steps == list(range(1, k))


# ---- stop and restart -------------------------------------------------------------------------
def start(model, data=DATA, w=None, **kw):
    kw = {"epochs": 200, "batch_size": 8, "device": "cpu", **kw}
    return Run(fit, model, data, watch=w, **kw).start()


def check_stopped(run: Run, model: nn.Module, w) -> None:
    """A stopped run: finished, no hook left, finite weights, consistent records."""
    assert run.join(10), "a stopped run did not end within 10 s"
    assert run.status in ("stopped", "done") and run.error is None, run.traceback
    assert not hooks_left(model) or (w is not None and w.attached)
    assert finite(model)
    h = run.history
    if h is not None:  # None when the stop came before the fit started
        n = len(h.steps)
        assert h.steps == list(range(1, n + 1)) and len(h.loss) == n
        assert all(math.isfinite(v) for v in h.loss)
        if w is not None:
            steps = [r[0] for r in w.records()]
            assert not steps or max(steps) <= max(n, w.step)


def test_50_rapid_restarts_leave_one_thread_no_hooks_flat_memory():
    """A panel whose controls change 50 times: stop the run, start a new one, each time."""
    assert not run_threads()
    rng = np.random.default_rng(0)
    model = small_cnn()
    run = w = None
    rss = []
    for i in range(50):
        if run is not None:
            run.stop()
            check_stopped(run, model, None)
            assert not w.attached, "the watch of a stopped run is still attached"
        w = watch(model, every=1)
        run = start(model, w=w)
        time.sleep(float(rng.uniform(0, 0.03)))  # stops land before, during and between steps
        if i in (10, 49):
            gc.collect()
            rss.append(rss_mib())
    assert len(run_threads()) == 1
    run.stop()
    check_stopped(run, model, None)
    assert not run_threads() and not hooks_left(model) and not w.attached
    assert rss[-1] - rss[0] < 64, f"RSS grew {rss[-1] - rss[0]:.0f} MiB over 40 restarts"


def test_restarts_without_waiting_still_end_with_one_thread():
    """Each change builds a fresh model and starts at once, not waiting for the old run."""
    runs, models = [], []
    for _ in range(20):
        if runs:
            runs[-1].stop()
        model = small_cnn()
        models.append(model)
        runs.append(start(model, w=watch(model, every=2)))
    for run in runs[:-1]:
        assert run.join(10)
    assert len(run_threads()) == 1 and runs[-1].running
    runs[-1].stop()
    assert runs[-1].join(10) and not run_threads()
    for run, model in zip(runs, models):
        assert run.error is None and not hooks_left(model) and finite(model)


class StopInside(nn.Module):
    """Wraps a model and sets ``stop`` inside the forward (or the backward) of step ``at``."""

    def __init__(self, inner: nn.Module, stop: threading.Event, at: int, where: str) -> None:
        super().__init__()
        self.inner, self.stop, self.at, self.where, self.calls = inner, stop, at, where, 0

    def forward(self, x):
        if self.training:
            self.calls += 1
        out = self.inner(x)
        if self.training and self.calls == self.at:
            if self.where == "forward":
                self.stop.set()
            elif out.requires_grad:
                out.register_hook(lambda g: self.stop.set())
        return out


def reference(steps: int) -> nn.Module:
    """The same model trained by an uninterrupted loop for exactly ``steps`` steps."""
    torch.manual_seed(0)
    model = small_cnn()
    stop = threading.Event()

    class At:
        def on_step(self, state):
            if state.step == steps:
                stop.set()

    fit(model, DATA, epochs=3, batch_size=16, device="cpu", stop=stop, callbacks=[At()])
    return model


@pytest.mark.parametrize("where", ["forward", "backward"])
@pytest.mark.parametrize("at", [1, 5, 6])  # 6 = the last step of epoch 1
def test_a_stop_in_the_middle_of_a_step_finishes_that_step_cleanly(where, at):
    torch.manual_seed(0)
    inner = small_cnn()
    stop = threading.Event()
    model = StopInside(inner, stop, at, where)
    with watch(inner, every=1) as w:
        h = fit(model, DATA, epochs=3, batch_size=16, device="cpu", stop=stop, watch=w)
    assert h.stopped and not h.diverged and h.steps == list(range(1, at + 1))
    assert len(h.loss) == at and all(math.isfinite(v) for v in h.loss)
    assert w.step == at and max(r[0] for r in w.records()) == at - 1
    ref = reference(at)
    for (name, a), b in zip(inner.state_dict().items(), ref.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs from {at} uninterrupted steps"
    assert not hooks_left(inner)


def test_a_stop_from_another_thread_at_random_times_never_corrupts():
    rng = np.random.default_rng(1)
    for _ in range(6):
        torch.manual_seed(0)
        model = small_cnn()
        run = Run(fit, model, DATA, epochs=3, batch_size=16, device="cpu").start()
        time.sleep(float(rng.uniform(0, 0.2)))
        run.stop()
        check_stopped(run, model, None)
        if run.history is None or run.status == "done":
            continue
        n = len(run.history.steps)
        ref = reference(n)
        assert all(
            torch.equal(a, b)
            for a, b in zip(model.state_dict().values(), ref.state_dict().values())
        )


# ---- files ---------------------------------------------------------------------------------------
IMAGES = "train-images-idx3-ubyte"
LABELS = "train-labels-idx1-ubyte"
HINT = "download=True"


def header(magic: int, *dims: int) -> bytes:
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims)


def mnist_with(tmp_path: Path, stem: str, data: bytes, *, gz: bool = False) -> Path:
    folder = tmp_path / "mnist"
    make_mnist(folder, n_train=12, n_test=4)
    (folder / stem).unlink()
    path = folder / (stem + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def good_images(n: int = 12) -> bytes:
    return idx_bytes(np.zeros((n, 28, 28), np.uint8))


ABSURD = header(0x803, 2**31, 28, 28) + bytes(100)  # claims 2**31 images, holds 100 bytes
RAW, GZ = False, True

IDX_FAULTS = {
    "truncated-images": (IMAGES, lambda: good_images()[:-100], RAW, "truncated"),
    "truncated-images-gz": (IMAGES, lambda: good_images()[:-100], GZ, "truncated"),
    "empty-file": (IMAGES, lambda: b"", RAW, "file too short"),
    "header-cut": (IMAGES, lambda: header(0x803, 12), RAW, "ends inside its IDX image header"),
    "wrong-magic": (IMAGES, lambda: header(0x801, 12, 28, 28) + bytes(9408), RAW, "0x00000801"),
    "labels-as-images": (LABELS, lambda: good_images(), RAW, "not an IDX label file"),
    "wrong-image-size": (IMAGES, lambda: idx_bytes(np.zeros((12, 32, 32))), RAW, "(28, 28)"),
    "absurd-count": (IMAGES, lambda: ABSURD, RAW, "corrupt"),
    "absurd-count-gz": (IMAGES, lambda: ABSURD, GZ, "gzip file can hold"),
    "absurd-dims": (IMAGES, lambda: header(0x803, 2**32 - 1, 28, 28), RAW, "corrupt"),
    "extra-bytes-gz": (IMAGES, lambda: good_images() + b"junk", GZ, "longer than its header"),
    "extra-bytes": (IMAGES, lambda: good_images() + b"junk", RAW, "truncated or corrupt"),
    "label-out-of-range": (LABELS, lambda: idx_bytes(np.full(12, 200)), RAW, "label 200"),
    "count-mismatch": (LABELS, lambda: idx_bytes(np.zeros(7)), RAW, "do not belong together"),
    "not-gzip": (IMAGES, lambda: b"\x1f\x8b\x08garbage" * 10, None, "could not be read"),
}


@pytest.mark.parametrize("fault", list(IDX_FAULTS))
def test_bad_idx_files_are_refused_without_a_giant_allocation(fault, tmp_path):
    stem, make, gz, words = IDX_FAULTS[fault]
    if gz is None:  # raw garbage under a .gz name
        path = mnist_with(tmp_path, stem, b"")
        path.unlink()
        path = path.with_name(stem + ".gz")
        path.write_bytes(make())
    else:
        path = mnist_with(tmp_path, stem, make(), gz=gz)
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError) as info:
            load("mnist", root=tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    msg = str(info.value)
    assert str(path) in msg and words in msg and HINT in msg
    assert peak < 32 * 2**20, f"{peak / 2**20:.0f} MiB allocated before refusing {fault}"


def cifar_folder(tmp_path: Path, *, binary: bool) -> Path:
    folder = tmp_path / ("cifar-10-batches-bin" if binary else "cifar-10-batches-py")
    make_cifar(folder, binary=binary, per_batch=4, n_test=3)
    return folder


class Evil:
    """A pickle payload: unpickling it calls ``fn(*args)``, which would create the marker."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def evil_payloads(marker: Path) -> dict[str, object]:
    import builtins
    import subprocess

    return {
        "open": Evil(builtins.open, str(marker), "w"),
        "os.system": Evil(os.system, f"touch {marker}"),
        "eval": Evil(builtins.eval, f"open({str(marker)!r}, 'w')"),
        "exec": Evil(builtins.exec, f"open({str(marker)!r}, 'w')"),
        "subprocess": Evil(subprocess.call, ["touch", str(marker)]),
        "path-touch": Evil(Path.touch, marker),
    }


@pytest.mark.parametrize("where", ["whole-file", "inside-the-batch-dict", "meta-file"])
@pytest.mark.parametrize(
    "payload", ["open", "os.system", "eval", "exec", "subprocess", "path-touch"]
)
def test_a_malicious_pickle_is_never_executed(payload, where, tmp_path):
    folder = cifar_folder(tmp_path, binary=False)
    marker = tmp_path / "pwned"
    evil = evil_payloads(marker)[payload]
    if where == "whole-file":
        target, blob = folder / "data_batch_1", pickle.dumps(evil, protocol=2)
    elif where == "inside-the-batch-dict":
        data, labels = cifar_arrays(4, 1)
        batch = {b"data": data, b"labels": [int(v) for v in labels], b"filenames": evil}
        target, blob = folder / "data_batch_1", pickle.dumps(batch, protocol=2)
    else:
        meta = {b"label_names": evil}
        target, blob = folder / "batches.meta", pickle.dumps(meta, protocol=2)
    target.write_bytes(blob)
    with pytest.raises(DatasetError) as info:
        load("cifar10", root=tmp_path)
    assert not marker.exists(), "the pickle ran code"
    msg = str(info.value)
    assert "disallowed" in msg and "refusing to load it" in msg and str(target) in msg


def batch(data: np.ndarray, labels: list) -> bytes:
    return pickle.dumps({b"data": data, b"labels": labels}, protocol=2)


def u8(n: int, width: int = 3072) -> np.ndarray:
    return np.zeros((n, width), np.uint8)


GOOD_BINARY = cifar_binary_bytes(*cifar_arrays(4, 1))
GOOD_PICKLE = cifar_pickle_bytes(*cifar_arrays(4, 1))
BAD_CODEC = b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x04\x00\x00\x00zlib\x86R."
BIN, PY = "data_batch_1.bin", "data_batch_1"

CIFAR_FAULTS = {
    "binary-truncated": (True, BIN, lambda: GOOD_BINARY[:-10], "3073-byte"),
    "binary-empty": (True, BIN, lambda: b"", "3073-byte"),
    "binary-label-byte": (True, "test_batch.bin", lambda: b"\xc8" + bytes(3072), "label byte 200"),
    "binary-meta-names": (True, "batches.meta.txt", lambda: b"cat\ndog\nbird\n", "lists 3 names"),
    "pickle-truncated": (False, PY, lambda: GOOD_PICKLE[:200], "not a valid pickle"),
    "pickle-garbage": (False, PY, lambda: b"\x00not a pickle at all", "not a valid pickle"),
    "pickle-not-a-dict": (False, PY, lambda: pickle.dumps([1, 2], protocol=2), "expected a dict"),
    "pickle-float-data": (False, PY, lambda: batch(u8(4).astype(np.float32), [0] * 4), "uint8"),
    "pickle-wrong-width": (False, PY, lambda: batch(u8(4, 100), [0] * 4), "(N, 3072)"),
    "pickle-label-range": (False, PY, lambda: batch(u8(4), [0, 1, 2, 99]), "0..9"),
    "pickle-label-count": (False, PY, lambda: batch(u8(4), [0]), "4 ints"),
    "pickle-bad-codec": (False, PY, lambda: BAD_CODEC, "disallowed codec"),
}


@pytest.mark.parametrize("fault", list(CIFAR_FAULTS))
def test_bad_cifar_files_are_refused(fault, tmp_path):
    binary, name, make, words = CIFAR_FAULTS[fault]
    folder = cifar_folder(tmp_path, binary=binary)
    (folder / name).write_bytes(make())
    with pytest.raises(DatasetError) as info:
        load("cifar10", root=tmp_path)
    msg = str(info.value)
    assert words in msg and str(folder) in msg


def test_a_pickled_array_with_an_absurd_shape_is_refused_cheaply(tmp_path):
    """An ndarray state claiming 2**30 rows but carrying 8 bytes allocates nothing big."""
    folder = cifar_folder(tmp_path, binary=False)
    real = pickle.dumps({b"data": np.zeros((1, 8), np.uint8), b"labels": [0]}, protocol=2)
    # The array state holds its shape as two ints; make the row count absurd.
    absurd = real.replace(b"K\x01K\x08\x86", b"J\x00\x00\x00\x40K\x08\x86")
    assert absurd != real
    (folder / "data_batch_1").write_bytes(absurd)
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError):
            load("cifar10", root=tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2**20


# ---- atomic saves ----------------------------------------------------------------------------
WRITERS = {
    "bytes": lambda path: vio.atomic_write_bytes(path, b"new" * 1000),
    "text": lambda path: vio.atomic_write_text(path, "new text"),
    "json": lambda path: vio.atomic_write_json(path, {"loss": [1.0, math.nan]}),
}


def _fail(*args, **kwargs):
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize("kind", list(WRITERS))
@pytest.mark.parametrize("failure", ["replace", "fsync", "write", "interrupt"])
def test_a_failed_save_keeps_the_old_file_and_leaves_no_temp(kind, failure, tmp_path, monkeypatch):
    path = tmp_path / "out" / "figure.bin"
    path.parent.mkdir()
    path.write_bytes(b"old contents")

    if failure == "replace":
        monkeypatch.setattr(vio.os, "replace", _fail)
    elif failure == "fsync":
        monkeypatch.setattr(vio.os, "fsync", _fail)
    elif failure == "interrupt":

        def interrupt(*args):
            raise KeyboardInterrupt

        monkeypatch.setattr(vio.os, "fsync", interrupt)
    else:
        real_fdopen = os.fdopen

        class HalfWriter:
            """Writes half of the data, then fails like a full disk."""

            def __init__(self, f):
                self.f = f

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

            def write(self, data):
                self.f.write(data[: len(data) // 2])
                self.f.flush()
                _fail()

            def __getattr__(self, name):
                return getattr(self.f, name)

        monkeypatch.setattr(vio.os, "fdopen", lambda fd, mode: HalfWriter(real_fdopen(fd, mode)))
    expected = KeyboardInterrupt if failure == "interrupt" else OSError
    with pytest.raises(expected):
        WRITERS[kind](path)
    assert path.read_bytes() == b"old contents"
    assert sorted(p.name for p in path.parent.iterdir()) == ["figure.bin"]


def test_json_saves_are_valid_json_even_with_nan(tmp_path):
    import json

    path = vio.atomic_write_json(tmp_path / "a.json", {"x": [math.nan, math.inf, 1.0]})
    assert json.loads(path.read_text()) == {"x": [None, None, 1.0]}


WRITE_CALLS = re.compile(
    r"\.write_(bytes|text)\(|\bopen\([^)]*['\"][wax]b?\+?['\"]|torch\.save\(|np\.save|"
    r"json\.dump\(|pickle\.dump\(|savefig\((?!buf\b)"
)
ALLOWED = {"vizlab/io.py", "vizlab/data/download.py"}  # both write via temp file + os.replace


def test_nothing_in_vizlab_writes_a_file_non_atomically():
    offenders = []
    for path in sorted((ROOT / "vizlab").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in ALLOWED:
            continue
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if WRITE_CALLS.search(code) and '"""' not in line and "``" not in line:
                offenders.append(f"{rel}:{no}: {line.strip()}")
    assert not offenders, "write these through vizlab.io:\n" + "\n".join(offenders)


def test_checkpoint_loads_use_weights_only():
    """vizlab saves no pickled checkpoints; any torch.load must pass weights_only=True."""
    for path in sorted((ROOT / "vizlab").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, f"{path}: {call}"
