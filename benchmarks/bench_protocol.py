r"""Time the experiment protocol and extrapolate to the paper's full study.

The full study is 4 methods x 10 repeats x 5 rotations = 200 fits of 10,000 epochs on
a 20,000-row, 9-feature data set (the built-in :func:`astra_np.study.datasets.make_imbalanced`
default: 34 positives, IR 587). Target: <= 15 minutes on 2 cores with ``--workers 2``.

Scaled run (default): one repeat (20 fits) at two epoch counts ``E`` and ``2E``, timed
end to end through :func:`astra_np.study.protocol.run_experiment` (process pool, store,
report included). The fit ``T(E) = a + s E`` gives the fixed cost per repeat ``a``
(pool start-up, splitting, standardising, prediction, writing) and the cost ``s`` per
epoch of a repeat; the full study is estimated as ``10 (a + 10000 s)``.

``--full`` runs the whole study once and reports its measured time.

Usage::

    python benchmarks/bench_protocol.py [--epochs 300] [--workers 2] [--full]
"""
import argparse
import os
import resource
import shutil
import sys
import tempfile
import time

from astra_np.study.datasets import make_imbalanced
from astra_np.study.protocol import run_experiment

TARGET_SECONDS = 15 * 60
FULL_EPOCHS = 10000
FULL_REPEATS = 10


def _cpu_seconds():
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        ru = resource.getrusage(who)
        total += ru.ru_utime + ru.ru_stime
    return total


def _timed_run(X, y, out, repeats, epochs, workers):
    r"""Wall-clock and CPU seconds (this process and its reaped workers) of one run."""
    shutil.rmtree(out, ignore_errors=True)
    c0, t0 = _cpu_seconds(), time.perf_counter()
    result = run_experiment(X, y, out, dataset="bench", repeats=repeats, epochs=epochs,
                            workers=workers, progress=False, report=False)
    elapsed, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
    if not result.complete:
        raise RuntimeError("benchmark run did not complete")
    return elapsed, cpu


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=300, help="E of the scaled runs (default 300)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--full", action="store_true", help="also run and time the full study")
    args = p.parse_args(argv)
    X, y = make_imbalanced()
    print(f"data: make_imbalanced(), {X.shape[0]} rows x {X.shape[1]} features, "
          f"{int(y.sum())} positives; workers={args.workers}; cpus={os.cpu_count()}")
    tmp = tempfile.mkdtemp(prefix="astra_np_bench_")
    try:
        e1, e2 = args.epochs, 2 * args.epochs
        t1, c1 = _timed_run(X, y, os.path.join(tmp, "a"), 1, e1, args.workers)
        t2, c2 = _timed_run(X, y, os.path.join(tmp, "b"), 1, e2, args.workers)
        fits = 20
        print(f"1 repeat (20 fits), {e1:>5} epochs: wall {t1:8.2f} s, CPU {c1:8.2f} s")
        print(f"1 repeat (20 fits), {e2:>5} epochs: wall {t2:8.2f} s, CPU {c2:8.2f} s")
        for label, u1, u2, div in (("wall clock", t1, t2, 1), ("CPU / workers", c1, c2, args.workers)):
            s = (u2 - u1) / (e2 - e1) / div
            a = max(u1 / div - s * e1, 0.0)
            full_est = FULL_REPEATS * (a + FULL_EPOCHS * s)
            verdict = "meets" if full_est <= TARGET_SECONDS else "MISSES"
            print(f"[{label}] fixed cost per repeat {a:.2f} s, {1e3 * s * args.workers / fits:.3f} ms "
                  f"per fit-epoch per worker; full study (200 fits x {FULL_EPOCHS} epochs) "
                  f"~ {full_est:7.1f} s = {full_est / 60:.1f} min ({verdict} the "
                  f"{TARGET_SECONDS // 60}-minute target)")
        print("(the CPU-based figure is what an otherwise idle machine gives; the wall-clock one "
              "includes any other load: os.getloadavg() = "
              f"{', '.join(f'{v:.2f}' for v in os.getloadavg())})")
        if args.full:
            tf, cf_ = _timed_run(X, y, os.path.join(tmp, "full"), FULL_REPEATS, FULL_EPOCHS, args.workers)
            verdict = "meets" if tf <= TARGET_SECONDS else "MISSES"
            print(f"measured full study: wall {tf:8.1f} s = {tf / 60:.1f} min ({verdict} the target), "
                  f"CPU {cf_:.1f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
