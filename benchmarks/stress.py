"""Stress and fault injection: does vizlab hold when a classroom throws everything at it?

Runs, in one process, and writes one table to ``benchmarks/RESULTS.md``:

1. the bad-input tables of ``tests/test_faults_inputs.py`` (every public entry point but the
   CLI, which needs pytest's capture): every case must raise its specific exception;
2. the corrupt and hostile files of ``tests/test_faults_runtime.py`` (IDX, CIFAR binary and
   pickle, malicious pickles), each loaded under ``tracemalloc`` to show that nothing large
   is allocated before the file is refused, and that no pickle ever runs code;
3. failures injected in the middle of atomic saves (the old file must survive);
4. a learning rate that blows up (the steps before must be kept, the plots must draw);
5. stops landing inside a training step (the weights must equal an uninterrupted run);
6. 50 rapid stop/restart cycles of a watched background ``Run``: exactly one thread left,
   no hook on the model, RSS growth;
7. 100,000 watched training steps of a tiny MLP in a hand-written loop: the watch's record
   count must stay bounded (older points thinned), and memory with it.

Memory is read from ``/proc/self/status``: ``VmRSS`` (now) and ``VmHWM`` (peak; reset before
each phase through ``/proc/self/clear_refs`` where the kernel allows it).

Run: ``python benchmarks/stress.py`` (a few minutes on an idle 2-core CPU);
``--steps`` and ``--restarts`` shrink it, ``--no-write`` leaves RESULTS.md alone.
"""

from __future__ import annotations

import argparse
import gc
import math
import pickle
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
import test_faults_inputs as inputs  # noqa: E402
import test_faults_runtime as runtime  # noqa: E402
from results import machine_info, write_section  # noqa: E402

from vizlab import models as M  # noqa: E402
from vizlab import plots as P  # noqa: E402
from vizlab.data import load  # noqa: E402
from vizlab.data.dataset import DatasetError  # noqa: E402
from vizlab.probes import watch  # noqa: E402
from vizlab.train import Run, fit  # noqa: E402

TITLE = "Fault suite and stress (reliability)"


# ---- memory ---------------------------------------------------------------------------------
def status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return math.nan


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class Phase:
    """Times a phase and reads its peak RSS; ``lost`` says what was lost (must be nothing)."""

    rows: list[dict] = []
    peak_resets = True

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> Phase:
        gc.collect()
        Phase.peak_resets &= reset_peak()
        self.rss0 = status_mib("VmRSS")
        self.t0 = time.perf_counter()
        print(f"-- {self.name}", flush=True)
        return self

    def done(self, tried: str, faults: str, lost: str, ok: bool, **extra) -> None:
        row = dict(
            phase=self.name,
            tried=tried,
            faults=faults,
            lost=lost,
            ok=ok,
            seconds=time.perf_counter() - self.t0,
            peak=status_mib("VmHWM"),
            rss0=self.rss0,
            rss1=status_mib("VmRSS"),
            **extra,
        )
        Phase.rows.append(row)
        print(f"   {'OK' if ok else 'FAILED'}: {tried}; {faults}; lost: {lost}", flush=True)

    def __exit__(self, *exc) -> None:
        return None


# ---- 1. bad inputs ---------------------------------------------------------------------------
def bad_inputs() -> None:
    tables = {
        "data.load": inputs.DATA,
        "models": inputs.MODEL_CASES,
        "nn": inputs.NN_CASES,
        "augment": inputs.AUG_CASES,
        "fit": inputs.FIT_CASES,
        "sweep": inputs.SWEEP_CASES,
        "watch": inputs.WATCH_CASES,
        "Run/experiments": inputs.RUN_CASES,
    }
    with Phase("bad input on every entry point") as phase:
        failed, kinds = [], {}
        for cases in tables.values():
            for case in cases:
                try:
                    inputs.check(case)
                    kinds[case.exc.__name__] = kinds.get(case.exc.__name__, 0) + 1
                except BaseException as err:  # noqa: BLE001 - report, do not stop
                    failed.append(f"{case.id}: {err!r}"[:200])
        total = sum(len(c) for c in tables.values())
        refused = total - len(failed)
        by_kind = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        per = ", ".join(f"{name} {len(c)}" for name, c in tables.items())
        n_cli = len(inputs.CLI_CASES) + len(inputs.ARGPARSE_CASES)
        phase.done(
            f"{total} bad inputs ({per}; plus {n_cli} CLI cases in the tests)",
            f"{refused} refused with a specific exception naming the value and the fix ({by_kind})",
            "nothing (refused before any training step)" if not failed else "; ".join(failed),
            not failed,
        )


# ---- 2. files -----------------------------------------------------------------------------------
def _load_refused(name: str, root: Path) -> tuple[bool, int]:
    """(refused with DatasetError, peak bytes traced while trying)."""
    tracemalloc.start()
    try:
        load(name, root=root)
        refused = False
    except DatasetError:
        refused = True
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return refused, peak


def bad_files() -> None:
    with Phase("corrupt and hostile files") as phase, tempfile.TemporaryDirectory() as tmp:
        base, failed, peaks, ran = Path(tmp), [], [], []
        for i, (fault, (stem, make, gz, _)) in enumerate(runtime.IDX_FAULTS.items()):
            root = base / f"idx{i}"
            if gz is None:
                path = runtime.mnist_with(root, stem, b"")
                path.unlink()
                path.with_name(stem + ".gz").write_bytes(make())
            else:
                runtime.mnist_with(root, stem, make(), gz=gz)
            refused, peak = _load_refused("mnist", root)
            peaks.append(peak)
            if not refused:
                failed.append(f"IDX {fault} loaded")
        for i, (fault, (binary, name, make, _)) in enumerate(runtime.CIFAR_FAULTS.items()):
            root = base / f"cifar{i}"
            folder = runtime.cifar_folder(root, binary=binary)
            (folder / name).write_bytes(make())
            refused, peak = _load_refused("cifar10", root)
            peaks.append(peak)
            if not refused:
                failed.append(f"CIFAR {fault} loaded")
        n_evil = 0
        for i, payload in enumerate(runtime.evil_payloads(base / "x")):
            for j, where in enumerate(("data_batch_1", "batches.meta")):
                root = base / f"evil{i}_{j}"
                folder = runtime.cifar_folder(root, binary=False)
                marker = root / "pwned"
                evil = runtime.evil_payloads(marker)[payload]
                obj = evil if where == "data_batch_1" else {b"label_names": evil}
                (folder / where).write_bytes(pickle.dumps(obj, protocol=2))
                refused, peak = _load_refused("cifar10", root)
                peaks.append(peak)
                n_evil += 1
                if not refused or marker.exists():
                    failed.append(f"pickle {payload} in {where}: ran={marker.exists()}")
                ran.append(marker.exists())
        n_idx, n_cifar = len(runtime.IDX_FAULTS), len(runtime.CIFAR_FAULTS)
        phase.done(
            f"{n_idx + n_cifar + n_evil} files: {n_idx} IDX (truncated, wrong magic, header "
            f"claiming 2**31 images, ...), {n_cifar} CIFAR binary/pickle, {n_evil} malicious "
            "pickles (open, os.system, eval, exec, subprocess, Path.touch)",
            f"all refused with DatasetError; {sum(ran)} pickles executed; largest allocation "
            f"before refusing: {max(peaks) / 2**20:.2f} MiB",
            "nothing (no pickle ran code, no giant allocation)"
            if not failed
            else "; ".join(failed),
            not failed,
        )


# ---- 3. atomic saves ------------------------------------------------------------------------
def atomic_saves() -> None:
    import vizlab.io as vio

    failures = {
        "os.replace raises": ("replace", OSError(28, "No space left on device")),
        "os.fsync raises": ("fsync", OSError(5, "I/O error")),
        "interrupt during fsync": ("fsync", KeyboardInterrupt()),
    }
    with Phase("failures in the middle of a save") as phase, tempfile.TemporaryDirectory() as tmp:
        failed, n = [], 0
        for label, (name, exc) in failures.items():
            for kind, writer in runtime.WRITERS.items():
                path = Path(tmp) / f"{kind}-{name}.out"
                path.write_bytes(b"old contents")
                original = getattr(vio.os, name)

                def boom(*args, _exc=exc):
                    raise _exc

                setattr(vio.os, name, boom)
                try:
                    writer(path)
                    failed.append(f"{label}/{kind}: no error")
                except BaseException:  # noqa: BLE001 - the injected failure
                    pass
                finally:
                    setattr(vio.os, name, original)
                n += 1
                left = sorted(p.name for p in Path(tmp).iterdir() if p.name.startswith("."))
                if path.read_bytes() != b"old contents" or left:
                    failed.append(f"{label}/{kind}: old file damaged or temp left {left}")
        phase.done(
            f"{n} saves (bytes, text, JSON)",
            f"{len(failures)} failure kinds injected mid-write ({', '.join(failures)})",
            "nothing (old file intact, no temporary file left)"
            if not failed
            else "; ".join(failed),
            not failed,
        )


# ---- 4. divergence -------------------------------------------------------------------------
def divergence() -> None:
    with Phase("learning rate that blows up") as phase:
        model = runtime.small_cnn()
        with watch(model, every=1) as w:
            h = fit(
                model,
                runtime.DATA,
                epochs=3,
                batch_size=16,
                optimizer="sgd",
                lr=1e3,
                device="cpu",
                watch=w,
            )
        k = h.diverged_step
        kept = h.steps == list(range(1, k)) and all(math.isfinite(v) for v in h.loss)
        records = runtime.nan_records(w.records())
        figs = [
            P.curves(h),
            P.grad_flow(records),
            P.activation_hist(records),
            P.weight_hist(records),
            P.norm_stats(records),
        ]
        board = P.Dashboard()
        board.update(records, history=h.snapshot())
        drew = all(f.axes for f in figs) and board.png()[:4] == b"\x89PNG"
        ok = h.diverged and kept and drew
        phase.done(
            "SGD lr=1e3 on a watched VGG (batch norm, dropout, residual), digits",
            f"diverged at step {k}; NaN/inf injected into 1/3 of {len(records)} records; "
            "5 plot builders and the live dashboard drew them",
            f"nothing: steps 1..{k - 1} kept finite, {len(w.records())} records kept",
            ok,
        )


# ---- 5. stop inside a step -------------------------------------------------------------------
def stop_mid_step() -> None:
    with Phase("stop inside a training step") as phase:
        failed, n = [], 0
        for where in ("forward", "backward"):
            for at in (3, 6):
                torch.manual_seed(0)
                inner = runtime.small_cnn()
                stop = threading.Event()
                model = runtime.StopInside(inner, stop, at, where)
                h = fit(model, runtime.DATA, epochs=3, batch_size=16, device="cpu", stop=stop)
                ref = runtime.reference(at)
                same = all(
                    torch.equal(a, b)
                    for a, b in zip(inner.state_dict().values(), ref.state_dict().values())
                )
                n += 1
                if not (same and h.steps == list(range(1, at + 1)) and h.stopped):
                    failed.append(f"{where}@{at}")
        phase.done(
            f"{n} stops set inside the forward or the backward of steps 3 and 6 (the last "
            "of an epoch); more in the tests",
            "stop event set mid-step",
            "nothing: weights bit for bit equal to an uninterrupted run of the same steps"
            if not failed
            else "differs: " + ", ".join(failed),
            not failed,
        )


# ---- 6. rapid restarts ---------------------------------------------------------------------
def restarts(cycles: int) -> None:
    with Phase(f"{cycles} rapid stop/restart cycles") as phase:
        rng = np.random.default_rng(0)
        model = runtime.small_cnn()
        run = w = None
        rss, errors, steps = [], 0, 0
        for i in range(cycles):
            if run is not None:
                run.stop()
                run.join(10)
                errors += run.error is not None or not run.finished.is_set()
                steps += len(run.history.steps) if run.history is not None else 0
            w = watch(model, every=1)
            run = Run(fit, model, runtime.DATA, epochs=200, batch_size=8, device="cpu", watch=w)
            run.start()
            time.sleep(float(rng.uniform(0, 0.03)))
            if i == min(4, cycles - 1) or i == cycles - 1:
                gc.collect()
                rss.append(status_mib("VmRSS"))
        threads = len(runtime.run_threads())
        run.stop()
        run.join(10)
        hooks = runtime.hooks_left(model)
        finite = runtime.finite(model)
        growth = rss[-1] - rss[0]
        ok = threads == 1 and not runtime.run_threads() and not hooks and finite and not errors
        phase.done(
            f"{cycles} control changes on a watched background Run (stop, then start anew "
            f"after 0-30 ms; {steps} steps trained in all)",
            "stop landing before, inside and between steps",
            f"nothing: {threads} vizlab-run thread alive before the final stop, 0 after; "
            f"{len(hooks)} hooks left; weights finite; {errors} errors; RSS growth from "
            f"cycle 5 to {cycles}: {growth:+.1f} MiB",
            ok,
            growth=growth,
        )


# ---- 7. long watched run ---------------------------------------------------------------------
def long_run(steps: int, every: int, max_points: int = 1000) -> None:
    with Phase(f"{steps:,} watched steps") as phase:
        torch.manual_seed(0)
        model = M.mlp([16, 32, 4], norm="batch", dropout=0.1)
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        x = torch.rand(256, 16)
        y = (x[:, :4].argmax(dim=1)).long()
        marks = sorted({max(1, steps * k // 10) for k in range(1, 11)})
        trace = []  # (step, records, RSS MiB)
        t0, cpu0 = time.perf_counter(), time.process_time()
        with watch(model, every=every, max_points=max_points) as w:
            for step in range(1, steps + 1):
                i = (step * 8) % 256
                loss = F.cross_entropy(model(x[i : i + 8]), y[i : i + 8])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if step in marks:
                    trace.append((step, len(w.records()), status_mib("VmRSS")))
                    print(
                        f"   step {step:,}: {trace[-1][1]:,} records, RSS {trace[-1][2]:.0f} MiB",
                        flush=True,
                    )
            thinned = [r for r in w.records() if r[2] == "meta"]
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        counts = [c for _, c, _ in trace]
        half = len(trace) // 2
        # Each series keeps at most max_points points: the records can never exceed the
        # count per sampled step (read at the first mark) times max_points, however long.
        per_sample = counts[0] / (trace[0][0] // every + 1)
        bound = per_sample * max_points * 1.05
        bounded = max(counts) <= bound
        rss_growth = trace[-1][2] - trace[half - 1][2] if half else 0.0
        phase.done(
            f"{steps:,} SGD steps of an MLP (batch norm, dropout) in a hand-written loop, "
            f"watch every={every}, all kinds, max_points={max_points}; "
            f"{seconds / steps * 1e3:.2f} ms/step wall, {cpu / steps * 1e3:.2f} ms CPU",
            "an unbounded stream of records",
            f"nothing silently: records {counts[0]:,} at step {trace[0][0]:,}, max "
            f"{max(counts):,} (bound {bound:,.0f}), {counts[-1]:,} at the end (older points "
            f"thinned, {len(thinned)} thinning rows); RSS growth over the second half "
            f"{rss_growth:+.1f} MiB",
            bounded and w.step == steps,
            trace=trace,
        )


# ---- report ----------------------------------------------------------------------------------
def report(args) -> str:
    lines = [
        "Written by `benchmarks/stress.py`; the same faults run as tests in "
        "`tests/test_faults_inputs.py` and `tests/test_faults_runtime.py`. Peak memory is "
        "the process's VmHWM at the end of each phase"
        + (
            " (reset at the start of each phase)"
            if Phase.peak_resets
            else " (never reset: a running maximum over the phases)"
        )
        + f". Steps: {args.steps:,}, restarts: {args.restarts}"
        + (" (reduced run)" if args.reduced else "")
        + ".",
        "",
        "| phase | inputs tried | faults injected | what was lost | held | peak RSS (MiB) | s |",
        "|---|---|---|---|---|---:|---:|",
    ]
    for r in Phase.rows:
        lines.append(
            f"| {r['phase']} | {r['tried']} | {r['faults']} | {r['lost']} | "
            f"{'yes' if r['ok'] else '**NO**'} | {r['peak']:.0f} | {r['seconds']:.1f} |"
        )
    long = next((r for r in Phase.rows if "trace" in r), None)
    if long:
        lines += [
            "",
            "Records and RSS along the long run:",
            "",
            "| step | records | RSS (MiB) |",
            "|---:|---:|---:|",
        ]
        lines += [f"| {s:,} | {c:,} | {m:.0f} |" for s, c, m in long["trace"]]
    lines += ["", machine_info()]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--restarts", type=int, default=50)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    args.reduced = args.steps < 100_000 or args.restarts < 50
    torch.set_num_threads(1)
    bad_inputs()
    bad_files()
    atomic_saves()
    divergence()
    stop_mid_step()
    restarts(args.restarts)
    torch.set_num_threads(1)  # fit picks its own thread count; the long loop uses one
    long_run(args.steps, args.every)
    text = report(args)
    print(text)
    if not args.no_write:
        write_section(TITLE, text)
    return 0 if all(r["ok"] for r in Phase.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
