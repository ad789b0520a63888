r"""``python -m astra_np experiment``: the paper's R x K protocol (:mod:`astra_np.study.protocol`).

Example::

    python -m astra_np experiment --data cod-rna.csv --label y --positives 5 --out results/cod
    python -m astra_np experiment --select-hidden "paper;32;64,32" --out results/sel

Every argument is checked before any work is done and before anything is written (one
line on stderr naming the argument, exit status 2), including the hyperparameters and
that ``--out`` can be written. Rerunning the same command resumes. Ctrl-C stops at
once (exit status 130): the folds finished are stored, the folds in flight are lost and
run again on resume.
"""
import argparse
import concurrent.futures as cf
import os
import sys

from ..core._validation import SIZE_LIMITS
from ..core.losses import METHODS
from ..study.data import check_cv_feasible, load_dataset
from ..study.protocol import METHOD_ORDER, QUICK, run_experiment
from ..study.selection import CRITERIA, parse_candidates
from ..study.selection import QUICK as QUICK_SELECTION
from ..study.splits import load_splits
from . import _args

__all__ = ["main", "build_parser"]


def build_parser():
    r"""The ``argparse`` parser of the ``experiment`` command."""
    p = _args.ArgumentParser(
        prog="python -m astra_np experiment",
        description="Run the paper's R x K cross-validation protocol (Section 4) for its four "
                    "methods (--methods: any registered ones), store every fold, and write Table 2 and Fig. 4. Rerunning the same "
                    "command resumes an interrupted run.")
    p.add_argument("--data", metavar="FILE", type=_args.input_file,
                   help="CSV/TSV or LIBSVM file (default: the built-in data set)")
    p.add_argument("--label", metavar="COL", help="label column (name or 0-based index; default: last)")
    p.add_argument("--minority", metavar="LABEL", help="class mapped to 1, all others to 0 (default: the rarer class)")
    p.add_argument("--format", dest="fmt", choices=["csv", "tsv", "libsvm", "svmlight"],
                   help="file format (default: from the extension or content)")
    p.add_argument("--delimiter", metavar="CHAR", type=_args.delimiter,
                   help="field delimiter for delimited text (one character; \\t for a tab)")
    p.add_argument("--positives", type=_args.size("positives"), metavar="K",
                   help="undersampled variant: keep this many positives, redrawn every repeat")
    p.add_argument("--repeats", type=_args.size("repeats"), metavar="R",
                   help=f"R (default 10; --quick 2; at most {SIZE_LIMITS['repeats']})")
    p.add_argument("--folds", type=_args.size("folds", 3), default=5, metavar="K",
                   help=f"K in [3, {SIZE_LIMITS['folds']}] (training, validation and test folds; default 5)")
    p.add_argument("--epochs", type=_args.size("epochs"), metavar="E",
                   help=f"epochs per fold (default 10000; --quick 1000; at most {SIZE_LIMITS['epochs']})")
    p.add_argument("--methods", nargs="+", choices=[*METHODS, "all"], default=list(METHOD_ORDER),
                   metavar="METHOD", help=f"any of {', '.join(METHODS)}, or all (default: the paper's "
                   f"{', '.join(METHOD_ORDER)})")
    p.add_argument("--workers", type=_args.size("workers"), metavar="N",
                   help=f"worker processes (default: CPUs available; never more than the folds to run; "
                        f"at most {SIZE_LIMITS['workers']})")
    p.add_argument("--seed", type=_args.seed, default=0, metavar="S", help="seed of the splits and networks (default 0)")
    p.add_argument("--quick", action="store_true",
                   help="reduced run: 2 repeats, 1000 epochs (with --select-hidden: 1 repeat, 500 epochs); "
                        "built-in data 6000 rows, 10 positives")
    p.add_argument("--no-standardize", dest="standardize", action="store_false",
                   help="do not standardise features on the training folds")
    p.add_argument("--learning-rate", type=_args.positive_float, metavar="ETA", help="Adam learning rate (default 0.001)")
    p.add_argument("--tau-init", type=_args.threshold, metavar="TAU", help="initial threshold in (0, 0.5] (default 0.25)")
    p.add_argument("--select-hidden", metavar="CANDIDATES", type=_candidates,
                   help="architecture selection on the validation fold: candidate networks separated "
                        "by ';', layers by ',', 'paper' for the paper's n_h rule (e.g. 'paper;32;64,32')")
    p.add_argument("--select-by", choices=list(CRITERIA), metavar="CRITERION",
                   help=f"selection criterion, one of {', '.join(CRITERIA)} (default g_mean: the counted "
                        f"G-Mean of the validation fold); needs --select-hidden")
    p.add_argument("--history-points", type=_args.size("history_points"), default=1000, metavar="N",
                   help="epochs kept in the sampled histories (b, tau, loss, ...; default "
                        f"1000, at most {SIZE_LIMITS['history_points']}); the log10 e-ratio is kept for every epoch")
    p.add_argument("--splits", metavar="JSON", type=_args.input_file,
                   help="import the folds from this JSON file (see astra_np.study.splits)")
    p.add_argument("--name", help="data set name in the table (default: file name and IR)")
    p.add_argument("--combine", nargs="+", metavar="RESULTS_DIR", type=_args.input_dir,
                   help="run nothing: write one table (a block per data set) and the Fig. 4 "
                        "panels of these results directories to --out")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.add_argument("--out", required=True, metavar="DIR", type=_args.output_dir,
                   help="results directory (resumed if it exists)")
    return p


def _candidates(text):
    r"""``--select-hidden``: the candidates as spelled (the list is checked against the data later)."""
    try:
        return parse_candidates(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_RUN_OPTIONS = ["--data", "--label", "--minority", "--format", "--delimiter", "--positives", "--repeats",
                "--folds", "--epochs", "--methods", "--workers", "--seed", "--quick", "--no-standardize",
                "--learning-rate", "--tau-init", "--history-points", "--splits", "--name", "--no-progress",
                "--select-hidden", "--select-by"]

#: Options that another option makes meaningless: (option, others, reason).
CONFLICTS = (
    ("--combine", _RUN_OPTIONS, "it runs nothing: it reads the stored results"),
    ("--splits", ["--repeats", "--folds", "--positives"], "the splits file fixes R, K and the positives"),
)
#: Options that need another: (options, needed, reason).
REQUIRES = (
    (["--label", "--minority", "--format", "--delimiter"], "--data", "an option of the data file"),
)


def _methods(names):
    r"""``--methods``: the names given, in column order; ``all`` is every registered method."""
    if "all" in names:
        if len(names) > 1:
            raise _ArgError("--methods", f"--methods: 'all' stands alone, got {' '.join(names)}")
        return list(METHODS)
    return [m for m in METHODS if m in names]


def _combine(args):
    r"""``--combine``: the table of stored results; a warning line per incomplete run."""
    from ..study.report import stored_and_expected, write_report

    try:
        for path in write_report(args.combine, out_dir=args.out):
            print(f"wrote {path}")
        counts = [(d, *stored_and_expected(d)) for d in args.combine]
    except ValueError as exc:
        return _args.fail(exc, "--combine")
    except OSError as exc:
        return _args.fail(exc, "--combine", code=_args.EXIT["failed"])
    for d, stored, expected in counts:
        if stored < expected:
            print(f"warning: {d} is an incomplete run ({stored} of {expected} folds stored); its rows "
                  f"of the table rest on the folds stored (rerun its command to complete it)",
                  file=sys.stderr)
    return 0


def _load(args):
    r"""``(X, y, base name, source)`` of ``--data`` or the built-in data set."""
    if args.data:
        try:
            X, y = load_dataset(args.data, label=args.label, minority=args.minority,
                                fmt=args.fmt, delimiter=args.delimiter)
        except ValueError as exc:
            raise _ArgError("--data", exc) from None
        return X, y, os.path.splitext(os.path.basename(args.data))[0], args.data
    from ..study.datasets import make_imbalanced

    kw = dict(n_samples=QUICK["n_samples"], n_positives=QUICK["n_positives"]) if args.quick else {}
    X, y = make_imbalanced(**kw)
    return X, y, "builtin", "built-in data"


class _ArgError(ValueError):
    def __init__(self, argument, exc):
        super().__init__(str(exc))
        self.argument = argument


def _splits(args, y):
    if not args.splits:
        return None
    try:
        return load_splits(args.splits, y)
    except (ValueError, OSError) as exc:  # load_splits names every malformed field in a ValueError
        raise _ArgError("--splits", f"{args.splits}: not usable splits ({type(exc).__name__}: {exc})") from None


def _prepare(args):
    r"""Load the data and work out the run's keyword arguments (nothing written yet)."""
    X, y, base, source = _load(args)
    check_cv_feasible(y, args.folds, source=source)
    splits = _splits(args, y)
    positives = splits.positives if splits is not None else args.positives
    m1 = int(y.sum())
    k = positives or m1
    if k > m1:
        raise _ArgError("--positives", f"{source}: --positives {k} but the data hold only {m1} positives")
    ir_variant = (y.size - m1) / k
    print(f"data: {source}: {y.size} rows, {X.shape[1]} features, {m1} positives "
          f"(IR {(y.size - m1) / m1:.2f})" +
          (f"; undersampled variant: {k} positives per repeat (IR {ir_variant:.2f})"
           if k != m1 else ""), file=sys.stderr)
    if args.select_by is not None and args.select_hidden is None:
        raise _ArgError("--select-by", f"--select-by {args.select_by} needs --select-hidden")
    params = {}
    if args.learning_rate is not None:
        params["learning_rate"] = args.learning_rate
    if args.tau_init is not None:
        params["tau_init"] = args.tau_init
    quick = {**QUICK, **(QUICK_SELECTION if args.select_hidden else {})} if args.quick else {}
    return X, y, dict(
        dataset=args.name or f"{base}-{round(ir_variant)}", positives=positives,
        repeats=args.repeats or quick.get("repeats", 10), folds=args.folds,
        epochs=args.epochs or quick.get("epochs", 10000), methods=_methods(args.methods),
        seed=args.seed, standardize=args.standardize, estimator_params=params,
        history_points=args.history_points, splits=splits, workers=args.workers,
        progress=args.progress, **_selection(args))


def _selection(args):
    r"""The selection arguments of ``run_experiment`` (none without ``--select-hidden``)."""
    if args.select_hidden is None:
        return {}
    return dict(candidates=args.select_hidden, selection=args.select_by)


def main(argv=None):
    r"""``python -m astra_np experiment ...``; returns the exit code (130 when interrupted)."""
    args, code = _args.parse(build_parser, argv, CONFLICTS, REQUIRES)
    if args is None:
        return code
    if args.delimiter is not None and args.fmt in ("libsvm", "svmlight"):
        return _args.fail(f"meaningless with --format {args.fmt} (LIBSVM has no delimiter)", "--delimiter")
    if args.combine:
        return _combine(args)
    failed = _args.EXIT["failed"]
    try:
        X, y, kwargs = _prepare(args)
        result = run_experiment(X, y, args.out, **kwargs)
    except cf.BrokenExecutor as exc:
        return _args.fail(f"a worker process died ({exc}); the folds finished before are stored "
                          f"in {args.out}: rerun the same command to resume", code=failed)
    except _ArgError as exc:
        return _args.fail(exc, exc.argument)
    except (ValueError, RuntimeError) as exc:
        return _args.fail(exc)
    except (OSError, MemoryError) as exc:
        return _args.fail(f"{exc or 'out of memory'}; the folds finished before are stored in {args.out}: "
                          f"rerun the same command to resume", code=failed)
    except KeyboardInterrupt:
        return _args.interrupted(f"the folds finished so far are stored in {args.out} (if any); the folds "
                                 f"in flight are lost and run again when you rerun the same command to resume")
    if result.interrupted:
        return _args.interrupted(f"{len(result.records)} of {result.total} folds are stored in {result.out}; "
                                 f"the folds in flight are lost and run again when you rerun the same "
                                 f"command to resume")
    print(f"{len(result.records)} of {result.total} folds in {result.out}")
    for path in result.report_files:
        print(f"wrote {path}")
    return 0 if result.complete else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
