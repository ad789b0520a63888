r"""``python -m astra_np train``: train one model on a data file and report it.

Example::

    python -m astra_np train --data cod-rna.csv --label y --method gmn-astra \
        --epochs 10000 --seed 0 --save model.npz --history history.csv

The file is read by :func:`astra_np.study.data.load_dataset` (CSV/TSV with a label column,
or LIBSVM/svmlight); the positive class (label 1) is ``--minority`` or else the rarer
class of the training file. A stratified ``--validation-fraction`` of each class
(default 0.25) is held out for best-on-validation selection by :math:`FNR_{apx}`
(Section 4.2) unless ``--val-data`` gives a separate validation file; that file takes
the training file's positive class and must hold only the training file's labels; its
columns are matched to the training file's by header name (any order), or by position
when the two files do not both have a header and their widths agree, else it is
refused. The
report shows the learned slope ``b`` and threshold ``tau``, the best epoch, and the
counted confusion matrix, G-Mean and MCC (Eq. 1-3) on the training and validation
rows. ``--save`` writes the model
(:meth:`astra_np.learn.estimator.ASTraClassifier.save`), ``--history`` the per-epoch
history as CSV; both paths are checked before the data are read (and must name
different files, none of them an input), and each file is written atomically
(:func:`astra_np.core._io.atomic_output`), whatever happens to standard output.

Exit codes: 0 trained; 1 failed: training stopped on a non-finite loss before the last
epoch (the report and the requested files hold the parameters kept, and one line on
stderr says so), a file that cannot be written, memory; 2 refused (arguments, data);
130 interrupted (Ctrl-C: nothing is written).
"""
import sys
import warnings

import numpy as np

from ..core._io import atomic_output
from ..core._validation import SIZE_LIMITS
from ..core.losses import METHODS
from ..core.metrics import confusion_matrix, g_mean, mcc
from ..core.registry import DEFAULT_METHOD
from ..learn.estimator import ASTraClassifier, TrainingStoppedWarning
from ..learn.train import HISTORY_KEYS, MONITORS
from ..study.data import load_dataset
from . import _args

__all__ = ["main", "build_parser"]


def build_parser():
    r"""The ``argparse`` parser of the ``train`` command."""
    p = _args.ArgumentParser(
        prog="python -m astra_np train",
        description="Train an MLP with an ASTra (or sigmoid) output on a binary data set.",
    )
    p.add_argument("--data", required=True, type=_args.input_file, help="CSV/TSV (label column) or LIBSVM file")
    p.add_argument("--label", default=None, help="label column: header name or 0-based index (default: last)")
    p.add_argument("--minority", default=None, help="the class that becomes label 1 (default: the rarer)")
    p.add_argument("--format", dest="fmt", default=None, choices=["csv", "tsv", "libsvm", "svmlight"],
                   help="file format (default: from the extension or the content)")
    p.add_argument("--val-data", default=None, type=_args.input_file,
                   help="separate validation file (same format, the training file's classes; "
                        "columns matched by header name)")
    p.add_argument("--method", default=DEFAULT_METHOD, choices=list(METHODS),
                   help="training method (Section 4.2; default gmn-astra)")
    p.add_argument("--epochs", type=_args.size("epochs"), default=10000,
                   help=f"number of epochs (default 10000, at most {SIZE_LIMITS['epochs']})")
    p.add_argument("--learning-rate", type=_args.positive_float, default=0.001, help="Adam rate of the weights (0.001)")
    p.add_argument("--tau-init", type=_args.threshold, default=0.25, help="initial ASTra threshold in (0, 0.5] (0.25)")
    p.add_argument("--hidden", type=_args.size("hidden_units"), nargs="+", default=None,
                   help="hidden layer widths (default: one layer of ceil((n_x + 1)/2); at most "
                        f"{SIZE_LIMITS['hidden_layers']} layers of {SIZE_LIMITS['hidden_units']} units)")
    p.add_argument("--monitor", default="fnr_apx", choices=sorted(MONITORS),
                   help="validation monitor (default fnr_apx, Section 4.3)")
    p.add_argument("--validation-fraction", type=_args.fraction, default=0.25,
                   help="stratified validation share when --val-data is absent (0: none)")
    p.add_argument("--beta-update", default="adam", choices=["adam", "sgd"], help="update rule of beta")
    p.add_argument("--metrics-on", default="z", choices=["z", "output"], help="space of the e-ratio")
    p.add_argument("--fixed-eta-b", type=_args.nonneg_float, default=None, help="fixed eta_b instead of Eq. 10")
    p.add_argument("--batch-size", type=_args.size("batch_size"), default=None,
                   help=f"mini-batch size (default: full batch; at most {SIZE_LIMITS['batch_size']})")
    p.add_argument("--no-standardize", action="store_true", help="do not standardise the features")
    p.add_argument("--seed", type=_args.seed, default=0, help="random seed, an integer >= 0 (default 0)")
    p.add_argument("--save", default=None, type=_args.output_file, help="write the fitted model to this .npz file")
    p.add_argument("--history", default=None, type=_args.output_file,
                   help="write the per-epoch history to this CSV file")
    return p


def _classifier(args):
    return ASTraClassifier(
        method=args.method, hidden_layer_sizes=None if args.hidden is None else tuple(args.hidden),
        epochs=args.epochs, learning_rate=args.learning_rate, tau_init=args.tau_init, monitor=args.monitor,
        validation_fraction=args.validation_fraction or None, random_state=args.seed,
        beta_update=args.beta_update, metrics_on=args.metrics_on, batch_size=args.batch_size,
        standardize=not args.no_standardize, adaptive_eta_b=args.fixed_eta_b is None,
        eta_b=0.01 if args.fixed_eta_b is None else args.fixed_eta_b,
        positive_class=1,  # the files' labels are mapped to 0/1 with the positive class as 1
    )


def _load(args):
    r"""``(X, y, info, validation)``: the training file, and ``(Xv, yv, vinfo)`` of the
    validation file or None; the validation file takes the training file's positive
    class and label set, and its columns are matched to the training file's by header
    name (:func:`astra_np.study.data.load_dataset`, ``training=``)."""
    try:
        X, y, info = load_dataset(args.data, label=args.label, minority=args.minority, fmt=args.fmt,
                                  return_info=True)
    except ValueError as exc:
        raise _ArgError("--data", exc) from None
    if args.val_data is None:
        return X, y, info, None
    try:
        return X, y, info, load_dataset(args.val_data, fmt=args.fmt, training=info, return_info=True)
    except ValueError as exc:
        raise _ArgError("--val-data", exc) from None


class _ArgError(ValueError):
    def __init__(self, argument, exc):
        super().__init__(str(exc))
        self.argument = argument


def _report(name, clf, X, y):
    cm = confusion_matrix(y, clf.predict(X))
    (tn, fp), (fn, tp) = cm.tolist()
    return (f"{name:<11} n={y.size:<7d} TN={tn} FP={fp} FN={fn} TP={tp}  "
            f"G-Mean={g_mean(cm):.4f}  MCC={mcc(cm):.4f}")


def _header_words(info):
    return "no header row" if info["header"] is None else f"header row {info['header']!r}"


def _print_data(args, X, y, info, validation):
    m1 = int(y.sum())
    others = [c for c in info["classes"] if c != info["positive"]]
    print(f"data        {args.data}: {y.size} rows, {X.shape[1]} features, {m1} positive(s), "
          f"IR = {(y.size - m1) / m1:.2f}; {_header_words(info)}; positive class {info['positive']!r} "
          f"(label 1), {others!r} -> 0")
    if validation is not None:
        _, yv, vinfo = validation
        print(f"val data    {args.val_data}: {yv.size} rows, {int(yv.sum())} positive(s); "
              f"{_header_words(vinfo)}; columns matched {vinfo['aligned']} to the training file's")


def _print_fit(args, clf, X, y, validation_data, caught):
    print(f"method      {args.method}, {clf.n_epochs_} epoch(s), network {clf.params_.layer_sizes}")
    print(f"training    {clf.training_message_}")
    print(f"fused path  {clf.epochs_off_fused_path_} of {clf.n_epochs_} epoch(s) left the fused kernel "
          "for the reference path (same results, slower; see derivations/kernel.md)")
    for w in caught:
        print(f"warning     {w.message}")
    if clf.validation_indices_ is None and validation_data is None:
        print(f"best epoch  {clf.best_epoch_}  (no validation rows: the last epoch is kept)")
    else:
        print(f"best epoch  {clf.best_epoch_}  (validation {args.monitor} = {clf.best_score_:.6g})")
    print(f"slope       b = {clf.slope_:.6g}, threshold tau = {clf.threshold_:.6g}")
    held = clf.validation_indices_
    if held is not None:
        train_rows = np.setdiff1d(np.arange(y.size), held)
        print(_report("training", clf, X[train_rows], y[train_rows]))
        print(_report("validation", clf, X[held], y[held]))
    else:
        print(_report("training", clf, X, y))
    if validation_data is not None:
        print(_report("validation", clf, *validation_data))


def _write_outputs(args, clf):
    r"""Write the requested files; ``(option, OSError)`` of the first that fails, else None."""
    if args.save:
        try:
            clf.save(args.save)
        except OSError as exc:
            return "--save", exc
        print(f"saved       {args.save}")
    if args.history:
        cols = [np.asarray(clf.history_[k], dtype=np.float64) for k in HISTORY_KEYS]
        try:
            with atomic_output(args.history, "w") as fh:
                np.savetxt(fh, np.column_stack(cols), delimiter=",", header=",".join(HISTORY_KEYS),
                           comments="", fmt="%.17g")
        except OSError as exc:
            return "--history", exc
        print(f"history     {args.history}")
    return None


#: Options that another option makes meaningless: (option, others, reason).
CONFLICTS = (
    ("--val-data", ["--validation-fraction"], "the validation rows are the file's"),
)


def _same_paths(args):
    r"""``(option, message)`` when two paths that must differ name the same file."""
    outputs = [(o, p) for o, p in (("--save", args.save), ("--history", args.history)) if p]
    inputs = [(o, p) for o, p in (("--data", args.data), ("--val-data", args.val_data)) if p]
    for k, (option, path) in enumerate(outputs):
        for other, other_path in outputs[:k] + inputs:
            if _args.same_file(path, other_path):
                return option, f"{path!r} is the file of {other} {other_path!r}"
    return None


def _fit(args, clf):
    r"""Load, fit and report; ``(X, y, validation_data, caught)``."""
    config = clf.check_params()  # the options, refused before the data are read
    X, y, info, validation = _load(args)
    _print_data(args, X, y, info, validation)
    validation_data = None if validation is None else validation[:2]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TrainingStoppedWarning)
        clf._fit_with(config, X, y, validation_data=validation_data)
    return X, y, validation_data, caught


def main(argv=None):
    r"""Run the command; returns the exit code (:data:`astra_np.cli._args.EXIT`)."""
    args, code = _args.parse(build_parser, argv, CONFLICTS)
    if args is None:
        return code
    clash = _same_paths(args)
    if clash is not None:
        return _args.fail(clash[1], clash[0])
    try:
        return _run(args)
    except KeyboardInterrupt:
        return _args.interrupted("interrupted; no file was written but those reported above as written")


def _run(args):
    clf = _classifier(args)
    try:
        X, y, validation_data, caught = _fit(args, clf)
    except _ArgError as exc:
        return _args.fail(exc, exc.argument)
    except ValueError as exc:
        return _args.fail(exc)
    except (OSError, MemoryError) as exc:
        return _args.fail(exc if str(exc) else "out of memory", code=_args.EXIT["failed"])
    _print_fit(args, clf, X, y, validation_data, caught)
    failed = _write_outputs(args, clf)
    if failed is not None:
        return _args.fail(failed[1], failed[0], code=_args.EXIT["failed"])
    if clf.stopped_:
        written = [p for p in (args.save, args.history) if p]
        kept = f"; {', '.join(written)} hold(s) the parameters kept" if written else ""
        return _args.fail(f"training did not complete: {clf.training_message_}{kept}",
                          code=_args.EXIT["failed"])
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
