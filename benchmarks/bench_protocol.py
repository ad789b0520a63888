r"""Time the experiment protocol: complete fits, a scaled run, and the paper's full study.

The full study is the paper's 4 methods x 10 repeats x 5 rotations = 200 fits of 10,000
epochs on a 20,000-row, 9-feature data set: the built-in
:func:`astra_np.study.datasets.make_imbalanced` (34 positives, IR 587), by default with
heavy-tailed features (``--heavy-tails 0.02``: outliers tens of standard deviations out,
as in real sensor and count data; ``--heavy-tails 0`` gives the plain Gaussian data of
``python -m astra_np experiment``). Target: <= 6 minutes on 2 cores with ``--workers 2``.

1. **Complete fits** (always): one fit of ``--fit-epochs`` (10,000) epochs per method on
   a stratified 60/20 train/validation split standardised on the training rows, as one
   fold of the protocol: wall time, ms per epoch and the epochs off the fused path. Late
   training is where pre-activations grow on heavy-tailed data, so this is measured,
   not extrapolated.
2. **Scaled run**: one repeat (20 fits) through
   :func:`astra_np.study.protocol.run_experiment` (process pool, store, report included)
   at ``E`` and ``2E`` epochs; the fit ``T(E) = a + s E`` gives the fixed cost per
   repeat ``a`` and the cost ``s`` per epoch; the full study is estimated as
   ``10 (a + 10000 s)``. The complete fits of step 1 show whether ``s`` holds late.
3. ``--full`` runs the whole study once and reports its measured time.

Usage::

    python benchmarks/bench_protocol.py [--epochs 300] [--workers 2] [--heavy-tails 0.02] [--full]
"""
import argparse
import os
import resource
import shutil
import sys
import tempfile
import time

import numpy as np

from astra_np.core import registry
from astra_np.learn.train import train
from astra_np.study.datasets import make_imbalanced
from astra_np.study.protocol import METHOD_ORDER, run_experiment

TARGET_SECONDS = 6 * 60
FULL_EPOCHS = 10000
FULL_REPEATS = 10


def _cpu_seconds():
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        ru = resource.getrusage(who)
        total += ru.ru_utime + ru.ru_stime
    return total


def _timed_run(X, y, out, repeats, epochs, workers):
    r"""Wall-clock and CPU seconds (this process and its reaped workers) of one protocol run."""
    shutil.rmtree(out, ignore_errors=True)
    c0, t0 = _cpu_seconds(), time.perf_counter()
    result = run_experiment(X, y, out, dataset="bench", repeats=repeats, epochs=epochs,
                            workers=workers, progress=False, report=False)
    elapsed, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
    if not result.complete:
        raise RuntimeError("benchmark run did not complete")
    return elapsed, cpu


def complete_fits(X, y, epochs, seed=0):
    r"""One complete fit per method on a stratified 60/20 split, standardised on the training rows."""
    rng = np.random.default_rng(seed)
    tr, va = [], []
    for cls in (0, 1):
        rows = rng.permutation(np.flatnonzero(y == cls))
        k = int(round(0.6 * rows.size))
        tr.append(rows[:k])
        va.append(rows[k:k + max(1, int(round(0.2 * rows.size)))])
    tr, va = np.concatenate(tr), np.concatenate(va)
    mean, std = X[tr].mean(axis=0), X[tr].std(axis=0)
    Xs = (X - mean) / std
    print(f"complete fits: {tr.size} training rows ({int(y[tr].sum())} positive), {va.size} validation rows, "
          f"largest |feature| {np.max(np.abs(Xs[tr])):.0f}; {epochs} epochs each")
    for m in registry.methods():
        t0 = time.perf_counter()
        r = train(Xs[tr], y[tr], Xs[va], y[va], method=m.name, epochs=epochs, random_state=seed)
        wall = time.perf_counter() - t0
        print(f"  {m.name:<10} wall {wall:7.2f} s, {1e3 * wall / epochs:6.3f} ms/epoch, "
              f"{r.epochs_off_fused_path} epochs off the fused path", flush=True)


def scaled_estimate(X, y, e1, workers, tmp):
    e2 = 2 * e1
    t1, c1 = _timed_run(X, y, os.path.join(tmp, "a"), 1, e1, workers)
    t2, c2 = _timed_run(X, y, os.path.join(tmp, "b"), 1, e2, workers)
    fits = 5 * len(METHOD_ORDER)  # run_experiment's default methods: the paper's four
    print(f"1 repeat ({fits} fits), {e1:>5} epochs: wall {t1:8.2f} s, CPU {c1:8.2f} s")
    print(f"1 repeat ({fits} fits), {e2:>5} epochs: wall {t2:8.2f} s, CPU {c2:8.2f} s")
    for label, u1, u2, div in (("wall clock", t1, t2, 1), ("CPU / workers", c1, c2, workers)):
        s = (u2 - u1) / (e2 - e1) / div
        a = max(u1 / div - s * e1, 0.0)
        full_est = FULL_REPEATS * (a + FULL_EPOCHS * s)
        verdict = "meets" if full_est <= TARGET_SECONDS else "MISSES"
        print(f"[{label}] fixed cost per repeat {a:.2f} s, {1e3 * s * workers / fits:.3f} ms "
              f"per fit-epoch per worker; full study ~ {full_est:7.1f} s = {full_est / 60:.1f} min "
              f"({verdict} the {TARGET_SECONDS // 60}-minute target)")
    print("(the CPU-based figure is what an otherwise idle machine gives; the wall-clock one includes any "
          f"other load: os.getloadavg() = {', '.join(f'{v:.2f}' for v in os.getloadavg())})")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=300, help="E of the scaled runs (default 300; 0 skips them)")
    p.add_argument("--fit-epochs", type=int, default=FULL_EPOCHS, help="epochs of the complete fits (0 skips)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--heavy-tails", type=float, default=0.02, help="make_imbalanced(heavy_tails=...)")
    p.add_argument("--full", action="store_true", help="also run and time the full study")
    args = p.parse_args(argv)
    X, y = make_imbalanced(heavy_tails=args.heavy_tails)
    print(f"data: make_imbalanced(heavy_tails={args.heavy_tails}), {X.shape[0]} rows x {X.shape[1]} features, "
          f"{int(y.sum())} positives; workers={args.workers}; cpus={os.cpu_count()}")
    if args.fit_epochs:
        complete_fits(X, y, args.fit_epochs)
    tmp = tempfile.mkdtemp(prefix="astra_np_bench_")
    try:
        if args.epochs:
            scaled_estimate(X, y, args.epochs, args.workers, tmp)
        if args.full:
            tf, cf_ = _timed_run(X, y, os.path.join(tmp, "full"), FULL_REPEATS, FULL_EPOCHS, args.workers)
            verdict = "meets" if tf <= TARGET_SECONDS else "MISSES"
            print(f"measured full study: wall {tf:8.1f} s = {tf / 60:.1f} min ({verdict} the target), "
                  f"CPU {cf_:.1f} s; load average {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
