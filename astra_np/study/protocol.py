r"""The paper's experiment protocol (Section 4): R x K CV, four methods, resumable, parallel.

For every repeat ``r`` and rotation ``k`` of :mod:`astra_np.study.splits` (test fold ``k``,
validation fold ``(k + 1) mod K``, training the other K - 2 folds) and for every
method ("bce", "gmn", "bce-astra", "gmn-astra", Section 4.2) one
:class:`astra_np.learn.estimator.ASTraClassifier` is trained on the training folds with the
validation fold supplying the best-on-validation parameters (monitor FNR_apx), and
scored on the test fold.

Per fold (one method on one rotation) the protocol

1. standardises the features with the training folds' mean and standard deviation
   (a column constant on the training folds is centred only). The paper does not say
   whether it scaled its inputs; standardising on training statistics is the usual
   choice and never leaks test data. ``standardize=False`` (``--no-standardize``)
   switches it off. (The protocol does this itself, for any estimator, and passes
   ``standardize=False`` to an estimator that has such a parameter, so it is done once.)
2. fits the classifier with ``random_state`` derived from ``(seed, repeat, rotation)``
   only: the four methods of a rotation start from the same initial weights, so the
   paired comparison of the report compares methods, not initialisations.
3. records the test confusion counts TP, FP, TN, FN (prediction positive when the
   output is >= tau, i.e. the pre-activation is >= 0), G-Mean (Eq. 3) and MCC (Eq. 2),
   the best epoch, the slope b and threshold tau of the kept parameters (``b``,
   ``tau``) and of the last epoch (``b_last``, ``tau_last``), whether a non-finite loss
   stopped training early (``stopped``, with the trainer's warnings in ``warnings``),
   and the training history for Fig. 4.

Histories in the store (for Fig. 4 and diagnostics; values rounded to 7 significant
digits, non-finite values stored as ``null``; the test metrics are stored exactly):

* ``record["history"]["log10_e_ratio"]``: the training-set log10 e-ratio (Eq. 11) of
  **every** epoch (list index 0 is epoch 1), as Fig. 4 needs;
* ``record["history_sampled"]``: every other numeric series the trainer records (loss,
  b, tau, eta_b, validation monitor, ...) at every ``s``-th epoch, ``s = ceil(epochs /
  history_points)`` (default ``history_points`` 1000), plus the last epoch;
  ``history_sampled["epoch"]`` lists the 1-based epoch numbers kept. This keeps a
  10,000-epoch record near 150 kB (30 MB for the full 200-fold study).

Results go to an append-only store (:mod:`astra_np.study.store`); rerunning the same command
resumes, skipping finished folds. A run with a different configuration is refused.
When the last fold is stored the records are put in canonical order, so two runs with
the same seed produce identical ``folds.jsonl`` files, and the report
(:mod:`astra_np.study.report`: ``table.md``, ``table.csv``, ``fig4.png``) is written.

Parallel and distributed runs
-----------------------------
Folds are submitted to a :class:`concurrent.futures.Executor`. By default
:func:`run_experiment` makes a local :class:`~concurrent.futures.ProcessPoolExecutor`
with ``workers`` processes (default: the number of CPUs available); ``workers=1`` runs
in the calling process. Any other executor can be passed in, for example a Dask
cluster's::

    from dask.distributed import Client          # pip install "dask[distributed]"
    from astra_np.study.protocol import run_experiment
    from astra_np.study.datasets import make_imbalanced

    client = Client("tcp://scheduler:8786")      # or Client() for a local cluster
    X, y = make_imbalanced()
    with client.get_executor() as executor:
        run_experiment(X, y, "results/builtin", executor=executor)

Every worker needs astra_np installed. At most ``max_in_flight`` folds (default twice
the number of workers, 16 for an external executor) are submitted at a time, so memory
stays bounded and an interrupted run loses at most those.

Ctrl-C stops the run cleanly: folds already finished are kept (they were written when
they finished), folds in flight are abandoned (the default pool's workers ignore SIGINT
and are terminated by the main process), and rerunning the same command resumes. The
default pool's workers use one BLAS thread each (via threadpoolctl, when installed), as
the pool itself already occupies the cores. If a worker process dies (killed, out of
memory), the run stops with an error; finished folds are kept and a rerun resumes.

Command line
------------
``python -m astra_np experiment --data FILE [--label COL] [--minority LABEL]
[--positives 5] [--repeats 10] [--folds 5] [--epochs 10000] [--methods ...]
[--workers N] [--quick] [--seed S] --out DIR``. Without ``--data`` the built-in data
set :func:`astra_np.study.datasets.make_imbalanced` is used (``--quick``: a smaller version
with 2 repeats and 1000 epochs, which runs in seconds to a minute).
"""
import argparse
import concurrent.futures as cf
import hashlib
import inspect
import math
import os
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..core._validation import positive_int_arg
from .. import __version__
from .data import check_cv_feasible, dataset_fingerprint, imbalance_ratio, load_dataset
from .splits import load_splits, make_splits
from .store import ResultsStore

__all__ = ["run_experiment", "run_fold", "FoldTask", "ExperimentResult", "SerialExecutor",
           "METHOD_ORDER", "fold_seed", "main"]

METHOD_ORDER = ("bce", "gmn", "bce-astra", "gmn-astra")
HISTORY_DIGITS = 7
FULL_HISTORY_KEYS = ("log10_e_ratio",)
QUICK = dict(repeats=2, epochs=1000, n_samples=6000, n_positives=10)


def fold_seed(seed, repeat, rotation):
    r"""The estimator's ``random_state`` for a rotation (shared by the four methods)."""
    ss = np.random.SeedSequence([int(seed), int(repeat), int(rotation), 0x5EED])
    return int(ss.generate_state(1, dtype=np.uint32)[0])


class SerialExecutor(cf.Executor):
    r"""An Executor that runs each submitted call immediately in the calling process."""

    def submit(self, fn, /, *args, **kwargs):
        fut = cf.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except Exception as exc:
            fut.set_exception(exc)
        return fut


@dataclass
class FoldTask:
    r"""Everything one fold needs; picklable, so it can travel to any executor."""

    dataset: str
    repeat: int
    rotation: int
    val_fold: int
    method: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    random_state: int
    standardize: bool = True
    estimator_params: dict = field(default_factory=dict)
    history_points: int = 1000
    estimator: object = None  # class or factory; None: astra_np.learn.estimator.ASTraClassifier


def _round_sig(values):
    out = []
    for v in values:
        v = float(v)
        out.append(float(f"{v:.{HISTORY_DIGITS}g}") if math.isfinite(v) else None)
    return out


def _history_columns(history):
    r"""Numeric per-epoch series of a trainer history (mapping of lists or list of mappings)."""
    if history is None:
        return {}
    if isinstance(history, (list, tuple)):
        keys = []
        for h in history:
            keys.extend(k for k in h if k not in keys)
        history = {k: [h.get(k, np.nan) for h in history] for k in keys}
    elif hasattr(history, "dtype") and getattr(history.dtype, "names", None):
        history = {k: history[k] for k in history.dtype.names}
    cols = {}
    for key in history:
        try:
            arr = np.asarray(history[key], dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            continue  # non-numeric series (messages etc.) are not stored
        cols[str(key)] = arr
    if "log10_e_ratio" not in cols:
        if "log_e_ratio" in cols:
            cols["log10_e_ratio"] = cols.pop("log_e_ratio") / np.log(10.0)
            cols.pop("e_ratio", None)
        elif "e_ratio" in cols:
            e = cols.pop("e_ratio")
            out = np.full(e.shape, np.nan)
            np.log10(e, out=out, where=e > 0)
            cols["log10_e_ratio"] = out
    return cols


def _store_history(cols, history_points):
    r"""``(history, history_sampled)`` as stored (see the module docstring)."""
    full = {k: _round_sig(cols[k]) for k in FULL_HISTORY_KEYS if k in cols}
    rest = {k: v for k, v in cols.items() if k not in FULL_HISTORY_KEYS and k != "epoch"}
    if not rest:
        return full, {"epoch": []}
    n = max(a.size for a in rest.values())
    stride = max(1, math.ceil(n / history_points))
    idx = np.arange(0, n, stride)
    if idx[-1] != n - 1:
        idx = np.append(idx, n - 1)
    sampled = {"epoch": [int(i) + 1 for i in idx]}
    for key, arr in rest.items():
        padded = np.full(n, np.nan)
        padded[: arr.size] = arr
        sampled[key] = _round_sig(padded[idx])
    return full, sampled


def _standardise(X_train, *others):
    mu = X_train.mean(axis=0)
    sd = X_train.std(axis=0)
    sd[sd == 0.0] = 1.0  # constant on the training folds: centre only
    return [(A - mu) / sd for A in (X_train,) + others]


def _last(cols, key):
    a = cols.get(key)
    if a is None or a.size == 0 or not math.isfinite(a[-1]):
        return None
    return float(a[-1])


def _accepts(factory, name):
    try:
        return name in inspect.signature(factory).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
        return False


def run_fold(task):
    r"""Train one method on one rotation and return its JSON-ready record."""
    from ..core.metrics import confusion_matrix, g_mean, mcc

    Xt, Xv, Xs = task.X_train, task.X_val, task.X_test
    if task.standardize:
        Xt, Xv, Xs = _standardise(Xt, Xv, Xs)
    factory = task.estimator
    if factory is None:
        from ..learn.estimator import ASTraClassifier as factory
    kwargs = dict(task.estimator_params)
    if "standardize" not in kwargs and _accepts(factory, "standardize"):
        kwargs["standardize"] = False  # done above (or switched off): not twice
    clf = factory(method=task.method, random_state=task.random_state, **kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(Xt, task.y_train, validation_data=(Xv, task.y_val))
        pred = np.asarray(clf.predict(Xs)).astype(np.int64)
    cm = np.asarray(confusion_matrix(task.y_test, pred))
    (tn, fp), (fn, tp) = cm.tolist()
    cols = _history_columns(getattr(clf, "history_", None))
    b = getattr(clf, "slope_", None)
    tau = getattr(clf, "threshold_", None)
    record = {
        "dataset": task.dataset,
        "repeat": int(task.repeat),
        "rotation": int(task.rotation),
        "method": task.method,
        "test_fold": int(task.rotation),
        "val_fold": int(task.val_fold),
        "random_state": int(task.random_state),
        "n_train": int(task.y_train.size),
        "n_train_pos": int(task.y_train.sum()),
        "n_val": int(task.y_val.size),
        "n_val_pos": int(task.y_val.sum()),
        "n_test": int(task.y_test.size),
        "n_test_pos": int(task.y_test.sum()),
        "tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn),
        "g_mean": float(g_mean(cm)),
        "mcc": float(mcc(cm)),
        "best_epoch": None if getattr(clf, "best_epoch_", None) is None else int(clf.best_epoch_),
        "b": None if b is None else float(b),
        "tau": None if tau is None else float(tau),
        "b_last": _last(cols, "b"),
        "tau_last": _last(cols, "tau"),
        "n_epochs": None if getattr(clf, "n_epochs_", None) is None else int(clf.n_epochs_),
        "stopped": bool(getattr(clf, "stopped_", False)),
        "warnings": sorted({f"{w.category.__name__}: {w.message}" for w in caught}),
    }
    record["history"], record["history_sampled"] = _store_history(cols, task.history_points)
    return record


@dataclass
class ExperimentResult:
    r"""Outcome of :func:`run_experiment`."""

    out: str
    records: list
    total: int
    complete: bool
    interrupted: bool = False
    new: int = 0
    report_files: list = field(default_factory=list)


class _Progress:
    def __init__(self, total, done, stream, enabled):
        self.total, self.done0, self.done = total, done, done
        self.stream, self.enabled = stream, enabled
        self.t0 = time.monotonic()
        self.last = -1e9
        self.tty = enabled and hasattr(stream, "isatty") and stream.isatty()

    @staticmethod
    def _fmt(seconds):
        seconds = int(round(seconds))
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"

    def line(self):
        elapsed = time.monotonic() - self.t0
        new = self.done - self.done0
        left = self.total - self.done
        eta = self._fmt(elapsed / new * left) if new else "?"
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return (f"folds {self.done}/{self.total} ({pct:.0f}%)  elapsed {self._fmt(elapsed)}"
                f"  ETA {eta}")

    def update(self, force=False):
        if not self.enabled:
            return
        now = time.monotonic()
        if not (force or self.tty or now - self.last >= 2.0 or self.done == self.total):
            return
        self.last = now
        end = "" if self.tty else "\n"
        self.stream.write(("\r" if self.tty else "") + self.line() + end)
        self.stream.flush()

    def close(self):
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _default_workers():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


_BLAS_LIMIT = None


def _exit_with_parent(ppid):
    r"""End an orphaned worker (its parent was killed) instead of waiting forever."""
    while os.getppid() == ppid:
        time.sleep(0.5)
    os._exit(1)


def _worker_init():
    r"""Process-pool worker set-up: leave Ctrl-C to the main process (which stops the
    pool), exit when orphaned, and use one BLAS thread per worker (the pool already
    fills the cores) when threadpoolctl is installed."""
    global _BLAS_LIMIT
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    _BLAS_LIMIT = threadpool_limits(limits=1, user_api="blas")


def _terminate_pool(executor):
    r"""Stop a ProcessPoolExecutor's workers now (abandoning folds in flight)."""
    procs = getattr(executor, "_processes", None) or {}
    for proc in list(procs.values()):
        try:
            proc.terminate()
        except Exception:  # pragma: no cover - already gone
            pass


def run_experiment(X, y, out, *, dataset="data", positives=None, repeats=10, folds=5,
                   epochs=10000, methods=METHOD_ORDER, seed=0, standardize=True,
                   estimator_params=None, history_points=1000, splits=None, executor=None,
                   workers=None, max_in_flight=None, progress=True, stream=None,
                   report=True, estimator=None, data_info=None):
    r"""Run (or resume) the R x K protocol on ``(X, y)`` and store the results in ``out``.

    Parameters
    ----------
    X : array, shape (n, d); y : array of {0, 1}, shape (n,)
    out : str or os.PathLike
        Results directory (:mod:`astra_np.study.store`); resumed if it exists.
    dataset : str
        Name in the records and the table.
    positives : int, optional
        Undersampled variant: this many positives per repeat (the paper: 5).
    repeats, folds : int
        R and K (paper: 10 x 5).
    epochs : int
        Training epochs per fold (paper: 10,000).
    methods : sequence of str
    seed : int
        Fixes the splits and every initialisation.
    standardize : bool
        Standardise on the training folds' statistics.
    estimator_params : dict, optional
        Extra ``ASTraClassifier`` parameters (e.g. ``learning_rate``, ``tau_init``).
    history_points : int
        Maximum epochs kept per stored history (see the module docstring).
    splits : CVSplits, optional
        Use these folds (e.g. imported with :func:`astra_np.study.splits.load_splits`).
    executor : concurrent.futures.Executor, optional
        Runs the folds; not shut down here. Default: a process pool of ``workers``.
    workers : int, optional
        Size of the default pool (default: CPUs available; 1 runs in this process).
    max_in_flight : int, optional
        Folds submitted at a time.
    progress : bool
        Show folds done / total, elapsed time and ETA on ``stream`` (default stderr).
    report : bool
        Write the report when the experiment is complete.
    estimator : callable, optional
        Classifier class/factory (default :class:`astra_np.learn.estimator.ASTraClassifier`);
        must be picklable for process pools.
    data_info : dict, optional
        Extra descriptive entries for the stored configuration.

    Returns
    -------
    ExperimentResult
    """
    stream = sys.stderr if stream is None else stream
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.ascontiguousarray(y).astype(np.int64)
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.size:
        raise ValueError(f"X must be (n, d) and y (n,), got shapes {X.shape} and {y.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X must be finite (found NaN or inf)")
    methods = list(methods)
    if not methods or len(set(methods)) != len(methods):
        raise ValueError(f"methods must be a non-empty list of distinct names, got {methods!r}")
    for name, v in (("epochs", epochs), ("history_points", history_points)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if splits is None:
        check_cv_feasible(y, folds, source=dataset)
        splits = make_splits(y, n_repeats=repeats, n_folds=folds, seed=seed, positives=positives)
    else:
        if splits.n_samples != y.size:
            raise ValueError(f"splits were made for {splits.n_samples} rows, the data have {y.size}")
        repeats, folds, positives = splits.n_repeats, splits.n_folds, splits.positives
    params = dict(estimator_params or {})
    params["epochs"] = int(epochs)
    ir = [imbalance_ratio(y[splits.rows(r)]) for r in range(repeats)]
    config = {
        "dataset": dataset,
        "data_sha256": dataset_fingerprint(X, y),
        "n_samples": int(y.size), "n_features": int(X.shape[1]), "n_positives": int(y.sum()),
        "positives": positives, "repeats": int(repeats), "folds": int(folds),
        "seed": int(seed), "methods": methods, "standardize": bool(standardize),
        "estimator_params": params, "history_points": int(history_points),
        "splits_assignments_sha256": hashlib.sha256(splits.assignments.tobytes()).hexdigest(),
        "imbalance_ratio": float(np.mean(ir)),
    }
    if estimator is not None:
        name = getattr(estimator, "__qualname__", repr(estimator))
        config["estimator"] = f"{getattr(estimator, '__module__', '?')}.{name}"
    if data_info:
        config.update(data_info)
    store = ResultsStore(out)
    existing = store.open(config, __version__)
    try:
        splits.to_json(os.path.join(store.directory, "splits.json"))
        done_keys = {(r["repeat"], r["rotation"], r["method"]) for r in existing}
        pending = [(r, k, m) for r in range(repeats) for k in range(folds) for m in methods
                   if (r, k, m) not in done_keys]
        total = repeats * folds * len(methods)
        bar = _Progress(total, total - len(pending), stream, progress)
        bar.update(force=True)

        def make_task(key):
            r, k, m = key
            tr, va, te = splits.rotation(r, k)
            return FoldTask(dataset=dataset, repeat=r, rotation=k, val_fold=(k + 1) % folds,
                            method=m, X_train=X[tr], y_train=y[tr], X_val=X[va], y_val=y[va],
                            X_test=X[te], y_test=y[te], random_state=fold_seed(seed, r, k),
                            standardize=standardize, estimator_params=params,
                            history_points=history_points, estimator=estimator)

        own = executor is None
        if own:
            workers = _default_workers() if workers is None else int(workers)
            if workers < 1:
                raise ValueError(f"workers must be >= 1, got {workers!r}")
            if workers == 1 or len(pending) <= 1:
                executor = SerialExecutor()
            else:
                executor = cf.ProcessPoolExecutor(workers, initializer=_worker_init)
            limit = max_in_flight or 2 * workers
        else:
            limit = max_in_flight or 16
        new, interrupted = 0, False
        in_flight = {}
        queue = list(pending)

        def harvest(fut):
            nonlocal new
            key = in_flight.pop(fut)
            record = fut.result()  # re-raises a fold's error
            if (record["repeat"], record["rotation"], record["method"]) != key:
                raise RuntimeError(f"fold {key!r} returned the record of another fold")
            store.append(record)
            new += 1
            bar.done += 1
            bar.update()

        try:
            while queue or in_flight:
                while queue and len(in_flight) < limit:
                    key = queue.pop(0)
                    in_flight[executor.submit(run_fold, make_task(key))] = key
                finished, _ = cf.wait(list(in_flight), return_when=cf.FIRST_COMPLETED)
                for fut in sorted(finished, key=lambda f: in_flight[f]):
                    harvest(fut)
        except KeyboardInterrupt:
            interrupted = True
            for fut in list(in_flight):  # keep folds that finished meanwhile
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    harvest(fut)
                else:
                    fut.cancel()
            if own and isinstance(executor, cf.ProcessPoolExecutor):
                _terminate_pool(executor)
        except BaseException:
            for fut in in_flight:
                fut.cancel()
            if own and isinstance(executor, cf.ProcessPoolExecutor):
                _terminate_pool(executor)
            raise
        finally:
            if own:
                executor.shutdown(wait=True, cancel_futures=True)
            bar.close()
        records = store.load()
        complete = len(records) == total
        result = ExperimentResult(out=store.directory, records=records, total=total,
                                  complete=complete, interrupted=interrupted, new=new)
        if complete:
            order = {m: i for i, m in enumerate(methods)}
            result.records = store.finalize(lambda r: (r["repeat"], r["rotation"], order[r["method"]]))
            if report:
                from .report import write_report
                result.report_files = write_report(store.directory)
        return result
    finally:
        store.close()


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------
def _build_parser():
    p = argparse.ArgumentParser(
        prog="python -m astra_np experiment",
        description="Run the paper's R x K cross-validation protocol (Section 4) for the four "
                    "methods, store every fold, and write Table 2 and Fig. 4. Rerunning the same "
                    "command resumes an interrupted run.")
    p.add_argument("--data", metavar="FILE", help="CSV/TSV or LIBSVM file (default: the built-in data set)")
    p.add_argument("--label", metavar="COL", help="label column (name or 0-based index; default: last)")
    p.add_argument("--minority", metavar="LABEL", help="class mapped to 1, all others to 0 (default: the rarer class)")
    p.add_argument("--format", dest="fmt", choices=["csv", "tsv", "libsvm", "svmlight"],
                   help="file format (default: from the extension or content)")
    p.add_argument("--delimiter", metavar="CHAR", help="field delimiter for delimited text")
    p.add_argument("--positives", type=positive_int_arg, metavar="K",
                   help="undersampled variant: keep this many positives, redrawn every repeat")
    p.add_argument("--repeats", type=positive_int_arg, metavar="R", help="R (default 10; --quick 2)")
    p.add_argument("--folds", type=positive_int_arg, default=5, metavar="K", help="K (default 5)")
    p.add_argument("--epochs", type=positive_int_arg, metavar="E", help="epochs per fold (default 10000; --quick 1000)")
    p.add_argument("--methods", nargs="+", choices=list(METHOD_ORDER), default=list(METHOD_ORDER),
                   metavar="METHOD", help="any of bce, gmn, bce-astra, gmn-astra (default: all four)")
    p.add_argument("--workers", type=positive_int_arg, metavar="N", help="worker processes (default: CPUs available)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the splits and networks (default 0)")
    p.add_argument("--quick", action="store_true",
                   help="reduced run: 2 repeats, 1000 epochs; built-in data 6000 rows, 10 positives")
    p.add_argument("--no-standardize", dest="standardize", action="store_false",
                   help="do not standardise features on the training folds")
    p.add_argument("--learning-rate", type=float, metavar="ETA", help="Adam learning rate (default 0.001)")
    p.add_argument("--tau-init", type=float, metavar="TAU", help="initial threshold (default 0.25)")
    p.add_argument("--history-points", type=positive_int_arg, default=1000, metavar="N",
                   help="epochs kept in the sampled histories (b, tau, loss, ...; default "
                        "1000); the log10 e-ratio is kept for every epoch")
    p.add_argument("--splits", metavar="JSON", help="import the folds from this JSON file (see astra_np.study.splits)")
    p.add_argument("--name", help="data set name in the table (default: file name and IR)")
    p.add_argument("--combine", nargs="+", metavar="RESULTS_DIR",
                   help="run nothing: write one table (a block per data set) and the Fig. 4 "
                        "panels of these results directories to --out")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.add_argument("--out", required=True, metavar="DIR", help="results directory (resumed if it exists)")
    return p


def main(argv=None):
    r"""``python -m astra_np experiment ...``; returns the exit code (130 when interrupted)."""
    args = _build_parser().parse_args(argv)
    repeats = args.repeats or (QUICK["repeats"] if args.quick else 10)
    epochs = args.epochs or (QUICK["epochs"] if args.quick else 10000)
    if args.combine:
        from .report import write_report
        try:
            for path in write_report(args.combine, out_dir=args.out):
                print(f"wrote {path}")
        except (ValueError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    try:
        if args.data:
            X, y = load_dataset(args.data, label=args.label, minority=args.minority,
                                fmt=args.fmt, delimiter=args.delimiter)
            base = os.path.splitext(os.path.basename(args.data))[0]
        else:
            from .datasets import make_imbalanced
            kw = dict(n_samples=QUICK["n_samples"], n_positives=QUICK["n_positives"]) if args.quick else {}
            X, y = make_imbalanced(**kw)
            base = "builtin"
        source = args.data or "built-in data"
        check_cv_feasible(y, args.folds, source=source)
        splits = load_splits(args.splits, y) if args.splits else None
        positives = splits.positives if splits is not None else args.positives
        m1 = int(y.sum())
        k = positives or m1
        if k > m1:
            raise ValueError(f"{source}: --positives {k} but the data hold only {m1} positives")
        ir_variant = (y.size - m1) / k
        name = args.name or f"{base}-{round(ir_variant)}"
        print(f"data: {source}: {y.size} rows, {X.shape[1]} features, {m1} positives "
              f"(IR {(y.size - m1) / m1:.2f})" +
              (f"; undersampled variant: {k} positives per repeat (IR {ir_variant:.2f})"
               if k != m1 else ""), file=sys.stderr)
        params = {}
        if args.learning_rate is not None:
            params["learning_rate"] = args.learning_rate
        if args.tau_init is not None:
            params["tau_init"] = args.tau_init
        result = run_experiment(
            X, y, args.out, dataset=name, positives=positives, repeats=repeats,
            folds=args.folds, epochs=epochs, methods=args.methods, seed=args.seed,
            standardize=args.standardize, estimator_params=params,
            history_points=args.history_points, splits=splits, workers=args.workers,
            progress=args.progress)
    except cf.BrokenExecutor as exc:
        print(f"error: a worker process died ({exc}); the folds finished before are stored "
              f"in {args.out}: rerun the same command to resume", file=sys.stderr)
        return 2
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stopped before the first fold", file=sys.stderr)
        return 130
    if result.interrupted:
        print(f"stopped: {len(result.records)} of {result.total} folds are stored in "
              f"{result.out}; rerun the same command to resume", file=sys.stderr)
        return 130
    print(f"{len(result.records)} of {result.total} folds in {result.out}")
    for path in result.report_files:
        print(f"wrote {path}")
    return 0 if result.complete else 1
