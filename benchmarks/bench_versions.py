r"""Time one repeat of the protocol for several checkouts of astra_np, interleaved.

A full-study time in minutes depends on the machine's speed at the hour it is measured
(on a shared 2-core VM it has moved by up to 2x between days). This script measures
against a baseline run back to back instead: each ``--run CHECKOUT:HEAVY_TAILS`` entry
is one repeat of the protocol (the paper's 4 methods x 5 rotations = 20 fits of
``--epochs`` epochs, ``--workers`` processes) on the built-in 20,000 x 9 data
(``make_imbalanced(heavy_tails=HEAVY_TAILS)``; ``0`` is the plain Gaussian data, the only
kind older checkouts have), timed in a fresh interpreter importing ``CHECKOUT``. The
entries run in turn, ``--rounds`` times; the table gives each entry's seconds per repeat
and its total over the rounds divided by the first entry's (``ratio``). A full study is
10 repeats.

Example (the kernel of 28 Nov 2026, whose full Gaussian study took 5 min 2 s that day,
against this checkout on heavy-tailed and Gaussian data)::

    git worktree add /tmp/w/old 8b5b27e
    python benchmarks/bench_versions.py --run /tmp/w/old:0 --run .:0.02 --run .:0

Checkouts are printed as absolute paths.
"""
import argparse
import os
import subprocess
import sys

from astra_np.cli._args import fraction, positive_int

_ONE_REPEAT = r"""
import os, resource, shutil, sys, tempfile, time
checkout, heavy, epochs, workers = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sys.path.insert(0, checkout)
import astra_np
if not os.path.realpath(astra_np.__file__).startswith(os.path.realpath(checkout) + os.sep):
    sys.exit(f"imported {astra_np.__file__}, not the checkout {checkout}")
try:
    from astra_np.study.datasets import make_imbalanced
    from astra_np.study.protocol import run_experiment
except ImportError:  # the flat layout of earlier versions
    from astra_np.datasets import make_imbalanced
    from astra_np.protocol import run_experiment
if heavy and "heavy_tails" not in make_imbalanced.__code__.co_varnames:
    sys.exit(f"{checkout} has no heavy-tailed data (make_imbalanced(heavy_tails=...)); use :0")
X, y = make_imbalanced(heavy_tails=heavy) if heavy else make_imbalanced()
out = tempfile.mkdtemp(prefix="astra_np_versions_")
def cpu():
    return sum(getattr(resource.getrusage(w), a) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for a in ("ru_utime", "ru_stime"))
c0, t0 = cpu(), time.perf_counter()
try:
    r = run_experiment(X, y, os.path.join(out, "run"), dataset="bench", repeats=1, epochs=epochs,
                       workers=workers, progress=False, report=False)
finally:
    wall, used = time.perf_counter() - t0, cpu() - c0
    shutil.rmtree(out, ignore_errors=True)
if not r.complete:
    sys.exit("the repeat did not complete")
print(wall, used)
"""


def _entry(text):
    checkout, sep, heavy = text.rpartition(":")
    if not sep or not checkout:
        raise argparse.ArgumentTypeError(f"expected CHECKOUT:HEAVY_TAILS, got {text!r}")
    if not os.path.isdir(os.path.join(checkout, "astra_np")):
        raise argparse.ArgumentTypeError(f"{checkout!r} is not a checkout of astra_np (no astra_np/ in it)")
    try:
        value = fraction(heavy)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"HEAVY_TAILS: {exc}") from None
    return os.path.abspath(checkout), value


def one_repeat(checkout, heavy, epochs, workers):
    r"""``(wall, cpu)`` seconds of one repeat in a fresh interpreter importing ``checkout``."""
    done = subprocess.run([sys.executable, "-c", _ONE_REPEAT, checkout, repr(heavy), str(epochs), str(workers)],
                          capture_output=True, text=True, check=False, env={**os.environ, "PYTHONPATH": ""})
    if done.returncode:
        raise SystemExit(f"{checkout}:{heavy}: {done.stderr.strip().splitlines()[-1] if done.stderr else done.returncode}")
    wall, cpu = map(float, done.stdout.split()[-2:])
    return wall, cpu


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=_entry, action="append", required=True, metavar="CHECKOUT:HEAVY_TAILS",
                   help="a checkout of astra_np and the heavy_tails of its data (repeatable; the first is the baseline)")
    p.add_argument("--rounds", type=positive_int, default=3, help="times each entry runs, interleaved (default 3)")
    p.add_argument("--epochs", type=positive_int, default=10000, help="epochs of every fit (default 10,000)")
    p.add_argument("--workers", type=positive_int, default=2)
    args = p.parse_args(argv)
    walls = [[] for _ in args.run]
    for rnd in range(args.rounds):
        for i, (checkout, heavy) in enumerate(args.run):
            wall, cpu = one_repeat(checkout, heavy, args.epochs, args.workers)
            walls[i].append(wall)
            print(f"round {rnd + 1}: {checkout}:{heavy:g}  wall {wall:7.1f} s  CPU {cpu:7.1f} s  "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)
    base = sum(walls[0])
    print(f"\none repeat = 20 fits x {args.epochs} epochs, --workers {args.workers}; "
          f"ratio = total wall over the rounds / the first entry's")
    for (checkout, heavy), w in zip(args.run, walls):
        runs = ", ".join(f"{v:.1f}" for v in w)
        print(f"{checkout}:{heavy:g}  s per repeat: {runs}  ratio {sum(w) / base:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
