r"""``python -m astra_np gradcheck``: print the gradient self-certification table.

Every public derivative of astra_np is compared with complex-step derivatives of the
complex-safe forward forms (:mod:`astra_np.check._complex`) over bulk and tails (``x``
in ``[-1e4, 1e4]``, ``b`` in ``[1, 1000]``, ``p`` down to ``1e-300`` and up to
``1 - 1e-16``), then a subsample with ``mpmath.diff`` and the 60-digit closed forms of
:mod:`astra_np.check.reference`, and the bulk with finite differences; the rows are built
in :mod:`astra_np.check.certify` and checked by :mod:`astra_np.check.gradcheck`. Runs
under ``numpy.errstate(over/divide/invalid="raise")``: a floating-point warning is a
failure.
"""
import sys
import time

import numpy as np

from ..check.certify import certification_rows, has_mpmath, short_reference
from ..core._validation import SIZE_LIMITS
from . import _args

__all__ = ["main", "build_parser"]


def build_parser():
    r"""The ``argparse`` parser of the ``gradcheck`` command."""
    parser = _args.ArgumentParser(
        prog="python -m astra_np gradcheck",
        description="Check every public derivative of astra_np against complex-step, "
        "mpmath and finite-difference references, over bulk and tails.",
    )
    parser.add_argument("--points", type=_args.size("points"), default=2000,
                        help=f"points per elementwise derivative (default 2000, at most {SIZE_LIMITS['points']})")
    parser.add_argument("--draws", type=_args.size("draws"), default=8,
                        help="random draws of 40 examples for the losses and the head (default 8, at "
                             f"most {SIZE_LIMITS['draws']})")
    parser.add_argument("--mp-points", type=_args.size("mp_points", 0), default=40,
                        help=f"points checked against mpmath (default 40, 0 to skip, at most {SIZE_LIMITS['mp_points']})")
    parser.add_argument("--no-fd", action="store_true", help="skip the finite-difference row")
    parser.add_argument("--seed", type=_args.seed, default=0, help="random seed, an integer >= 0 (default 0)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print the full report of every row")
    return parser


def _run_rows(args):
    with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        rows = certification_rows(args.points, args.seed, args.draws, args.mp_points, fd=not args.no_fd)
        results = []
        for label, tol, thunk in rows:
            try:
                results.append((label, tol, thunk(), None))
            except Exception as exc:  # reported as a failed row, never hidden
                results.append((label, tol, None, f"{type(exc).__name__}: {exc}"))
    return results


def _print_rows(results, verbose):
    header = (
        f"{'derivative':<36} {'reference':<18} {'points':>6} {'tolerance':<28} "
        f"{'max rel err':>11} {'max abs err':>11} {'err/tol':>8}  {'result':<6} worst input"
    )
    print(header)
    print("-" * len(header))
    n_fail = 0
    for label, tol, res, err in results:
        if err is not None:
            n_fail += 1
            print(f"{label:<36} {'-':<18} {'-':>6} {tol:<28} {'-':>11} {'-':>11} {'-':>8}  {'ERROR':<6} {err}")
            continue
        ok = res.passed
        n_fail += not ok
        print(
            f"{label:<36} {short_reference(res.reference):<18} {res.n_points:>6} {tol:<28} "
            f"{res.max_rel_error:>11.2e} {res.max_abs_error:>11.2e} {res.worst_ratio:>8.1e}  "
            f"{'ok' if ok else 'FAIL':<6} {res.worst_input_str(6)}"
        )
        if verbose or not ok:
            print("    " + str(res).replace("\n", "\n    "))
    print("-" * len(header))
    return n_fail


def main(argv=None):
    r"""Run the command; returns 0 if every row passes, 1 otherwise, 2 for bad arguments,
    130 when interrupted (Ctrl-C)."""
    args, code = _args.parse(build_parser, argv)
    if args is None:
        return code
    try:
        return _check(args)
    except KeyboardInterrupt:
        return _args.interrupted("interrupted; no verdict")


def _check(args):
    t0 = time.perf_counter()
    results = _run_rows(args)
    elapsed = time.perf_counter() - t0
    print(
        f"astra_np gradient self-certification (seed {args.seed}; x in [-1e4, 1e4], b in [1, 1000], "
        f"p in [1e-300, 1 - 1e-16]; {args.points} points per elementwise row, {args.draws} draws "
        f"of 40 examples per loss row)"
    )
    n_fail = _print_rows(results, args.verbose)
    print(
        "max rel err: over entries where the relative tolerance governs; err/tol: worst "
        "|analytic - reference| / (atol + rtol |reference|), <= 1 passes."
    )
    if args.mp_points > 0 and not has_mpmath():
        print("mpmath is not installed: the mpmath rows (tail references) were skipped; "
              "pip install 'astra_np[ref]' to run them")
    verdict = "all passed" if n_fail == 0 else f"{n_fail} FAILED"
    print(f"{len(results)} checks, {verdict} ({elapsed:.1f} s)")
    return 0 if n_fail == 0 else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
