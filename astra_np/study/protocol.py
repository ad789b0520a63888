r"""The paper's experiment protocol (Section 4): R x K CV, the paper's four methods by default, resumable, parallel.

For every repeat ``r`` and rotation ``k`` of :mod:`astra_np.study.splits` (test fold ``k``,
validation fold ``(k + 1) mod K``, training the other K - 2 folds) and for every
method of :data:`astra_np.core.losses.METHODS` (Section 4.2, in the paper's order) one
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
   only: every method of a rotation starts from the same initial weights, so the
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

Architecture selection (opt-in, ``candidates=``; :mod:`astra_np.study.selection`): per
fold and method every candidate network is trained as above and scored on the
validation fold; a criterion (default: the counted G-Mean of the validation fold) picks
one before the test fold is read, and its test metrics are the fold's. Each candidate
fit is then a unit of work for the executor, stored as it finishes, and the fold record
adds ``hidden_layer_sizes`` and ``selection`` (every candidate's validation scores and
test metrics, the chosen one, the criterion).

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

Ctrl-C stops the run at once: folds already finished are kept (they were written when
they finished), folds in flight are abandoned (the default pool's workers ignore SIGINT;
the main process cancels the queued folds and terminates the workers without waiting
for them), and rerunning the same command resumes, running the abandoned folds again. The
default pool's workers use one BLAS thread each (via threadpoolctl, when installed), as
the pool itself already occupies the cores. If a worker process dies (killed, out of
memory), the run stops with an error; finished folds are kept and a rerun resumes.

Command line (:mod:`astra_np.cli.experiment`)
---------------------------------------------
``python -m astra_np experiment --data FILE [--label COL] [--minority LABEL]
[--positives 5] [--repeats 10] [--folds 5] [--epochs 10000] [--methods ...]
[--workers N] [--quick] [--seed S] [--select-hidden "paper;32;64,32" [--select-by g_mean]]
--out DIR``. Without ``--data`` the built-in data
set :func:`astra_np.study.datasets.make_imbalanced` is used (``--quick``: a smaller version
with 2 repeats and 1000 epochs, which runs in seconds to a minute).
"""
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

from .._version import __version__
from ..core._validation import check_features_and_labels, check_size
from ..core.losses import METHODS
from ..core.plugins import load_plugins, loaded_plugins, plugin_of
from ..core.registry import get_method, losses, paper_method_names
from .data import check_cv_feasible, dataset_fingerprint, imbalance_ratio
from .splits import make_splits
from .store import ConfigMismatchError, ResultsStore

__all__ = ["run_experiment", "run_fold", "FoldTask", "ExperimentResult", "SerialExecutor",
           "METHOD_ORDER", "QUICK", "fold_seed"]

#: The default methods: the paper's four (Section 4.2), in column order
#: (:func:`astra_np.core.registry.paper_method_names`). Any of
#: :data:`astra_np.core.losses.METHODS` may be run.
METHOD_ORDER = tuple(paper_method_names())
HISTORY_DIGITS = 7
FULL_HISTORY_KEYS = ("log10_e_ratio",)
QUICK = dict(repeats=2, epochs=1000, n_samples=6000, n_positives=10)


def fold_seed(seed, repeat, rotation):
    r"""The estimator's ``random_state`` for a rotation (shared by every method)."""
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
    r"""Everything one fold needs; picklable, so it can travel to any executor. A candidate
    fit of architecture selection (:mod:`astra_np.study.selection`) has no test rows
    (``X_test``, ``y_test`` None)."""

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
    if n == 0:  # no epoch completed
        return full, {"epoch": []}
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
    from ..learn.preprocess import standardization, standardize_rows

    mu, sd = standardization(X_train, "X_train")  # a constant column is centred only
    return [standardize_rows(A, mu, sd, name) for A, name in zip((X_train,) + others, ("X_train", "X_val", "X_test"))]


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


def _int_or_none(value):
    return None if value is None else int(value)


def _make_classifier(task, **overrides):
    r"""The estimator of a task: ``task.estimator`` (default ``ASTraClassifier``) with the
    task's method, seed and parameters (``overrides`` on top)."""
    factory = task.estimator
    if factory is None:
        from ..learn.estimator import ASTraClassifier as factory
    kwargs = dict(task.estimator_params, **overrides)
    if "standardize" not in kwargs and _accepts(factory, "standardize"):
        kwargs["standardize"] = False  # done by the protocol (or switched off): not twice
    return factory(method=task.method, random_state=task.random_state, **kwargs)


def _fold_identity(task):
    r"""The fields naming a fold and the sizes of its training and validation folds."""
    return {
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
    }


def _test_fields(y_test, pred):
    r"""The test fold's size, counted confusion matrix (Eq. 1), G-Mean (Eq. 3) and MCC (Eq. 2)."""
    from ..core.metrics import confusion_matrix, g_mean, mcc

    cm = np.asarray(confusion_matrix(y_test, pred))
    (tn, fp), (fn, tp) = cm.tolist()
    return {"n_test": int(y_test.size), "n_test_pos": int(y_test.sum()),
            "tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn),
            "g_mean": float(g_mean(cm)), "mcc": float(mcc(cm))}


def _fit_fields(clf, caught, history_points):
    r"""What a fit leaves in the record: kept epoch, slope and threshold, stop flag,
    warnings and the stored histories."""
    cols = _history_columns(getattr(clf, "history_", None))
    b = getattr(clf, "slope_", None)
    tau = getattr(clf, "threshold_", None)
    fields = {
        "best_epoch": _int_or_none(getattr(clf, "best_epoch_", None)),
        "b": None if b is None else float(b),
        "tau": None if tau is None else float(tau),
        "b_last": _last(cols, "b"),
        "tau_last": _last(cols, "tau"),
        "n_epochs": _int_or_none(getattr(clf, "n_epochs_", None)),
        "epochs_off_fused_path": _int_or_none(getattr(clf, "epochs_off_fused_path_", None)),
        "stopped": bool(getattr(clf, "stopped_", False)),
        "warnings": sorted({f"{w.category.__name__}: {w.message}" for w in caught}),
    }
    fields["history"], fields["history_sampled"] = _store_history(cols, history_points)
    return fields


def run_fold(task):
    r"""Train one method on one rotation and return its JSON-ready record."""
    Xt, Xv, Xs = task.X_train, task.X_val, task.X_test
    if task.standardize:
        Xt, Xv, Xs = _standardise(Xt, Xv, Xs)
    clf = _make_classifier(task)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(Xt, task.y_train, validation_data=(Xv, task.y_val))
        pred = np.asarray(clf.predict(Xs)).astype(np.int64)
    record = _fold_identity(task)
    record.update(_test_fields(task.y_test, pred))
    record.update(_fit_fields(clf, caught, task.history_points))
    return record


_SHOWN = 12   # data sets and methods a summary names


def _first(names, n):
    """``names`` joined, the first ``n`` of them and how many more."""
    more = f" (+{len(names) - n} more)" if len(names) > n else ""
    return (", ".join(names[:n]) or "-") + more


@dataclass(repr=False)
class ExperimentResult:
    r"""Outcome of :func:`run_experiment`.

    ``str(result)`` and ``repr(result)`` are a short summary (:meth:`summary`): the
    directory, the data sets and methods, the folds done of those planned and the means
    of Table 2's metrics per method; the fold records (with their histories) are
    ``result.records``.
    """

    out: str
    records: list
    total: int
    complete: bool
    interrupted: bool = False
    new: int = 0
    report_files: list = field(default_factory=list)

    def summary(self):
        """The short summary: a few lines whatever the number of folds and methods."""
        from .report import METRICS
        from .selection import column_label, column_of

        state = "complete" if self.complete else ("interrupted" if self.interrupted else "incomplete")
        datasets = sorted({str(r.get("dataset", "")) for r in self.records})
        by_method = {}
        for r in self.records:
            by_method.setdefault(column_of(r), []).append(r)
        lines = [f"ExperimentResult({self.out!r}): {len(self.records)} of {self.total} folds "
                 f"done ({state}; {self.new} new in this run)",
                 f"  data set{'s' * (len(datasets) != 1)}: {_first(datasets, _SHOWN)}"]
        width = max([len(column_label(c)) for c in by_method] + [6])
        for c, recs in list(by_method.items())[:_SHOWN]:
            means = "  ".join(f"{label} {np.mean([float(r[key]) for r in recs]):.3f}"
                              for key, label in METRICS)
            lines.append(f"  {column_label(c):<{width}}  {means}  ({len(recs)} folds)")
        if len(by_method) > _SHOWN:
            lines.append(f"  (+{len(by_method) - _SHOWN} more methods)")
        lines.append("  records: result.records; Table 2: result.report_files"
                     if self.report_files else "  records: result.records")
        return "\n".join(lines)

    __str__ = __repr__ = summary


class _Progress:
    def __init__(self, total, done, stream, enabled, unit="folds"):
        self.total, self.done0, self.done, self.unit = total, done, done, unit
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
        return (f"{self.unit} {self.done}/{self.total} ({pct:.0f}%)  elapsed {self._fmt(elapsed)}"
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


def _plugin_losses(methods):
    r"""``{loss name: plugin}`` of the methods' losses that a plugin registered."""
    out = {}
    for name in methods:
        loss = get_method(name).loss
        if not loss.builtin:
            out[loss.name] = plugin_of(loss.module)
    return out


def _worker_plugins():
    r"""What a worker imports to have this process's losses: the loaded plugins, then the
    modules that registered other losses (an ``import`` in the caller's code; not
    ``__main__``, which a spawned worker cannot import by name)."""
    modules = [plugin_of(loss.module) for loss in losses() if not loss.builtin and loss.module != "__main__"]
    return tuple(dict.fromkeys(loaded_plugins() + modules))


def _refuse_missing_plugins(store):
    r"""Refuse to resume a run whose plugin losses are not registered here (one line)."""
    meta = store.read_meta()
    stored = (meta or {}).get("config", {}).get("plugin_losses") or {}
    registered = {loss.name for loss in losses()}
    missing = {name: plugin for name, plugin in stored.items() if name not in registered}
    if missing:
        shown = ", ".join(f"{name} (--plugin {plugin})" for name, plugin in sorted(missing.items()))
        raise ConfigMismatchError(f"{store.directory} holds results of plugin losses that are not loaded: {shown}; "
                                  "rerun with the same --plugin arguments to resume")


def _worker_init(plugins=()):
    r"""Process-pool worker set-up: load the parent's plugins (their losses are methods
    here too, whatever the start method), leave Ctrl-C to the main process (which stops
    the pool), exit when orphaned, and use one BLAS thread per worker (the pool already
    fills the cores) when threadpoolctl is installed."""
    global _BLAS_LIMIT
    load_plugins(plugins)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    _BLAS_LIMIT = threadpool_limits(limits=1, user_api="blas")


class _TrackingContext:
    r"""A multiprocessing context that remembers the worker processes it starts, so that
    Ctrl-C can stop them without reaching into the executor's internals."""

    def __init__(self, context):
        self._context = context
        self.processes = []

    def Process(self, *args, **kwargs):  # noqa: N802 - the multiprocessing name
        proc = self._context.Process(*args, **kwargs)
        self.processes.append(proc)
        return proc

    def __getattr__(self, name):
        return getattr(self._context, name)


@dataclass
class _Pool:
    r"""The executor running the folds, whether this run owns it, and its in-flight limit."""

    executor: cf.Executor
    own: bool
    limit: int
    context: _TrackingContext = None

    def stop_now(self):
        r"""Abandon the folds in flight: cancel what is queued, terminate the workers."""
        if not self.own:
            return
        self.executor.shutdown(wait=False, cancel_futures=True)
        procs = self.context.processes if self.context is not None else []
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        for proc in procs:
            proc.join(timeout=1.0)
            if proc.is_alive():  # pragma: no cover - SIGTERM ignored
                proc.kill()

    def close(self):
        if self.own:
            self.executor.shutdown(wait=True, cancel_futures=True)


def _make_pool(executor, workers, max_in_flight, n_pending):
    if executor is not None:
        return _Pool(executor, own=False, limit=max_in_flight or 16)
    workers = min(_default_workers() if workers is None else int(workers), max(n_pending, 1))
    limit = max_in_flight or 2 * workers
    if workers == 1:   # also when at most one fold is pending (workers is capped at them)
        return _Pool(SerialExecutor(), own=True, limit=limit)
    import multiprocessing

    context = _TrackingContext(multiprocessing.get_context())
    pool = cf.ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_init,
                                  initargs=(_worker_plugins(),))
    return _Pool(pool, own=True, limit=limit, context=context)


def _check_inputs(X, y, methods, sizes):
    r"""Validated ``(X, y, methods)``; every size of ``sizes`` (name -> value, None for
    "not given") is checked against :data:`astra_np.core._validation.SIZE_LIMITS`."""
    X, y = check_features_and_labels("X", X, "y", y)
    if isinstance(methods, str):
        raise ValueError(f"methods must be a list of method names, got the string {methods!r}")
    methods = list(methods)
    if not methods or len(set(methods)) != len(methods):
        raise ValueError(f"methods must be a non-empty list of distinct names, got {methods!r}")
    unknown = [m for m in methods if not isinstance(m, str) or m not in METHODS]
    if unknown:
        raise ValueError(f"methods: unknown method(s) {unknown!r}; choose from {list(METHODS)!r}")
    for name, value in sizes.items():
        if value is not None:
            check_size(name, value, minimum=3 if name == "folds" else 1)
    return X, y, methods


def _effective_params(estimator, params):
    r"""The estimator's parameters as they take effect: its declared defaults (JSON
    values only; not ``method``, ``random_state``, ``standardize``, which the protocol
    sets) updated by ``params``. Stored in the configuration, so that giving a default
    explicitly is the same configuration as omitting it."""
    factory = _factory(estimator)
    effective = {}
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
        signature = None
    for name, par in (signature.parameters.items() if signature is not None else ()):
        if name in ("method", "random_state", "standardize") or par.default is inspect.Parameter.empty:
            continue
        if par.default is None or isinstance(par.default, (bool, int, float, str)):
            effective[name] = par.default
    effective.update(params)
    return effective


def _factory(estimator):
    if estimator is None:
        from ..learn.estimator import ASTraClassifier

        return ASTraClassifier
    return estimator


def _check_estimator_params(estimator, methods, params, standardize):
    r"""Build the estimator of every method once and let it validate its parameters
    (``check_params``), so a bad value is refused before anything is written."""
    factory = _factory(estimator)
    kwargs = dict(params)
    if "standardize" not in kwargs and _accepts(factory, "standardize"):
        kwargs["standardize"] = False
    for method in methods:
        try:
            clf = factory(method=method, random_state=0, **kwargs)
        except TypeError as exc:
            raise ValueError(f"estimator_params: {exc}") from None
        check = getattr(clf, "check_params", None)
        if callable(check):
            check()


def _resolve_splits(y, splits, repeats, folds, seed, positives, dataset):
    if splits is None:
        check_cv_feasible(y, folds, source=dataset)
        splits = make_splits(y, n_repeats=repeats, n_folds=folds, seed=seed, positives=positives)
        return splits, repeats, folds, positives
    if splits.n_samples != y.size:
        raise ValueError(f"splits were made for {splits.n_samples} rows, the data have {y.size}")
    return splits, splits.n_repeats, splits.n_folds, splits.positives


def _make_config(X, y, splits, run, estimator, data_info):
    ir = [imbalance_ratio(y[splits.rows(r)]) for r in range(run["repeats"])]
    config = {
        "dataset": run["dataset"],
        "data_sha256": dataset_fingerprint(X, y),
        "n_samples": int(y.size), "n_features": int(X.shape[1]), "n_positives": int(y.sum()),
        "positives": run["positives"], "repeats": int(run["repeats"]), "folds": int(run["folds"]),
        "seed": int(run["seed"]), "methods": run["methods"], "standardize": bool(run["standardize"]),
        "estimator_params": _effective_params(estimator, run["params"]),
        "history_points": int(run["history_points"]),
        "splits_assignments_sha256": hashlib.sha256(splits.assignments.tobytes()).hexdigest(),
        "imbalance_ratio": float(np.mean(ir)),
    }
    if estimator is not None:
        name = getattr(estimator, "__qualname__", repr(estimator))
        config["estimator"] = f"{getattr(estimator, '__module__', '?')}.{name}"
    if data_info:
        config.update(data_info)
    return config


def _task_maker(X, y, splits, run, estimator):
    def make_task(key):
        r, k, m = key
        tr, va, te = splits.rotation(r, k)
        return FoldTask(dataset=run["dataset"], repeat=r, rotation=k, val_fold=(k + 1) % run["folds"],
                        method=m, X_train=X[tr], y_train=y[tr], X_val=X[va], y_val=y[va],
                        X_test=X[te], y_test=y[te], random_state=fold_seed(run["seed"], r, k),
                        standardize=run["standardize"], estimator_params=run["params"],
                        history_points=run["history_points"], estimator=estimator)

    return make_task


def _fold_key(record):
    return record["repeat"], record["rotation"], record["method"]


@dataclass
class _Work:
    r"""The units of work of a run: keys still to do, the function a worker runs on a
    unit's task, the sink storing each finished record, the key a record must carry,
    and the progress line's total and unit (``run=None``: :func:`run_fold`, looked up
    when the run starts)."""

    pending: list
    make_task: object
    store: object
    total: int
    run: object = None
    key_of: object = _fold_key
    unit: str = "folds"


def _run_folds(work, pool, bar):
    r"""Submit the pending units (at most ``pool.limit`` at a time) and store each record
    as it finishes. Returns ``(new, interrupted)``; on Ctrl-C the units finished so far
    are kept and those in flight are abandoned (they rerun on resume)."""
    in_flight, queue, new = {}, list(work.pending), 0
    run = run_fold if work.run is None else work.run

    def harvest(fut):
        nonlocal new
        key = in_flight.pop(fut)
        record = fut.result()  # re-raises a fold's error
        if work.key_of(record) != key:
            raise RuntimeError(f"fold {key!r} returned the record of another fold")
        work.store.append(record)
        new += 1
        bar.done += 1
        bar.update()

    try:
        while queue or in_flight:
            while queue and len(in_flight) < pool.limit:
                key = queue.pop(0)
                in_flight[pool.executor.submit(run, work.make_task(key))] = key
            finished, _ = cf.wait(list(in_flight), return_when=cf.FIRST_COMPLETED)
            for fut in sorted(finished, key=lambda f: in_flight[f]):
                harvest(fut)
    except KeyboardInterrupt:
        for fut in sorted(in_flight, key=lambda f: in_flight[f]):  # keep folds finished meanwhile
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                harvest(fut)
            else:
                fut.cancel()
        pool.stop_now()
        return new, True
    except BaseException:
        for fut in in_flight:
            fut.cancel()
        pool.stop_now()
        raise
    return new, False


def run_experiment(X, y, out, *, dataset="data", positives=None, repeats=10, folds=5,
                   epochs=10000, methods=METHOD_ORDER, seed=0, standardize=True,
                   estimator_params=None, history_points=1000, splits=None, executor=None,
                   workers=None, max_in_flight=None, progress=True, stream=None,
                   report=True, estimator=None, data_info=None, candidates=None, selection=None):
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
        Keys of :data:`astra_np.core.losses.METHODS` (default: the paper's four,
        :data:`METHOD_ORDER`).
    seed : int
        Fixes the splits and every initialisation.
    standardize : bool
        Standardise on the training folds' statistics.
    estimator_params : dict, optional
        Extra ``ASTraClassifier`` parameters (e.g. ``learning_rate``, ``tau_init``).
        Validated (the estimator's ``check_params``) before anything is written; the
        stored configuration holds the effective values (defaults filled in).
    history_points : int
        Maximum epochs kept per stored history (see the module docstring).
    splits : CVSplits, optional
        Use these folds (e.g. imported with :func:`astra_np.study.splits.load_splits`).
    executor : concurrent.futures.Executor, optional
        Runs the folds; not shut down here. Default: a process pool of ``workers``.
    workers : int, optional
        Size of the default pool (default: CPUs available; 1 runs in this process), never
        more than the folds still to run.
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
    candidates : sequence, optional
        Architecture selection on the validation fold (:mod:`astra_np.study.selection`):
        hidden-layer tuples, ``"paper"`` for the paper's :math:`n_h` rule. Every candidate
        is trained per fold and method; the one the ``selection`` criterion prefers on the
        validation fold gives the fold's test metrics. ``None`` (default): the paper's
        protocol, one network per fold.
    selection : str, optional
        Criterion of :data:`astra_np.study.selection.CRITERIA` (default ``"g_mean"``, the
        counted G-Mean of the validation fold); only with ``candidates``.

    Every size (``repeats``, ``folds``, ``epochs``, ``history_points``, ``workers``,
    ``max_in_flight``, ``positives``) is an integer with a maximum,
    :data:`astra_np.core._validation.SIZE_LIMITS`, checked before anything is allocated
    or written. The configuration is fixed (``meta.json``) when the first unit of work
    (a fold, or a candidate fit) is stored: a run refused or failed before that leaves no
    configuration to conflict with.

    Returns
    -------
    ExperimentResult
        ``new`` counts the units of work done by this call: folds, or candidate fits with
        ``candidates``.
    """
    X, y, methods = _check_inputs(X, y, methods, dict(
        epochs=epochs, history_points=history_points, workers=workers, max_in_flight=max_in_flight,
        repeats=None if splits is not None else repeats, folds=None if splits is not None else folds,
        positives=None if splits is not None else positives))
    splits, repeats, folds, positives = _resolve_splits(y, splits, repeats, folds, seed, positives, dataset)
    params = dict(estimator_params or {})
    params["epochs"] = int(epochs)
    _check_estimator_params(estimator, methods, params, standardize)
    plan = None
    if candidates is None and selection is not None:
        raise ValueError(f"selection={selection!r} needs candidates (the networks to choose from)")
    if candidates is not None:
        from .selection import SelectionPlan

        plan = SelectionPlan.checked(candidates, selection, X.shape[1], params, estimator)
    run = dict(dataset=dataset, positives=positives, repeats=repeats, folds=folds, seed=seed,
               methods=methods, standardize=standardize, params=params, history_points=history_points)
    config = _make_config(X, y, splits, run, estimator, data_info)
    plugin_losses = _plugin_losses(methods)
    if plugin_losses:
        config["plugin_losses"] = plugin_losses
    if plan is not None:
        config.update(plan.config())
    store = ResultsStore(out)
    _refuse_missing_plugins(store)
    existing = store.open(config, __version__)
    try:
        splits.to_json(os.path.join(store.directory, "splits.json"))
        done = {(r["repeat"], r["rotation"], r["method"]) for r in existing}
        pending = [(r, k, m) for r in range(repeats) for k in range(folds) for m in methods
                   if (r, k, m) not in done]
        total = repeats * folds * len(methods)
        work = _Work(pending, _task_maker(X, y, splits, run, estimator), store, total)
        if plan is not None:
            work = plan.open(store, pending, (X, y, splits, run, estimator), config)
        bar = _Progress(work.total, work.total - len(work.pending), sys.stderr if stream is None else stream,
                        progress, work.unit)
        bar.update(force=True)
        pool = _make_pool(executor, workers, max_in_flight, len(work.pending))
        try:
            new, interrupted = _run_folds(work, pool, bar)
        finally:
            bar.close()
        if not interrupted:
            pool.close()
        if plan is not None:
            plan.finish(interrupted)
        return _finish(store, total, methods, interrupted, new, report)
    finally:
        if plan is not None:
            plan.close()
        store.close()


def _finish(store, total, methods, interrupted, new, report):
    records = store.load()
    result = ExperimentResult(out=store.directory, records=records, total=total,
                              complete=len(records) == total, interrupted=interrupted, new=new)
    if result.complete:
        order = {m: i for i, m in enumerate(methods)}
        result.records = store.finalize(lambda r: (r["repeat"], r["rotation"], order[r["method"]]))
        if report:
            from .report import write_report

            result.report_files = write_report(store.directory)
    return result
