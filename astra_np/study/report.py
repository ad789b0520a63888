r"""Table 2 (and Fig. 4) from stored fold records.

Layout (the paper's Table 2): one block per data set, rows G-Mean and MCC, columns the
methods run, in the registry's order (the paper's: BCE, GMN without ASTra; BCE, GMN with
ASTra; then any others), each cell
``mean (std)`` over all folds (R x K test folds) with the sample standard deviation
(``ddof=1``; 0 for a single fold). Written as Markdown (``table.md``) and CSV
(``table.csv``, long form: one row per data set, metric and method), with the paired
p-values in ``pvalues.csv``.

Winners and ties (bold), decided per data set and metric:

1. the *best* method is the one with the highest mean (the first in column order on an
   exact tie);
2. every other method is compared with the best by a two-sided **Wilcoxon
   signed-rank test** over the folds, paired by (repeat, rotation)
   (:func:`scipy.stats.wilcoxon`, ``zero_method="wilcox"``: folds where both methods
   score the same are dropped; if every fold ties, p = 1);
3. bold = the best and every method whose p-value against it is above ``alpha``
   (default 0.05). A single bold cell is a **win** (the best beats every competitor
   at p <= alpha, as the paper requires); several are a **tie**.

Architecture selection (:mod:`astra_np.study.selection`): a method run with selection is
a column of its own, labelled ``(sel.)`` (``<method>+sel`` in ``table.csv``), next to the
method's fixed network: a fixed run of the same data set combined with it, or else the
selection run's ``paper`` candidate (the fixed protocol's network, same seed, same
folds). Below the table, ``table.md`` lists per method how often each candidate was
chosen and the test means of every candidate, of the selected one and of the best
per-fold choice in hindsight.

The numbers are recomputed from ``folds.jsonl``; nothing is taken from the run itself.
"""
import csv
import importlib.util
import io
import math
import os

import numpy as np

from ..core._io import write_atomic
from ..core.registry import MethodTable, get_method
from .selection import column_label, column_of, format_choices, method_of, with_fixed_columns
from .store import ResultsStore, read_results

__all__ = ["load_results", "stored_and_expected", "summarize", "paired_p_value", "format_markdown", "write_report",
           "METRICS", "METHOD_LABELS"]

METRICS = (("g_mean", "G-Mean"), ("mcc", "MCC"))
#: Column labels of every method, in column order (:mod:`astra_np.core.registry`).
METHOD_LABELS = MethodTable(lambda m: m.label)


def load_results(results_dir):
    r"""``(meta, records)`` of a results directory (:func:`astra_np.study.store.read_results`)."""
    _, meta, records = read_results(results_dir)
    return meta, records


def stored_and_expected(results_dir):
    r"""``(folds stored, folds of the complete run)`` of a results directory (from its
    configuration: repeats x folds x methods)."""
    _, meta, records = read_results(results_dir)
    c = meta["config"]
    try:
        expected = int(c["repeats"]) * int(c["folds"]) * len(c["methods"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{results_dir}: meta.json holds no repeats, folds and methods") from None
    return len(records), expected


def paired_p_value(a, b):
    r"""Two-sided Wilcoxon signed-rank p-value of paired samples ``a`` and ``b``.

    Zero differences are dropped (``zero_method="wilcox"``); with no non-zero
    difference left the samples are indistinguishable and p = 1.

    Examples
    --------
    >>> paired_p_value([1, 2, 3], [1, 2, 3])
    1.0
    """
    from scipy.stats import wilcoxon

    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    d = d[d != 0]
    if d.size == 0:
        return 1.0
    return float(wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)


def _methods_in(records):
    r"""The columns of ``records`` in column order: each method, then the method with
    architecture selection (:func:`astra_np.study.selection.column_of`)."""
    found = {column_of(r) for r in records}
    for c in found:
        get_method(method_of(c))  # ValueError for a method astra_np does not know
    return sorted(found, key=lambda c: (list(METHOD_LABELS).index(method_of(c)), c != method_of(c)))


def _paired_folds(recs):
    r"""``(methods, folds, keys)`` of one data set's records: ``folds[(repeat, rotation)]``
    maps method -> record, and ``keys`` are the sorted folds every method finished (the
    pairs of the Wilcoxon test)."""
    methods = _methods_in(recs)
    folds = {}
    for r in recs:
        folds.setdefault((r["repeat"], r["rotation"]), {})[column_of(r)] = r
    keys = sorted(k for k, v in folds.items() if all(m in v for m in methods))
    return methods, folds, keys


def summarize(records, alpha=0.05):
    r"""Per data set and metric: mean, std, folds, p-values and the bold set.

    Returns
    -------
    list of dict
        One entry per (dataset, metric) with keys ``dataset``, ``metric``, ``methods``,
        ``mean``, ``std``, ``n`` (dicts by method), ``p`` (method -> p-value against the
        best, None for the best), ``best``, ``bold`` (list) and ``result``
        (``"win"`` or ``"tie"``).
    """
    by_ds = {}
    for r in records:
        by_ds.setdefault(r.get("dataset", ""), []).append(r)
    out = []
    for ds in sorted(by_ds):
        recs = by_ds[ds]
        methods, folds, paired = _paired_folds(recs)
        for metric, _ in METRICS:
            vals = {m: np.array([folds[k][m][metric] for k in paired], dtype=np.float64) for m in methods}
            mean = {m: float(v.mean()) if v.size else math.nan for m, v in vals.items()}
            std = {m: float(v.std(ddof=1)) if v.size > 1 else 0.0 for m, v in vals.items()}
            best = max(methods, key=lambda m: (mean[m], -methods.index(m)))
            p = {m: (None if m == best else paired_p_value(vals[best], vals[m])) for m in methods}
            bold = [m for m in methods if m == best or p[m] > alpha]
            out.append(dict(dataset=ds, metric=metric, methods=methods, mean=mean, std=std,
                            n=len(paired), p=p, best=best, bold=bold,
                            result="win" if len(bold) == 1 else "tie"))
    return out


def _cell(mean, std):
    return f"{mean:.3f} ({std:.3f})"


def format_markdown(summary, alpha=0.05):
    r"""Table 2 as Markdown (bold: winners and ties, see the module docstring)."""
    if not summary:
        return "No fold records.\n"
    methods = []
    for s in summary:
        methods += [m for m in s["methods"] if m not in methods]
    labels = [column_label(m) for m in methods]
    astra = ["with ASTra" if get_method(method_of(m)).astra else "without ASTra" for m in methods]
    lines = ["| | " + " | ".join(labels) + " |", "|---|" + "---|" * len(methods),
             "| | " + " | ".join(f"*{a}*" for a in astra) + " |"]
    for ds in dict.fromkeys(s["dataset"] for s in summary):
        n = next(s["n"] for s in summary if s["dataset"] == ds)
        lines.append(f"| **{ds}** ({n} folds) |" + " |" * len(methods))
        for s in (s for s in summary if s["dataset"] == ds):
            label = dict(METRICS)[s["metric"]]
            cells = []
            for m in methods:
                if m not in s["mean"]:
                    cells.append("")
                    continue
                text = _cell(s["mean"][m], s["std"][m])
                cells.append(f"**{text}**" if m in s["bold"] else text)
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", f"Mean (standard deviation, ddof=1) over the test folds. Bold: the winner, or the "
              f"methods tied with the best mean (two-sided Wilcoxon signed-rank test over the "
              f"folds paired by repeat and rotation, p > {alpha} against the best; a single bold "
              f"cell beats every other method at p <= {alpha})."]
    return "\n".join(lines) + "\n"


def _describe(meta):
    r"""One line describing an experiment's configuration (empty if unknown)."""
    c = meta.get("config", {})
    if "repeats" not in c:
        return ""
    variant = (f", undersampled to {c['positives']} positives per repeat" if c.get("positives") else "")
    epochs = c.get("estimator_params", {}).get("epochs")
    return (f"{c.get('dataset')}: {c.get('n_samples')} rows, {c.get('n_features')} features, "
            f"{c.get('n_positives')} positives{variant} (IR {c.get('imbalance_ratio', float('nan')):.2f}); "
            f"{c['repeats']} x {c['folds']} CV, {epochs} epochs, seed {c.get('seed')}, "
            f"standardised: {'yes' if c.get('standardize') else 'no'}; astra_np "
            f"{meta.get('package_version')}")


def _csv_text(rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerows(rows)
    return buf.getvalue()


def write_report(results_dirs, out_dir=None, alpha=0.05, figure=True):
    r"""Write ``table.md``, ``table.csv``, ``pvalues.csv`` and Fig. 4 (``fig4_<dataset>.png``).

    Parameters
    ----------
    results_dirs : str or list of str
        One or several results directories; several make one table with a block per
        data set (directories with the same data set name are merged, e.g. methods run
        separately on the same splits; a fold stored twice is an error).
    out_dir : str, optional
        Where to write (default: the single results directory).
    alpha : float
        Significance level of the winner rule.
    figure : bool
        Draw Fig. 4 with :func:`astra_np.study.figures.fig4` (skipped when matplotlib is not
        installed).

    Returns
    -------
    list of str
        Paths written.
    """
    if isinstance(results_dirs, (str, os.PathLike)):
        results_dirs = [results_dirs]
    results_dirs = [os.fspath(d) for d in results_dirs]
    out_dir = results_dirs[0] if out_dir is None else os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    records, seen, notes = [], {}, []
    for d in results_dirs:
        meta, recs = load_results(d)
        notes.append(_describe(meta))
        for r in recs:
            key = (r.get("dataset", ""), r["repeat"], r["rotation"], column_of(r))
            if key in seen:
                raise ValueError(f"fold {key!r} is in both {seen[key]} and {d}; give the runs "
                                 f"different data set names (--name) to show them side by side")
            seen[key] = d
            records.append(r)
    choices = format_choices(records)
    records, derived = with_fixed_columns(records)
    summary = summarize(records, alpha=alpha)
    written = []
    path = os.path.join(out_dir, "table.md")
    text = format_markdown(summary, alpha=alpha)
    if derived:
        notes.append("The columns without (sel.) of a run with architecture selection are its 'paper' "
                     "candidate: the paper's network, trained with the same seed on the same folds.")
    if choices:
        text += "\n" + choices
    notes = [n for n in dict.fromkeys(notes) if n]
    if notes:
        text += "\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    write_atomic(path, text)
    written.append(path)
    rows = [["dataset", "metric", "method", "mean", "std", "n_folds", "bold", "result",
             "p_vs_best"]]
    prows = [["dataset", "metric", "method_a", "method_b", "p_value"]]
    for s in summary:
        for m in s["methods"]:
            rows.append([s["dataset"], s["metric"], m, repr(s["mean"][m]), repr(s["std"][m]), s["n"],
                         int(m in s["bold"]), s["result"] if m in s["bold"] else "",
                         "" if s["p"][m] is None else repr(s["p"][m])])
    for d in dict.fromkeys(s["dataset"] for s in summary):
        recs = [r for r in records if r.get("dataset", "") == d]
        methods, folds, keys = _paired_folds(recs)
        for metric, _ in METRICS:
            for i, a in enumerate(methods):
                for b in methods[i + 1:]:
                    p = paired_p_value([folds[k][a][metric] for k in keys],
                                       [folds[k][b][metric] for k in keys])
                    prows.append([d, metric, a, b, repr(p)])
    for name, data in (("table.csv", rows), ("pvalues.csv", prows)):
        path = os.path.join(out_dir, name)
        write_atomic(path, _csv_text(data))
        written.append(path)
    if figure:
        written += _write_fig4(results_dirs, out_dir)
    return written


def _write_fig4(results_dirs, out_dir):
    if importlib.util.find_spec("matplotlib") is None:
        return []
    from .figures import fig4, save_figure

    written = []
    for d in results_dirs:
        meta = ResultsStore(d).read_meta()
        name = meta["config"].get("dataset", os.path.basename(d))
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(name))
        path = os.path.join(out_dir, f"fig4_{safe}.png")
        n = 2
        while path in written:
            path = os.path.join(out_dir, f"fig4_{safe}_{n}.png")
            n += 1
        fig = fig4(results_dir=d, dataset=name)
        save_figure(fig, path)
        written.append(path)
    return written

