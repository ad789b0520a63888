r"""Architecture selection on the validation fold, inside the protocol and outside it.

The paper keeps to one hidden layer of :math:`n_h = \lceil (n_x + n_y)/2 \rceil` units
(Section 4.2) and adds (Section 6) that "for complex problems it is essential to explore
the space of model architectures". This module does that exploration without touching
the test fold:

* a **candidate** is a hidden-layer tuple, e.g. ``(32,)`` or ``(64, 32)``, or
  ``"paper"``, the paper's rule (:func:`astra_np.learn.nn.default_hidden_sizes`); on the
  command line ``--select-hidden "paper;32;64,32"`` (candidates separated by ``;``,
  layers by ``,``);
* per fold and method every candidate is trained on the training folds with the usual
  best-on-validation epoch (the validation fold, monitor :math:`FNR_{apx}`) and scored
  on the validation fold at the kept epoch;
* a **criterion** of :data:`CRITERIA` picks one candidate; only then is the test fold
  read, and the chosen candidate's test metrics are the fold's result.

Criteria (:data:`CRITERIA`; larger is better, compared in order, then the smaller network
(fewer weights and biases), then the earlier candidate):

``g_mean`` (default)
    counted G-Mean (Eq. 3) of the validation fold, then the approximated G-Mean.
``mcc``
    counted MCC (Eq. 2) of the validation fold, then the approximated G-Mean.
``g_mean_apx``
    approximated G-Mean (one minus GMN, Eq. 9, on the validation logits), then the
    counted G-Mean.

Why the default is the counted G-Mean: it is the quantity the protocol reports on the
test fold (Table 2), so the choice targets what is measured, at the operating point the
classifier actually uses (the threshold :math:`\tau`). A validation fold holds few
positives (one with the paper's five-positive variants), so the counted G-Mean takes few
values and ties are common; the approximated G-Mean, a continuous version of the same
quantity computed from the outputs, breaks them by how far the outputs sit on the right
side of the threshold. When both tie, the smaller network is kept: the paper's
preference, and the one less likely to have fitted the training folds' noise.

Inside the protocol (:func:`astra_np.study.protocol.run_experiment` with ``candidates``)
each candidate fit is a unit of work for the executor. Candidate fits are stored as they
finish, one append-only store per candidate (``candidates/<name>/folds.jsonl`` in the
results directory, :class:`astra_np.study.store.ResultsStore`), so a ``kill -9`` loses
none that finished and a resume refits nothing that finished; the candidate records hold
the kept network's weights, which is what lets the test fold be read only after the
choice. When the last candidate of a fold and method is stored, the fold record is
written: the chosen candidate's test metrics and fit (history, b, tau, ...), with
``hidden_layer_sizes`` and ``selection``, the criterion, the chosen candidate, and per
candidate its validation scores and (computed after the choice) its test metrics.
"""
import math
import os
from dataclasses import dataclass

import numpy as np

from .. import __version__
from ..core._validation import is_integer
from ..core.registry import DEFAULT_METHOD, get_method
from .store import ResultsStore

__all__ = ["QUICK", "Candidate", "Criterion", "CRITERIA", "PAPER", "MAX_HIDDEN_LAYERS", "MAX_LAYER_UNITS",
           "MAX_PARAMETERS", "parse_candidates", "check_candidates", "get_criterion", "choose",
           "validation_scores", "select_architecture", "SelectionPlan", "SELECTED_SUFFIX"]

#: Spelling of the paper's :math:`n_h` rule as a candidate.
PAPER = "paper"
#: Size bound of a candidate network: hidden layers, units per layer, and weights and
#: biases on the data's features (checked before anything is trained or written). A
#: candidate record stores its kept weights: about 2 MB of JSON at the bound.
MAX_HIDDEN_LAYERS = 8
MAX_LAYER_UNITS = 4096
MAX_PARAMETERS = 100_000
#: ``--quick`` with ``--select-hidden``: one repeat and 500 epochs (instead of 2 and 1000), so
#: that ``experiment --quick --select-hidden "paper;32;64,32"`` (about fifteen times the CPU
#: time of the paper's network alone) runs in well under a minute on two cores.
QUICK = dict(repeats=1, epochs=500)
#: Column suffix of a method run with selection in the report (``gmn-astra+sel``).
SELECTED_SUFFIX = "+sel"
_VALIDATION_KEYS = ("val_g_mean", "val_mcc", "val_g_mean_apx", "val_tp", "val_fp", "val_tn", "val_fn")
_CANDIDATE_ONLY = ("candidate", "hidden_layer_sizes", "n_parameters", "params", "positive_label",
                   *_VALIDATION_KEYS)


# ---------------------------------------------------------------------------
# Candidates
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    r"""A candidate network: ``sizes`` the hidden layers, ``None`` for the paper's rule."""

    sizes: tuple = None

    @property
    def name(self):
        r"""``"paper"`` or the sizes joined by commas (``"64,32"``), as on the command line."""
        return PAPER if self.sizes is None else ",".join(map(str, self.sizes))

    def resolve(self, n_features):
        r"""The hidden-layer sizes on ``n_features`` inputs."""
        from ..learn.nn import default_hidden_sizes

        return default_hidden_sizes(n_features) if self.sizes is None else self.sizes

    def n_parameters(self, n_features):
        r"""Weights and biases of the network on ``n_features`` inputs (the output's beta not counted)."""
        sizes = (int(n_features), *self.resolve(n_features), 1)
        return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))


def _candidate(value):
    r"""One candidate from ``"paper"``/None, an int, a sequence of ints or ``"64,32"``."""
    if value is None or (isinstance(value, str) and value.strip() == PAPER):
        return Candidate()
    if isinstance(value, Candidate):
        return value
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
        if not all(p.isdigit() for p in parts):
            raise ValueError(f"candidates: {value!r} is neither {PAPER!r} nor hidden-layer sizes "
                             f"(positive integers separated by commas, e.g. '64,32')")
        value = tuple(int(p) for p in parts)
    sizes = (value,) if is_integer(value) else value
    try:
        sizes = tuple(sizes)
    except TypeError:
        raise ValueError(f"candidates: {value!r} is not a hidden-layer tuple or {PAPER!r}") from None
    if not sizes or not all(is_integer(s) and s >= 1 for s in sizes):
        raise ValueError(f"candidates: hidden-layer sizes must be positive integers, got {value!r}")
    return Candidate(tuple(int(s) for s in sizes))


def parse_candidates(text):
    r"""The candidates of ``--select-hidden``: ``"paper;32;64,32"`` -> three candidates.

    Only the spelling is checked here; :func:`check_candidates` checks the list.

    >>> [c.name for c in parse_candidates("paper; 32; 64,32")]
    ['paper', '32', '64,32']
    """
    parts = [p.strip() for p in str(text).split(";")]
    if not any(parts):
        raise ValueError(f"candidates: no candidate in {text!r}; give e.g. 'paper;32;64,32'")
    if not all(parts):
        raise ValueError(f"candidates: an empty candidate in {text!r} (two ';' in a row or at an end)")
    return [_candidate(p) for p in parts]


def check_candidates(candidates, n_features):
    r"""The candidate list as :class:`Candidate` objects, checked against the size bound.

    Refused (``ValueError``, one line naming the candidate): an empty list, a candidate
    that is not ``"paper"`` or positive integer sizes, more than :data:`MAX_HIDDEN_LAYERS`
    layers, a layer above :data:`MAX_LAYER_UNITS` units, more than :data:`MAX_PARAMETERS`
    weights and biases on ``n_features`` inputs, and two candidates that are the same
    network here (``"paper"`` is the network of the paper's rule on these features).
    """
    if isinstance(candidates, (str, bytes)):
        candidates = parse_candidates(candidates)
    try:
        out = [_candidate(c) for c in candidates]
    except TypeError:
        raise ValueError(f"candidates must be a sequence of candidates, got {candidates!r}") from None
    if not out:
        raise ValueError("candidates: the list is empty; give at least one network")
    seen = {}
    for c in out:
        sizes = c.resolve(n_features)
        if len(sizes) > MAX_HIDDEN_LAYERS or max(sizes) > MAX_LAYER_UNITS:
            raise ValueError(f"candidates: {c.name!r} is beyond the size bound of {MAX_HIDDEN_LAYERS} "
                             f"hidden layers of at most {MAX_LAYER_UNITS} units")
        n = c.n_parameters(n_features)
        if n > MAX_PARAMETERS:
            raise ValueError(f"candidates: {c.name!r} has {n} weights and biases on {n_features} features, "
                             f"beyond the bound of {MAX_PARAMETERS}")
        if sizes in seen:
            raise ValueError(f"candidates: {seen[sizes]!r} and {c.name!r} are the same network {sizes} on "
                             f"{n_features} features; list each network once")
        seen[sizes] = c.name
    return out


# ---------------------------------------------------------------------------
# Criteria
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Criterion:
    r"""A selection criterion: validation scores compared in ``scores`` order (larger is
    better), then the smaller network, then the earlier candidate."""

    name: str
    scores: tuple

    def key(self, row, index):
        r"""Sort key of a candidate's row (its validation scores and ``n_parameters``); the
        largest key wins. A missing or non-finite score ranks below every finite one."""
        values = []
        for s in self.scores:
            v = row.get(s)
            values.append(float(v) if v is not None and math.isfinite(v) else -math.inf)
        return (*values, -int(row["n_parameters"]), -index)

    def describe(self):
        r"""The rule in words, e.g. "counted G-Mean of the validation fold; ties: approximated
        G-Mean, then the smaller network"."""
        first, *rest = (_SCORE_LABELS[s] for s in self.scores)
        return f"{first} of the validation fold; ties: {', then '.join([*rest, 'the smaller network'])}"


_SCORE_LABELS = {"val_g_mean": "counted G-Mean", "val_mcc": "counted MCC",
                 "val_g_mean_apx": "approximated G-Mean"}


#: The selection criteria by name (see the module docstring for why ``g_mean`` is the default).
CRITERIA = {c.name: c for c in (
    Criterion("g_mean", ("val_g_mean", "val_g_mean_apx")),
    Criterion("mcc", ("val_mcc", "val_g_mean_apx")),
    Criterion("g_mean_apx", ("val_g_mean_apx", "val_g_mean")),
)}


def get_criterion(name):
    r"""The :class:`Criterion` called ``name``; ``ValueError`` naming the known ones otherwise."""
    if not isinstance(name, str) or name not in CRITERIA:
        raise ValueError(f"selection: unknown criterion {name!r}; choose from {', '.join(CRITERIA)}")
    return CRITERIA[name]


def choose(rows, criterion="g_mean"):
    r"""Index of the chosen candidate among ``rows`` (mappings of validation scores and
    ``n_parameters``, in candidate order) by ``criterion``.

    >>> rows = [dict(val_g_mean=0.9, val_g_mean_apx=0.7, val_mcc=0.3, n_parameters=60),
    ...         dict(val_g_mean=0.9, val_g_mean_apx=0.8, val_mcc=0.2, n_parameters=900)]
    >>> choose(rows), choose(rows, "mcc")
    (1, 0)
    """
    crit = get_criterion(criterion) if isinstance(criterion, str) else criterion
    return max(range(len(rows)), key=lambda i: crit.key(rows[i], i))


def validation_scores(clf, X_val, y_val):
    r"""Validation scores of a fitted :class:`~astra_np.learn.estimator.ASTraClassifier`
    at its kept epoch: the counted confusion matrix (Eq. 1; prediction positive iff the
    pre-activation is >= 0), its G-Mean (Eq. 3) and MCC (Eq. 2), and the approximated
    G-Mean, one minus GMN (Eq. 9) of the approximated confusion matrix (Eq. 8) of the
    validation logits in the space the trainer monitors (``metrics_on``)."""
    from ..core.metrics import confusion_matrix, g_mean, mcc
    from ..learn.preprocess import standardize_rows
    from ..learn.train import approx_counts

    y01 = clf._labels_to01(np.asarray(y_val), "y_val")
    pred = clf._labels_to01(np.asarray(clf.predict(X_val)), "prediction")
    cm = np.asarray(confusion_matrix(y01, pred))
    (tn, fp), (fn, tp) = cm.tolist()
    Xs = standardize_rows(np.asarray(X_val, dtype=np.float64), clf.mean_, clf.scale_, "X_val")
    apx = approx_counts(clf.params_, Xs, y01, method=clf.method, metrics_on=getattr(clf, "metrics_on", "z"))
    return {"val_g_mean": float(g_mean(cm)), "val_mcc": float(mcc(cm)), "val_g_mean_apx": float(apx.g_mean()),
            "val_tp": int(tp), "val_fp": int(fp), "val_tn": int(tn), "val_fn": int(fn)}


# ---------------------------------------------------------------------------
# Outside the protocol
# ---------------------------------------------------------------------------
def select_architecture(X, y, *, validation_data, candidates=(PAPER, (32,), (64, 32)),
                        method=DEFAULT_METHOD, selection="g_mean", **params):
    r"""Train every candidate network on ``(X, y)``, choose one on ``validation_data``.

    Each candidate is an :class:`~astra_np.learn.estimator.ASTraClassifier` with
    ``hidden_layer_sizes`` the candidate and ``params`` (e.g. ``epochs``,
    ``random_state``), fitted with ``validation_data`` as its validation fold: the kept
    epoch is the best on it, as in the paper. The criterion (:data:`CRITERIA`) then
    compares the candidates' scores on the same fold (:func:`validation_scores`).

    Parameters
    ----------
    X, y : array_like
        Training rows and labels.
    validation_data : (X_val, y_val)
        The validation fold (required: it both keeps the best epoch and chooses).
    candidates : sequence
        Hidden-layer tuples, ints, ``"64,32"`` strings, or ``"paper"`` for the paper's
        :math:`n_h` rule (checked by :func:`check_candidates`).
    method : str
        A registered method (:func:`astra_np.core.registry.method_names`).
    selection : str
        A criterion of :data:`CRITERIA`.
    **params
        Further ``ASTraClassifier`` parameters (not ``hidden_layer_sizes``).

    Returns
    -------
    clf : ASTraClassifier
        The chosen candidate, fitted.
    table : list of dict
        One row per candidate, in candidate order: ``candidate``, ``hidden_layer_sizes``,
        ``n_parameters``, ``best_epoch``, the scores of :func:`validation_scores`, and
        ``chosen``.
    """
    from ..learn.estimator import ASTraClassifier
    from ..learn.preprocess import _check_X

    if "hidden_layer_sizes" in params:
        raise ValueError("hidden_layer_sizes: give the networks as candidates, not as a parameter")
    get_method(method)
    crit = get_criterion(selection)
    n_features = _check_X(X).shape[1]
    cands = check_candidates(candidates, n_features)
    fitted, table = [], []
    for c in cands:
        clf = ASTraClassifier(method=method, hidden_layer_sizes=c.sizes, **params)
        clf.fit(X, y, validation_data=validation_data)
        fitted.append(clf)
        table.append({"candidate": c.name, "hidden_layer_sizes": c.resolve(n_features),
                      "n_parameters": c.n_parameters(n_features), "best_epoch": clf.best_epoch_,
                      **validation_scores(clf, *validation_data)})
    best = choose(table, crit)
    for i, row in enumerate(table):
        row["chosen"] = i == best
    return fitted[best], table


# ---------------------------------------------------------------------------
# Inside the protocol
# ---------------------------------------------------------------------------
def _params_to_json(params):
    beta = float(params.beta)
    return {"weights": [w.tolist() for w in params.weights], "biases": [b.tolist() for b in params.biases],
            "beta": beta if math.isfinite(beta) else None}


def _params_from_json(doc):
    from ..learn.nn import MLPParams

    beta = math.nan if doc["beta"] is None else float(doc["beta"])
    return MLPParams(tuple(np.asarray(w, dtype=np.float64) for w in doc["weights"]),
                     tuple(np.asarray(b, dtype=np.float64) for b in doc["biases"]), beta)


def run_candidate(task):
    r"""Fit one candidate on the training folds, score it on the validation fold, and
    return its JSON-ready record (with the kept weights; no test metric).

    ``task`` is a :class:`astra_np.study.protocol.FoldTask` without test rows
    (``X_test``, ``y_test`` None) whose ``estimator_params`` name the candidate's
    ``hidden_layer_sizes`` (None: the paper's rule)."""
    import warnings

    from .protocol import _fit_fields, _fold_identity, _make_classifier, _standardise

    Xt, Xv = task.X_train, task.X_val
    if task.standardize:
        Xt, Xv = _standardise(Xt, Xv)
    candidate = Candidate(task.estimator_params["hidden_layer_sizes"])
    clf = _make_classifier(task)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(Xt, task.y_train, validation_data=(Xv, task.y_val))
        scores = validation_scores(clf, Xv, task.y_val)
    record = _fold_identity(task)
    record.update(scores)
    record.update(_fit_fields(clf, caught, task.history_points))
    record.update(candidate=candidate.name, hidden_layer_sizes=list(clf.params_.layer_sizes[1:-1]),
                  n_parameters=candidate.n_parameters(Xt.shape[1]), params=_params_to_json(clf.params_),
                  positive_label=int(clf.classes_[clf._pos_index_]))
    return record


def _candidate_key(record):
    return record["repeat"], record["rotation"], record["method"], record["candidate"]


class _CandidateSink:
    r"""Stores each finished candidate fit in its candidate's store; when the last
    candidate of a fold and method is in, writes the fold record to the fold store."""

    def __init__(self, plan, fold_store, groups, context):
        self.plan, self.fold_store, self.groups, self.context = plan, fold_store, groups, context

    def append(self, record):
        self.fold_store.fix_configuration()   # a candidate fit is the run's unit of work
        self.plan.stores[record["candidate"]].append(record)
        key = (record["repeat"], record["rotation"], record["method"])
        group = self.groups.setdefault(key, {})
        group[record["candidate"]] = record
        if len(group) == len(self.plan.candidates):
            self.fold_store.append(self.plan.fold_record(key, self.groups.pop(key), self.context))


@dataclass
class SelectionPlan:
    r"""Architecture selection in a protocol run: the checked candidates and criterion,
    their stores, the units of work and the fold records (see the module docstring)."""

    candidates: list
    criterion: Criterion
    stores: dict = None

    @classmethod
    def checked(cls, candidates, selection, n_features, params, estimator):
        r"""The plan, or ``ValueError`` (before anything is written) for a bad candidate list,
        an unknown criterion, ``hidden_layer_sizes`` among the parameters, or an estimator
        that does not take ``hidden_layer_sizes``."""
        from .protocol import _accepts, _factory

        crit = get_criterion("g_mean" if selection is None else selection)
        if "hidden_layer_sizes" in params:
            raise ValueError("estimator_params: hidden_layer_sizes is set by the candidates; leave it out")
        if not _accepts(_factory(estimator), "hidden_layer_sizes"):
            raise ValueError("estimator: architecture selection needs an estimator with hidden_layer_sizes")
        return cls(check_candidates(candidates, n_features), crit)

    def config(self):
        r"""The configuration entries of the selection (a resume with others is refused)."""
        return {"candidates": [c.name for c in self.candidates], "selection": self.criterion.name}

    def open(self, fold_store, pending, context, config):
        r"""Open the candidate stores, write the fold records whose candidates are all stored,
        and return the candidate fits still to do as the run's work."""
        from .protocol import _Work

        self.stores = {}
        wanted = set(pending)
        groups = {}
        for c in self.candidates:
            name = PAPER if c.sizes is None else "-".join(map(str, c.sizes))
            store = ResultsStore(os.path.join(fold_store.directory, "candidates", name))
            self.stores[c.name] = store
            for record in store.open(dict(config, candidate=c.name), __version__):
                key = (record["repeat"], record["rotation"], record["method"])
                if key in wanted:
                    groups.setdefault(key, {})[c.name] = record
        todo = []
        for key in pending:
            group = groups.get(key, {})
            if len(group) == len(self.candidates):  # stopped between the last fit and the fold record
                fold_store.append(self.fold_record(key, groups.pop(key), context))
            todo += [(*key, c.name) for c in self.candidates if c.name not in group]
        run = context[3]
        total = run["repeats"] * run["folds"] * len(run["methods"]) * len(self.candidates)
        return _Work(todo, self._task_maker(context), _CandidateSink(self, fold_store, groups, context),
                     total, run=run_candidate, key_of=_candidate_key, unit="candidate fits")

    def _task_maker(self, context):
        from .protocol import FoldTask, fold_seed

        X, y, splits, run, estimator = context
        by_name = {c.name: c for c in self.candidates}

        def make_task(key):
            r, k, m, name = key
            tr, va, _ = splits.rotation(r, k)  # the test rows stay here
            params = dict(run["params"], hidden_layer_sizes=by_name[name].sizes)
            return FoldTask(dataset=run["dataset"], repeat=r, rotation=k, val_fold=(k + 1) % run["folds"],
                            method=m, X_train=X[tr], y_train=y[tr], X_val=X[va], y_val=y[va],
                            X_test=None, y_test=None, random_state=fold_seed(run["seed"], r, k),
                            standardize=run["standardize"], estimator_params=params,
                            history_points=run["history_points"], estimator=estimator)

        return make_task

    def fold_record(self, key, group, context):
        r"""The fold record of one fold and method from its candidates' records: the choice
        first (validation scores only), then every candidate's test metrics."""
        from ..learn.nn import forward
        from ..learn.preprocess import standardization, standardize_rows
        from .protocol import _test_fields

        rows = [group[c.name] for c in self.candidates]
        best = choose(rows, self.criterion)
        # The choice is made: the test fold is read from here on.
        X, y, splits, run, _ = context
        tr, _, te = splits.rotation(key[0], key[1])
        X_test, y_test = X[te], y[te]
        if run["standardize"]:
            mu, sd = standardization(X[tr], "X_train")
            X_test = standardize_rows(X_test, mu, sd, "X_test")
        tests = []
        for row in rows:
            with np.errstate(over="ignore", invalid="ignore"):
                x, _ = forward(_params_from_json(row["params"]), X_test)
            if not np.all(np.isfinite(x)):
                raise ValueError(f"X_test: the output of candidate {row['candidate']!r} overflows float64 "
                                 f"on the test fold of repeat {key[0]}, rotation {key[1]}")
            pos = row["positive_label"]
            tests.append(_test_fields(y_test, np.where(x >= 0, pos, 1 - pos).astype(np.int64)))
        record = {k: v for k, v in rows[best].items() if k not in _CANDIDATE_ONLY}
        record.update(tests[best])
        record["hidden_layer_sizes"] = rows[best]["hidden_layer_sizes"]
        record["selection"] = {
            "criterion": self.criterion.name, "chosen": rows[best]["candidate"],
            "candidates": [{**{k: row[k] for k in ("candidate", "hidden_layer_sizes", "n_parameters",
                                                    "best_epoch", *_VALIDATION_KEYS)},
                            "test": {k: t[k] for k in ("tp", "fp", "tn", "fn", "g_mean", "mcc")}}
                           for row, t in zip(rows, tests)],
        }
        return record

    def finish(self, interrupted):
        r"""Put every complete candidate store in canonical order (same seed, same bytes)."""
        if interrupted:
            return
        for store in self.stores.values():
            store.finalize(lambda r: (r["repeat"], r["rotation"], r["method"]))

    def close(self):
        for store in (self.stores or {}).values():
            store.close()


# ---------------------------------------------------------------------------
# The report's view of selected folds
# ---------------------------------------------------------------------------
def column_of(record):
    r"""The report column of a fold record: its method, with :data:`SELECTED_SUFFIX` when
    the network was chosen by selection."""
    return record["method"] + (SELECTED_SUFFIX if "selection" in record else "")


def method_of(column):
    r"""The method of a report column."""
    return column[: -len(SELECTED_SUFFIX)] if column.endswith(SELECTED_SUFFIX) else column


def column_label(column):
    r"""The table heading of a column: the method's label, ``(sel.)`` when selected."""
    label = get_method(method_of(column)).label
    return f"{label} (sel.)" if column.endswith(SELECTED_SUFFIX) else label


def with_fixed_columns(records):
    r"""``records`` and, for every selected fold whose candidates include the paper's
    network and whose fixed fold is not among ``records``, that fold as the fixed protocol
    gives it: the ``paper`` candidate is the fixed protocol's network, trained with the
    same seed on the same folds, so its test metrics are that fold's. Returns
    ``(records, derived)``, ``derived`` the number of folds added."""
    have = {(r.get("dataset", ""), r["repeat"], r["rotation"], column_of(r)) for r in records}
    out = list(records)
    for r in records:
        if "selection" not in r or (r.get("dataset", ""), r["repeat"], r["rotation"], r["method"]) in have:
            continue
        for c in r["selection"]["candidates"]:
            if c["candidate"] == PAPER:
                out.append({"dataset": r.get("dataset", ""), "repeat": r["repeat"], "rotation": r["rotation"],
                            "method": r["method"], **c["test"]})
    return out, len(out) - len(records)


def format_choices(records):
    r"""Markdown: per data set and method, how often each candidate was chosen, the mean
    test G-Mean and MCC each candidate would have had if always used, the selected one's,
    and the best per-fold choice in hindsight (an upper bound that reads the test fold;
    never used to choose). Empty when no record comes from selection."""
    groups = {}
    for r in records:
        if "selection" in r:
            groups.setdefault((r.get("dataset", ""), r["method"]), []).append(r)
    if not groups:
        return ""
    crits = sorted({r["selection"]["criterion"] for recs in groups.values() for r in recs})
    lines = ["Architecture selection on the validation fold (criterion: "
             + "; ".join(get_criterion(c).describe() for c in crits) + "). Test-fold means per candidate:",
             "", "| data set | method | candidate | chosen | G-Mean | MCC |", "|---|---|---|---|---|---|"]
    for (ds, method), recs in sorted(groups.items(), key=lambda kv: (kv[0][0], _method_rank(kv[0][1]))):
        label = get_method(method).label
        names = [c["candidate"] for c in recs[0]["selection"]["candidates"]]
        for name in names:
            tests = [next(c for c in r["selection"]["candidates"] if c["candidate"] == name) for r in recs]
            chosen = sum(r["selection"]["chosen"] == name for r in recs)
            sizes = ",".join(map(str, tests[0]["hidden_layer_sizes"]))
            shown = f"{name} ({sizes})" if name == PAPER else name
            lines.append(f"| {ds} | {label} | {shown} | {chosen} of {len(recs)} | "
                         f"{_mean(t['test']['g_mean'] for t in tests)} | {_mean(t['test']['mcc'] for t in tests)} |")
        lines.append(f"| {ds} | {label} | **selected** | | {_mean(r['g_mean'] for r in recs)} | "
                     f"{_mean(r['mcc'] for r in recs)} |")
        best = [max(c["test"]["g_mean"] for c in r["selection"]["candidates"]) for r in recs]
        lines.append(f"| {ds} | {label} | best per fold in hindsight | | {_mean(best)} | |")
    return "\n".join(lines) + "\n"


def _method_rank(method):
    from ..core.registry import method_names

    return list(method_names()).index(method)


def _mean(values):
    values = list(values)
    return f"{sum(values) / len(values):.3f}"
