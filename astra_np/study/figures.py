r"""Regenerate the paper's figures (Figs. 1-4) from astra_np's own functions.

Every curve is computed by the package's core functions, so a figure is also a
visual check of the core:

* :func:`fig1` -- ASTra (Eq. 4) and its derivative in :math:`x` for
  :math:`\tau(b) = 0.5, 0.25, 0.05` (Eq. 5), with the threshold marked at
  :math:`x = 0`, where the gradient peaks.
* :func:`fig2` -- BCE loss contributions for targets 0 and 1 against the
  pre-activation :math:`x`: (a) :math:`\tau = 0.5`, (b) :math:`\tau = 0.25` with
  the wrongly ordered band :math:`0 < x < \log[(2^b - 1)/b]/b` shaded
  (Section 3.1), and (c) the same after the z-transform (Eq. 6), which moves
  the crossing to :math:`x = 0`.
* :func:`fig3` -- :math:`z(\hat{y}, \tau)` and :math:`1 - z` against
  :math:`\hat{y}` (Eq. 6), crossing at :math:`\hat{y} = \tau`.
* :func:`fig4` -- the fold-averaged :math:`\log_{10}` e-ratio (Eq. 11) of the
  training set against epoch for the four methods, from the histories an
  experiment stored (:func:`load_histories`), by default those of a short run of
  the protocol on the package's built-in data set (:func:`builtin_experiment`).

Command line::

    python -m astra_np figures [--out DIR] [--format png,pdf,svg]
                               [--fig4 RESULTS_DIR] [--dataset NAME]
                               [--epochs N] [--folds K] [--only 1,2,...]

matplotlib is an optional dependency (the ``plot`` extra,
``pip install -e .[plot]``); it is imported only when a figure is drawn. The
figures are plain :class:`matplotlib.figure.Figure` objects attached to the
Agg canvas: no display is needed and pyplot's global state is never touched.
"""
import math
import tempfile
from pathlib import Path

import numpy as np

from ..core._io import atomic_output
from ..core._stable import softplus
from ..core._validation import check_size
from ..core.activation import astra, astra_logit, astra_partials, slope_for_threshold, threshold_logit
from ..core.registry import MethodTable, get_method, losses, paper_method_names
from ..core.ztransform import z_transform

#: Thresholds drawn in Figs. 1 and 3 (Section 3.1).
TAUS = (0.5, 0.25, 0.05)

#: Display names of every method (:mod:`astra_np.core.registry`), in column order.
METHOD_NAMES = MethodTable(lambda m: m.label)
#: The methods Fig. 4 trains by default: the paper's four.
PAPER_METHODS = tuple(paper_method_names())

#: Output formats the command writes; PNG is rasterised at ``PNG_DPI``.
FORMATS = ("png", "pdf", "svg")
DEFAULT_FORMATS = ("png", "pdf")
PNG_DPI = 200

#: Defaults of the built-in Fig. 4 run (small enough for the whole command to
#: finish in about a minute on two cores).
DEFAULT_EPOCHS = 3000
DEFAULT_FOLDS = 5
BUILTIN_DATA = dict(n_samples=20000, n_features=9, n_positives=34, random_state=0)
BUILTIN_POSITIVES = 5

# Okabe-Ito colour-blind-safe palette.
_TAU_COLOURS = {0.5: "#0072B2", 0.25: "#D55E00", 0.05: "#009E73"}
_TARGET_COLOURS = {0: "#0072B2", 1: "#D55E00"}
# One colour pair per loss, in registry order (dark: sigmoid, light: ASTra).
_LOSS_COLOURS = (("#0072B2", "#56B4E9"), ("#D55E00", "#E69F00"), ("#009E73", "#7FCDB9"),
                 ("#CC79A7", "#E5BCD3"), ("#000000", "#999999"), ("#8C564B", "#C49C94"))


def method_style(method):
    r"""Line style of ``method`` in Fig. 4: its loss's colour pair, dashed with ASTra.

    Derived from :mod:`astra_np.core.registry`; ``ValueError`` for an unknown method.
    """
    entry = get_method(method)
    k = [loss.name for loss in losses()].index(entry.loss.name) % len(_LOSS_COLOURS)
    return dict(color=_LOSS_COLOURS[k][int(entry.astra)], linestyle="--" if entry.astra else "-")

# Sizes for a two-panel figure across the text width and a single panel
# at column width (inches).
_TEXT_WIDTH = 7.0
_COLUMN_WIDTH = 3.4

_STYLE = {
    "font.family": "serif",
    "font.serif": ["STIXGeneral", "DejaVu Serif"],
    "mathtext.fontset": "stix",
    "font.size": 8.5,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 7.5,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "lines.linewidth": 1.4,
    "axes.linewidth": 0.7,
    "xtick.major.width": 0.7,
    "ytick.major.width": 0.7,
    "xtick.direction": "in",
    "ytick.direction": "in",
    "xtick.top": True,
    "ytick.right": True,
    "axes.grid": True,
    "grid.color": "0.88",
    "grid.linewidth": 0.5,
    "legend.frameon": True,
    "legend.framealpha": 0.9,
    "legend.edgecolor": "0.8",
    "legend.fancybox": False,
    "pdf.fonttype": 42,
    "svg.fonttype": "path",
    "svg.hashsalt": "astra_np",
    "figure.dpi": 100,
}

# Remove time stamps so that rerunning the command gives identical files.
_SAVE_METADATA = {"png": None, "pdf": {"CreationDate": None}, "svg": {"Date": None}}


# ---------------------------------------------------------------------------
# matplotlib plumbing
# ---------------------------------------------------------------------------
def _mpl():
    r"""Import matplotlib lazily, with a clear message when it is missing.

    Returns
    -------
    module
        The :mod:`matplotlib` module.

    Raises
    ------
    ImportError
        If matplotlib is not installed; names the ``plot`` extra.
    """
    try:
        import matplotlib
        import matplotlib.backends.backend_agg
        import matplotlib.figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "astra_np.study.figures needs matplotlib, which is not installed; install the "
            "'plot' extra: pip install -e .[plot]  (or: pip install matplotlib)"
        ) from exc
    return matplotlib


def _new_figure(width, height):
    r"""Return an empty Figure on the Agg canvas with constrained layout."""
    mpl = _mpl()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, mpl


def _style():
    r"""Context manager applying the figures' shared style."""
    return _mpl().rc_context(_STYLE)


def _panel_label(ax, text):
    r"""Put a panel title such as ``(a) ...`` above an axes."""
    ax.set_title(text, loc="left")


def _fmt_b(b):
    r"""Format a slope b for legends: 1, 7.396, 87.37."""
    return "1" if b == 1.0 else f"{b:.4g}"


# ---------------------------------------------------------------------------
# data behind the figures (also used by the tests)
# ---------------------------------------------------------------------------
def bce_contributions(logit):
    r"""Per-example BCE contributions for targets 0 and 1, from the logit.

    With :math:`\hat{y} = \sigma(\ell)`, the contributions of Section 3.1 are
    :math:`J_{BCE}(\hat{y}, 0) = -\log(1 - \hat{y}) = \log(1 + e^{\ell})` and
    :math:`J_{BCE}(\hat{y}, 1) = -\log\hat{y} = \log(1 + e^{-\ell})`, computed
    as softplus (``logaddexp(0, .)``, the same terms as
    :func:`astra_np.core.losses.bce_with_logits`) so that neither overflows nor
    loses digits in the tails.

    Parameters
    ----------
    logit : array_like
        Logit :math:`\log(\hat{y}/(1 - \hat{y}))` of the prediction.

    Returns
    -------
    j0, j1 : ndarray
        Loss contributions for target 0 and target 1.

    Examples
    --------
    >>> j0, j1 = bce_contributions([0.0])
    >>> bool(np.allclose(j0, np.log(2.0), rtol=1e-15, atol=0.0))
    True
    """
    logit = np.asarray(logit, dtype=np.float64)
    return softplus(logit), softplus(-logit)


def band_upper_edge(b):
    r"""Upper edge :math:`\log[(2^b - 1)/b]/b` of the wrongly ordered band.

    For :math:`b > 1`, :math:`J_{BCE}(\hat{y}, 0) < J_{BCE}(\hat{y}, 1)` for
    :math:`0 < x <` this value although :math:`x > 0` means a positive
    prediction (Section 3.1); it is the :math:`x` where ASTra (Eq. 4) equals
    1/2. Evaluated as :math:`[b\log 2 + \log(-\mathrm{expm1}(-b\log 2)) - \log b]/b`,
    which cannot overflow for large ``b``. Near ``b = 1`` the edge tends to 0 and the
    three terms cancel to an absolute error of about ``1e-16`` (harmless for a plot;
    ``derivations/bce.md`` gives a form in ``b - 1`` that keeps full relative
    accuracy there).

    Parameters
    ----------
    b : float
        Slope, ``b > 0``.

    Returns
    -------
    float
        The band's upper edge (0 for ``b = 1``).

    Examples
    --------
    >>> band_upper_edge(1.0)
    0.0
    """
    b = float(b)
    if not (math.isfinite(b) and b > 0.0):
        raise ValueError(f"b must be a finite number > 0, got {b!r}")
    t = b * math.log(2.0)
    return (t + math.log(-math.expm1(-t)) - math.log(b)) / b


def _x_grid(lo, hi, step_inv):
    r"""Grid from ``lo`` to ``hi`` in steps ``1/step_inv``; contains 0 exactly."""
    return np.arange(round(lo * step_inv), round(hi * step_inv) + 1) / step_inv


# ---------------------------------------------------------------------------
# Figures 1-3: the formulas
# ---------------------------------------------------------------------------
def fig1(taus=TAUS, x_range=(-6.0, 6.0)):
    r"""Fig. 1: (a) ASTra(x, b) (Eq. 4) and (b) its derivative in x.

    One curve per threshold :math:`\tau(b)` (Eq. 5); b is obtained with
    :func:`astra_np.core.activation.slope_for_threshold`. The threshold is marked
    at :math:`x = 0`, where :math:`\partial\hat{y}/\partial x` peaks.

    Parameters
    ----------
    taus : sequence of float
        Thresholds in (0, 0.5].
    x_range : (float, float)
        Range of the pre-activation x.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes; curve lines carry gids ``"astra tau=<tau>"`` and
        ``"dastra tau=<tau>"``.
    """
    x = _x_grid(x_range[0], x_range[1], 100)
    with _style():
        fig, _ = _new_figure(_TEXT_WIDTH, 2.6)
        ax_a, ax_b = fig.subplots(1, 2)
        for tau in taus:
            b = float(slope_for_threshold(tau))
            colour = _TAU_COLOURS.get(tau)
            label = rf"$\tau = {tau:g}$ ($b = {_fmt_b(b)}$)"
            y = astra(x, b)
            dy_dx = astra_partials(x, b)[0]
            (line,) = ax_a.plot(x, y, color=colour, label=label, gid=f"astra tau={tau:g}")
            colour = line.get_color()
            ax_b.plot(x, dy_dx, color=colour, label=label, gid=f"dastra tau={tau:g}")
            peak = float(astra_partials(np.array([0.0]), b)[0][0])
            ax_a.plot([0.0], [float(astra(np.array([0.0]), b)[0])], "o", color=colour,
                      markersize=4.5, markeredgecolor="black", markeredgewidth=0.5, zorder=5,
                      gid=f"tau marker tau={tau:g}")
            ax_b.plot([0.0], [peak], "o", color=colour, markersize=4.5,
                      markeredgecolor="black", markeredgewidth=0.5, zorder=5,
                      gid=f"peak marker tau={tau:g}")
        for ax in (ax_a, ax_b):
            ax.axvline(0.0, color="0.45", linewidth=0.7, linestyle=":", zorder=1)
            ax.set_xlim(*x_range)
            ax.set_xlabel(r"pre-activation $x$")
        ax_a.set_ylim(-0.02, 1.02)
        ax_a.set_ylabel(r"$\hat{y} = \mathrm{ASTra}(x, b)$")
        ax_b.set_ylabel(r"$\partial \hat{y} / \partial x$")
        ax_b.set_ylim(bottom=0.0)
        _panel_label(ax_a, r"(a) $\mathrm{ASTra}(x, b)$, dots at $(0, \tau)$")
        _panel_label(ax_b, r"(b) first derivative, peak at $x = 0$")
        ax_a.legend(loc="upper left")
        ax_b.legend(loc="upper right")
    return fig


def _fig2_panel(ax, x, tau, use_z, title, band_ref=None):
    r"""Draw one panel of Fig. 2 and return (x_cross, band_edges or None)."""
    b = float(slope_for_threshold(tau))
    logit = astra_logit(x, b)
    arg = r"\hat{y}"
    if use_z:
        # logit z = logit y-hat - logit tau (Eq. 6 in logit space); tau = y-hat(0).
        logit = logit - float(threshold_logit(b))
        arg = "z"
    j0, j1 = bce_contributions(logit)
    ax.plot(x, j0, color=_TARGET_COLOURS[0], linestyle="--",
            label=rf"$J_{{\mathrm{{BCE}}}}({arg}, 0)$", gid="J target 0")
    ax.plot(x, j1, color=_TARGET_COLOURS[1], linestyle="-",
            label=rf"$J_{{\mathrm{{BCE}}}}({arg}, 1)$", gid="J target 1")
    x_cross = 0.0 if use_z else band_upper_edge(b)
    band = None
    if not use_z and x_cross > 0.0:
        band = (0.0, x_cross)
        ax.axvspan(0.0, x_cross, color="#F0E442", alpha=0.55, linewidth=0, zorder=0,
                   label="wrongly ordered", gid="wrong band")
    if band_ref is not None:
        ax.axvspan(*band_ref, facecolor="none", edgecolor="0.65", hatch="///",
                   linewidth=0, zorder=0, label="band of (b): now\ncorrectly ordered", gid="reference band")
    ax.axvline(0.0, color="0.45", linewidth=0.7, linestyle=":", zorder=1)
    ax.plot([x_cross], [math.log(2.0)], "o", color="white", markeredgecolor="black",
            markersize=4.5, markeredgewidth=0.8, zorder=5, gid="crossing")
    ax.set_xlabel(r"pre-activation $x$")
    _panel_label(ax, title.format(tau=f"{tau:g}", b=_fmt_b(b)))
    return x_cross, band


def fig2(x_range=(-1.5, 1.5), y_max=4.0, tau_b=0.25):
    r"""Fig. 2: BCE loss contributions for targets 0 and 1 against x.

    Panels: (a) :math:`\tau = 0.5` (b = 1, the sigmoid), the losses cross at
    :math:`x = 0`; (b) :math:`\tau = 0.25` (b = 7.396), the losses cross at
    :math:`x = \log[(2^b - 1)/b]/b`, and in the shaded band between 0 and that
    point they are wrongly ordered (Section 3.1); (c) the same b after the
    z-transform (Eq. 6): :math:`J_{BCE}(z, 0)` and :math:`J_{BCE}(z, 1)` cross
    at :math:`x = 0`. The curves are computed from :func:`astra_logit`, so they
    stay exact in the tails.

    Parameters
    ----------
    x_range : (float, float)
        Range of the pre-activation x.
    y_max : float
        Upper limit of the loss axis (the data are not clipped).
    tau_b : float
        Threshold of panels (b) and (c).

    Returns
    -------
    matplotlib.figure.Figure
        Three axes; lines carry gids ``"J target 0"``, ``"J target 1"``; the
        band of (b) has gid ``"wrong band"``.
    """
    x = _x_grid(x_range[0], x_range[1], 400)
    with _style():
        fig, _ = _new_figure(_TEXT_WIDTH, 2.55)
        axes = fig.subplots(1, 3, sharey=True)
        _fig2_panel(axes[0], x, 0.5, False, r"(a) $\tau(b) = {tau}$ ($b = {b}$)")
        _, band = _fig2_panel(axes[1], x, tau_b, False, r"(b) $\tau(b) = {tau}$ ($b = {b}$)")
        _fig2_panel(axes[2], x, tau_b, True,
                    r"(c) $\tau(b) = {tau}$, z-transformed", band_ref=band)
        axes[0].set_ylabel(r"loss contribution $J_{\mathrm{BCE}}$")
        for ax in axes:
            ax.set_xlim(*x_range)
            ax.set_ylim(0.0, y_max)
            ax.legend(loc="upper right")
    return fig


def fig3(taus=TAUS, n_points=1001):
    r"""Fig. 3: :math:`z(\hat{y}, \tau)` (Eq. 6) and :math:`1 - z` against :math:`\hat{y}`.

    For each :math:`\tau` the pair crosses at :math:`\hat{y} = \tau`, where
    :math:`z = 1/2`; the grid contains every :math:`\tau` exactly.

    Parameters
    ----------
    taus : sequence of float
        Thresholds in (0, 0.5].
    n_points : int
        Number of evenly spaced :math:`\hat{y}` values in [0, 1] (the
        thresholds are added).

    Returns
    -------
    matplotlib.figure.Figure
        One axes; lines carry gids ``"z tau=<tau>"`` and ``"1-z tau=<tau>"``.
    """
    from matplotlib.lines import Line2D

    p = np.union1d(np.linspace(0.0, 1.0, n_points), np.asarray(taus, dtype=np.float64))
    with _style():
        fig, _ = _new_figure(_COLUMN_WIDTH, 2.9)
        ax = fig.subplots()
        handles = []
        for tau in taus:
            colour = _TAU_COLOURS.get(tau)
            z = z_transform(p, tau)
            (line,) = ax.plot(p, z, color=colour, linestyle="-", gid=f"z tau={tau:g}")
            colour = line.get_color()
            ax.plot(p, 1.0 - z, color=colour, linestyle="--", gid=f"1-z tau={tau:g}")
            ax.plot([tau], [0.5], "o", color=colour, markeredgecolor="black",
                    markeredgewidth=0.5, markersize=4.5, zorder=5, gid=f"crossing tau={tau:g}")
            handles.append(Line2D([], [], color=colour, label=rf"$\tau = {tau:g}$"))
        handles.append(Line2D([], [], color="black", linestyle="-", label=r"$z(\hat{y}, \tau)$"))
        handles.append(Line2D([], [], color="black", linestyle="--", label=r"$1 - z(\hat{y}, \tau)$"))
        ax.axhline(0.5, color="0.45", linewidth=0.7, linestyle=":", zorder=1)
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, 1.0)
        ax.set_xlabel(r"ASTra output $\hat{y}$")
        ax.set_ylabel(r"$z(\hat{y}, \tau)$ and $1 - z(\hat{y}, \tau)$")
        ax.set_title(r"z-transform; pairs cross at $\hat{y} = \tau$")
        ax.legend(handles=handles, loc="center right", ncols=1)
    return fig


# ---------------------------------------------------------------------------
# Figure 4: training histories
# ---------------------------------------------------------------------------
_LN10 = math.log(10.0)


def _history_mapping(history):
    r"""A history as a mapping of per-epoch sequences."""
    if isinstance(history, (list, tuple)):
        if not all(isinstance(h, dict) for h in history):
            raise ValueError("history must be a mapping of per-epoch lists or a list of mappings")
        keys = []
        for h in history:
            keys.extend(k for k in h if k not in keys)
        history = {k: [h.get(k, np.nan) for h in history] for k in keys}
    if not hasattr(history, "keys"):
        raise ValueError(f"history must be a mapping, got {type(history).__name__}")
    return history


def history_log10_e_ratio(history, with_epochs=False):
    r"""Extract the per-epoch :math:`\log_{10}` e-ratio (Eq. 11) from a history.

    Accepts a mapping of per-epoch lists or a list of per-epoch mappings, with
    one of the keys ``log10_e_ratio``, ``log_e_ratio`` (natural log) or
    ``e_ratio``. Non-finite values and ``None`` (JSON ``null``) become NaN. An
    ``epoch`` series (1-based epoch numbers, as stored by the protocol when it
    keeps every s-th epoch) gives the epochs; otherwise they are 1, 2, ...

    Parameters
    ----------
    history : mapping or sequence of mappings
        Training history.
    with_epochs : bool
        Also return the epoch numbers.

    Returns
    -------
    values : ndarray
        float64, one value per recorded epoch.
    epochs : ndarray of int64
        Only with ``with_epochs=True``.

    Examples
    --------
    >>> history_log10_e_ratio({"e_ratio": [1.0, 100.0]}).tolist()
    [0.0, 2.0]
    >>> v, e = history_log10_e_ratio({"epoch": [1, 5], "log10_e_ratio": [2.0, None]}, True)
    >>> e.tolist()
    [1, 5]
    """
    history = _history_mapping(history)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if "log10_e_ratio" in history:
            values = np.asarray(history["log10_e_ratio"], dtype=np.float64)
        elif "log_e_ratio" in history:
            values = np.asarray(history["log_e_ratio"], dtype=np.float64) / _LN10
        elif "e_ratio" in history:
            e = np.asarray(history["e_ratio"], dtype=np.float64)
            values = np.full(e.shape, np.nan)
            ok = np.isfinite(e) & (e > 0.0)
            values[ok] = np.log10(e[ok])
        else:
            raise ValueError(
                "history has no e-ratio: expected a key 'log10_e_ratio', 'log_e_ratio' or "
                f"'e_ratio', got {sorted(map(str, history))!r}"
            )
    values = np.array(values, dtype=np.float64).reshape(-1)
    values[~np.isfinite(values)] = np.nan
    if not with_epochs:
        return values
    if "epoch" in history:
        epochs = np.asarray(history["epoch"], dtype=np.int64).reshape(-1)
        if epochs.size != values.size:
            raise ValueError(
                f"history: 'epoch' has {epochs.size} entries but the e-ratio has {values.size}"
            )
    else:
        epochs = np.arange(1, values.size + 1, dtype=np.int64)
    return values, epochs


def _fold_series(fold):
    r"""``(epochs, values)`` of one fold: a 1-D array (epochs 1..n) or an (epochs, values) pair."""
    if isinstance(fold, tuple) and len(fold) == 2 and np.ndim(fold[0]) == 1:
        epochs = np.asarray(fold[0], dtype=np.int64).reshape(-1)
        values = np.asarray(fold[1], dtype=np.float64).reshape(-1)
        if epochs.size != values.size:
            raise ValueError(f"fold: {epochs.size} epochs but {values.size} values")
        return epochs, values
    values = np.asarray(fold, dtype=np.float64).reshape(-1)
    return np.arange(1, values.size + 1, dtype=np.int64), values


def fold_average(folds):
    r"""Mean and standard deviation over folds, epoch by epoch.

    Each fold is a 1-D array (one value per epoch 1, 2, ...) or a pair
    ``(epochs, values)``. Epochs are aligned by number; each epoch averages the
    folds that hold a finite value there (a run stopped early simply ends),
    and epochs where no fold does are dropped.

    Parameters
    ----------
    folds : sequence
        One entry per fold.

    Returns
    -------
    epochs : ndarray of int64
    mean, std : ndarray
        ``std`` is the population standard deviation (0 for one fold).
    count : ndarray of int64
        Folds averaged at each epoch.

    Examples
    --------
    >>> e, m, s, c = fold_average([[0.0, 2.0], [2.0]])
    >>> e.tolist(), m.tolist(), s.tolist(), c.tolist()
    ([1, 2], [1.0, 2.0], [1.0, 0.0], [2, 1])
    """
    series = [_fold_series(f) for f in folds]
    if not series:
        raise ValueError("folds must hold at least one fold, got none")
    epochs = np.unique(np.concatenate([e for e, _ in series]))
    stack = np.full((len(series), epochs.size), np.nan)
    for i, (e, v) in enumerate(series):
        stack[i, np.searchsorted(epochs, e)] = v
    ok = np.isfinite(stack)
    count = ok.sum(axis=0)
    keep = count > 0
    stack, ok, count, epochs = stack[:, keep], ok[:, keep], count[keep], epochs[keep]
    filled = np.where(ok, stack, 0.0)
    mean = filled.sum(axis=0) / count
    dev = np.where(ok, filled - mean, 0.0)
    std = np.sqrt((dev * dev).sum(axis=0) / count)
    return epochs, mean, std, count.astype(np.int64)


def _read_records(results_dir):
    r"""Fold records of an experiment directory, read with :class:`astra_np.study.store.ResultsStore`.

    Returns ``(directory, records, meta)``; ``meta`` is the stored ``meta.json``
    mapping or None. Records without a history are dropped.
    """
    from .store import read_results

    path, meta, records = read_results(results_dir, require_meta=False)
    records = [r for r in records if isinstance(r, dict) and "method" in r
               and isinstance(r.get("history"), (dict, list))]
    return path, records, meta


def _dataset_name(record, meta, path):
    r"""Name of a record's data set: its own field, the stored configuration, or the directory."""
    for key in ("dataset", "data_name", "data"):
        if record.get(key):
            return str(record[key])
    config = (meta or {}).get("config") or {}
    for key in ("dataset", "data_name", "name", "data"):
        value = config.get(key)
        if isinstance(value, str) and value:
            return Path(value).name if key == "data" else value
    return path.resolve().name


def _sort_token(value):
    r"""Sort integers numerically, anything else after them by its text."""
    return (0, value, "") if isinstance(value, int) else (1, 0, repr(value))


def _select_records(results_dir, dataset):
    r"""``(directory, dataset name, records, meta)`` of one data set (the only one or the named one)."""
    path, records, meta = _read_records(results_dir)
    if not records:
        raise ValueError(f"results_dir: {str(path)!r} holds no fold records with a history")
    names = [_dataset_name(r, meta, path) for r in records]
    datasets = sorted(set(names))
    if dataset is None:
        if len(datasets) > 1:
            raise ValueError(
                f"results_dir: {str(path)!r} holds several data sets {datasets!r}; "
                "choose one with dataset= (command line: --dataset NAME)"
            )
        dataset = datasets[0]
    elif str(dataset) not in datasets:
        raise ValueError(f"dataset: {dataset!r} not in {str(path)!r}; available: {datasets!r}")
    chosen = [r for r, n in zip(records, names) if n == str(dataset)]
    chosen.sort(key=lambda r: tuple(_sort_token(r.get(k, 0)) for k in ("repeat", "rotation")))
    return path, str(dataset), chosen, meta


def _saved_label(dataset, histories, meta, source):
    r"""Title line of stored histories: source, data set, IR and run size when the configuration has them."""
    config = (meta or {}).get("config") or {}
    text = f"{source}: {dataset}"
    ir = config.get("imbalance_ratio")
    if isinstance(ir, (int, float)) and math.isfinite(ir):
        text += f" (IR {ir:.0f})"
    text += f", {max(map(len, histories.values()))} folds"
    epochs = (config.get("estimator_params") or {}).get("epochs", config.get("epochs"))
    if isinstance(epochs, int):
        text += f", {epochs} epochs each"
    if config.get("candidates"):
        text += "\nthe networks chosen on the validation fold (architecture selection)"
    return text


def _order_methods(methods):
    r"""Paper order first, then any other method names alphabetically."""
    for m in methods:
        get_method(m)  # ValueError for a method astra_np does not know
    return [m for m in METHOD_NAMES if m in methods]


def _histories_from_records(records, with_epochs=False):
    r"""method -> list of per-fold log10 e-ratio arrays, methods in the paper's order."""
    out = {}
    for r in records:
        values, epochs = history_log10_e_ratio(r["history"], with_epochs=True)
        out.setdefault(r["method"], []).append((epochs, values) if with_epochs else values)
    return {m: out[m] for m in _order_methods(out)}


def load_histories(results_dir, dataset=None, with_epochs=False):
    r"""Per-fold training-set :math:`\log_{10}` e-ratio histories of an experiment.

    Reads the results directory written by ``python -m astra_np experiment``
    (:class:`astra_np.study.store.ResultsStore`: ``meta.json`` and ``folds.jsonl``,
    one JSON object per finished fold with keys ``"method"``, ``"repeat"``,
    ``"rotation"``, optionally ``"dataset"``, and ``"history"``: per-epoch
    lists holding ``"log10_e_ratio"``, ``"log_e_ratio"`` or ``"e_ratio"``, see
    :func:`history_log10_e_ratio`). Records without a history are skipped; a
    torn last line (a run killed while writing) is ignored.

    Parameters
    ----------
    results_dir : str or path
        Results directory (or its ``folds.jsonl``).
    dataset : str, optional
        Data set to draw; needed only when the records hold several.
    with_epochs : bool
        Give every fold as a pair ``(epochs, values)``: the protocol keeps at
        most ``history_points`` epochs per run (every s-th epoch), so the
        values are not always at epochs 1, 2, ...

    Returns
    -------
    dict
        method -> list (one entry per fold, ordered by repeat and rotation) of
        1-D float64 arrays of the train-set :math:`\log_{10}` e-ratio (Eq. 11) at
        the recorded epochs (pairs with ``with_epochs=True``).

    Raises
    ------
    FileNotFoundError
        If there is no ``folds.jsonl``.
    ValueError
        If no record has a history, a line is corrupted, or the data set is
        ambiguous or absent.
    """
    return _histories_from_records(_select_records(results_dir, dataset)[2], with_epochs)


def builtin_experiment(out, epochs=DEFAULT_EPOCHS, n_folds=DEFAULT_FOLDS, methods=PAPER_METHODS,
                       data=None, positives=BUILTIN_POSITIVES, random_state=0, workers=1):
    r"""Run the paper's protocol on the built-in data for Fig. 4, storing the histories in ``out``.

    The data come from :func:`astra_np.study.datasets.make_imbalanced` with ``data``
    (default :data:`BUILTIN_DATA`), undersampled to ``positives`` positives like the
    paper's Fig. 4 data set (skin-4000: 5 positives, one per fold). The run is
    :func:`astra_np.study.protocol.run_experiment` with one repeat of ``n_folds``
    stratified folds: ``n_folds`` rotations (test fold k, validation fold k + 1,
    training the rest, Section 4.1), features standardised on the training folds,
    every method fitted for ``epochs`` full-batch epochs from the rotation's shared
    initial weights, no report. The same run as ``python -m astra_np experiment
    --positives 5 --repeats 1 --epochs 3000 --seed 0 --out DIR`` with the defaults,
    whose ``DIR`` ``--fig4`` draws alike; the data set is named ``builtin-<IR>``
    like that command's.

    Parameters
    ----------
    out : str or path
        Results directory (:mod:`astra_np.study.store`); resumed if it holds this run.
    epochs : int
        Epochs per fit (the paper uses 10,000).
    n_folds : int
        Number of stratified folds (>= 3).
    methods : sequence of str
        Method names (Section 4.2).
    data : dict, optional
        Keyword arguments of ``make_imbalanced``.
    positives : int or None
        Positives kept (None keeps all).
    random_state : int
        The protocol's ``seed``: the folds and every initialisation.
    workers : int
        Processes of the protocol (1: in this process).

    Returns
    -------
    astra_np.study.protocol.ExperimentResult
    """
    from .datasets import make_imbalanced
    from .protocol import run_experiment

    check_size("epochs", epochs)
    X, y = make_imbalanced(**dict(BUILTIN_DATA if data is None else data))
    m1 = int(y.sum())
    name = f"builtin-{round((y.size - m1) / (positives or m1))}"
    return run_experiment(X, y, out, dataset=name, positives=positives, repeats=1, folds=n_folds,
                          epochs=epochs, methods=methods, seed=random_state, workers=workers,
                          progress=False, report=False)


def _stored_histories(results_dir, dataset, source):
    r"""``(histories, title line)`` of the fold records in ``results_dir``: Fig. 4's one source."""
    _, dataset, records, meta = _select_records(results_dir, dataset)
    histories = _histories_from_records(records, with_epochs=True)
    return histories, _saved_label(dataset, histories, meta, source)


def fig4(histories=None, *, label=None, results_dir=None, dataset=None, epochs=DEFAULT_EPOCHS,
         n_folds=DEFAULT_FOLDS, random_state=0, spread=True):
    r"""Fig. 4: fold-averaged train-set :math:`\log_{10}` e-ratio (Eq. 11) against epoch.

    The e-ratio :math:`\mathrm{FNR}_{apx}/\mathrm{FPR}_{apx}` (Eq. 11) measures how
    much harder the positives are than the negatives; Eq. 10 speeds the slope's
    learning up while it is above 1 (:math:`\log_{10} = 0`, dotted line). The
    fold average is taken over :math:`\log_{10}` values (a geometric mean of the
    ratio); the band shows :math:`\pm 1` standard deviation over folds.

    Sources, in order: ``histories`` (method -> list of per-fold arrays of
    :math:`\log_{10}` e-ratio, or ``(epochs, values)`` pairs, see
    :func:`fold_average`); saved histories in ``results_dir``
    (:func:`load_histories`); otherwise a short run of the protocol on the built-in
    data (:func:`builtin_experiment` with ``epochs``, ``n_folds``, ``random_state``)
    into a temporary directory, removed once its histories are read. Both runs are
    drawn from the stored fold records, the same way.

    Parameters
    ----------
    histories : dict, optional
        method -> list of folds (1-D arrays or ``(epochs, values)`` pairs).
    label : str, optional
        Data description for the title (derived from the source if omitted).
    results_dir : str or path, optional
        Results directory of an experiment.
    dataset : str, optional
        Data set within ``results_dir``.
    epochs, n_folds, random_state : int
        Built-in run only.
    spread : bool
        Shade :math:`\pm 1` standard deviation over folds.

    Returns
    -------
    matplotlib.figure.Figure
        One axes; the fold-mean lines carry gids ``"mean <method>"``.
    """
    if histories is None:
        if results_dir is not None:
            histories, default_label = _stored_histories(results_dir, dataset, "saved histories")
        else:
            with tempfile.TemporaryDirectory(prefix="astra_np-fig4-") as out:
                builtin_experiment(out, epochs, n_folds, random_state=random_state)
                histories, default_label = _stored_histories(out, None, "built-in data")
        label = default_label if label is None else label
    if not histories:
        raise ValueError("histories: no methods to draw")
    with _style():
        fig, _ = _new_figure(_COLUMN_WIDTH * 1.35, 3.5)
        ax = fig.subplots()
        for method in _order_methods(histories):
            folds = histories[method]
            epoch, mean, std, count = fold_average(folds)
            style = method_style(method)
            name = METHOD_NAMES[method]
            if len({len(f) for f in histories.values()}) > 1:
                name = f"{name} ({len(folds)} fold{'s' if len(folds) != 1 else ''})"
            ax.plot(epoch, mean, label=name, gid=f"mean {method}", **style)
            if spread and len(folds) > 1:
                ax.fill_between(epoch, mean - std, mean + std, where=count > 1,
                                color=style["color"], alpha=0.15, linewidth=0,
                                gid=f"spread {method}")
        ax.axhline(0.0, color="0.45", linewidth=0.7, linestyle=":", zorder=1)
        ax.set_xlim(left=1)
        ax.set_xlabel("epoch")
        ax.set_ylabel(r"$\log_{10}(\mathrm{FNR}_{apx} / \mathrm{FPR}_{apx})$")
        title = "Train-set e-ratio (Eq. 11), fold-averaged"
        if spread and any(len(f) > 1 for f in histories.values()):
            title += r" (shaded: $\pm 1$ s.d.)"
        if label:
            title += "\n" + label
        ax.set_title(title, fontsize=8)
        fig.legend(loc="outside lower center", ncols=4, frameon=False, handlelength=2.2,
                   columnspacing=1.2)
    return fig


# ---------------------------------------------------------------------------
# Saving and the command line
# ---------------------------------------------------------------------------
def save_figure(fig, path, fmt=None):
    r"""Write a figure; PNG at :data:`PNG_DPI` dpi, time stamps removed.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        Figure to write.
    path : str or path
        Output file.
    fmt : str, optional
        One of :data:`FORMATS`; taken from the suffix if omitted.

    Returns
    -------
    pathlib.Path
        The written file (atomically: :func:`astra_np.core._io.atomic_output`).
    """
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise ValueError(f"fmt: unsupported format {fmt!r}; choose from {', '.join(FORMATS)}")
    with _style(), atomic_output(path) as fh:
        fig.savefig(fh, format=fmt, dpi=PNG_DPI, metadata=_SAVE_METADATA[fmt])
    return path


FIGURES = {1: fig1, 2: fig2, 3: fig3, 4: fig4}


