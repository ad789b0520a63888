r"""High-precision (mpmath) reference values for the numerical core of astra_np.

Every function here takes float64 inputs, converts them *exactly* to
``mpmath.mpf`` (a float64 is a dyadic rational, so ``mpf(float(v))`` loses
nothing), evaluates the closed form in multiple-precision arithmetic and
returns ``mpf`` values (or tuples / lists of them) correct to ``dps`` (default
:data:`DPS` = 60) significant decimal digits.  They are the ground truth that
the golden file ``tests/golden/core_golden.json`` is made from and that the
tests compare the float64 core against; they are slow (milliseconds per
value) and are not meant for training.

The ``*_mp`` functions are the closed forms themselves: ``mpf`` in, ``mpf`` out, at
the current working precision, without input checks or adaptive precision.  They are
what the functions above evaluate, and the forward forms that ``mpmath.diff``
differentiates (``check_gradient(..., reference="mpmath")`` of
:mod:`astra_np.check.gradcheck`).

mpmath is an optional dependency (extras ``ref`` and ``test``); it is
imported lazily, so ``import astra_np.check.reference`` always works and the first
call raises an :class:`ImportError` explaining how to install it.

How each reference is made accurate
-----------------------------------
1. *Exact inputs, unbounded exponents.*  Inputs are converted exactly.  mpmath
   numbers have an unbounded exponent, so ``b * exp(b*x)`` neither overflows
   nor underflows for any finite float64 ``x`` and ``b`` (e.g. ``exp(-1e7)`` is
   an ordinary mpf); no clipping or asymptotic branch is ever used.
2. *Cancellation-free closed forms.*  With ``u = b exp(b x)`` and
   ``s = log1p(u) / b`` (Eq. 4 rewritten):

   - ``1 - y = exp(-s)``, ``y = -expm1(-s)``, ``logit y = log(expm1(s))``;
     ``log1p`` and ``expm1`` are evaluated by mpmath to full relative
     precision even when ``u`` or ``s`` is below ``1e-60``, where the literal
     ``1 - (1 + u)**(-1/b)`` would cancel completely at 60 digits.
   - ``dy/dx = u (1 - y) / (1 + u)``; ``dlogit/dx = u / ((1 + u) y)``.
   - ``dy/db = (1 - y) (A - B) / b**2`` and ``dlogit/db = (A - B) / (b**2 y)``
     with ``A = u (1 + b x) / (1 + u)`` and ``B = log1p(u)``.  ``A - B`` is
     the only difference of like-signed terms in the ASTra formulas.  For
     large ``x`` it is regrouped, and evaluated for ``u > 1``, as
     ``1 - log b - (1 + b x) / (1 + u) - log1p(1 / u)``, which cancels as
     x -> +inf only when b is near e (where the b-partials change sign).  The
     "term scale" ``S``, the smaller of the two groupings' sums of absolute
     values, is returned too (see :func:`astra_db_scale`), so tests can tell
     where a derivative is genuinely at (or near) a sign change:
     ``|A - B| << S``.
   - z-transform (Eq. 6), with ``D = p (1 - tau) + (1 - p) tau`` (a sum of
     non-negative terms): ``z = p (1 - tau) / D``,
     ``dz/dp = tau (1 - tau) / D**2``, ``dz/dtau = -p (1 - p) / D**2``.
   - The head (:func:`head_loss`) works with logits: ``logit z = logit y -
     logit tau``, ``q = 1 / (1 + exp(-l))`` and ``1 - q = 1 / (1 + exp(l))``
     are each formed directly; BCE terms are ``log1p(exp(-+l))``; GMN sums
     (Eq. 8, 9) add non-negative terms only.
   Derivatives are these closed forms (derived by hand, see ``derivations/``);
   the test-suite cross-checks each of them against ``mpmath.diff``
   (numerical differentiation at high precision).
3. *Adaptive working precision.*  Each result is evaluated twice, at
   ``dps + 20`` and at twice that many digits, and the working precision keeps
   doubling (up to 4000 digits) until two successive evaluations agree to
   ``dps + 2`` significant digits in every output.  Any cancellation left
   (``A - B`` near a sign change, ``logit y - logit tau`` for x near 0,
   ``1 - G`` in GMN, root finding) is therefore detected and absorbed by extra
   digits instead of silently lowering the accuracy.  The final value is
   rounded to ``dps`` digits.
4. *Root finding.*  :func:`slope_for_threshold` solves
   ``log tau(exp(c)) = log tau`` for ``c = log b`` with mpmath's ``findroot``:
   a bracketing solver (Anderson-Bjorck) on ``[0, c_hi]``, where ``c_hi``
   doubles until ``tau(exp(c_hi)) < tau`` (tau(b) is strictly decreasing),
   then a secant polish; the residual is verified at the working precision.

Conventions follow astra_np's core (Eq. numbers refer to the ASTra paper):
``b = slope_from_beta(beta)`` (Eq. 7); the head uses ``b = 1`` when
``astra=False`` (plain sigmoid, dL/dbeta = 0) and skips Eq. 6 when
``z=False``; BCE is the mean over examples; a loss on the counts (GMN, Eq. 9, soft
F1, soft MCC and every loss added by ``register_count_loss``) is its registered
definition, differentiated by the complex step at the working precision
(:func:`count_partials`): nothing here restates its formula.
"""

import math

from ..core.registry import DEFAULT_LOSS, get_loss
from ._precision import (
    adaptive,
    as_float,
    check_positive,
    check_prob,
    check_tau,
    float_list,
    import_mpmath,
    label_list,
    to_mpf,
)

__all__ = [
    "DPS",
    "astra",
    "astra_complement",
    "astra_logit",
    "astra_partials",
    "astra_logit_partials",
    "astra_db_scale",
    "astra_all",
    "astra_terms_mp",
    "astra_mp",
    "astra_logit_mp",
    "threshold",
    "threshold_grad",
    "slope_for_threshold",
    "threshold_mp",
    "threshold_logit_mp",
    "slope_from_beta",
    "slope_from_beta_grad",
    "slope_from_beta_mp",
    "beta_from_slope",
    "band_edge",
    "z_transform",
    "z_transform_complement",
    "z_transform_partials",
    "z_transform_mp",
    "bce",
    "bce_grad",
    "bce_with_logits",
    "bce_with_logits_grad",
    "approx_confusion",
    "gmn",
    "gmn_grad",
    "bce_head_terms",
    "count_partials",
    "count_head_terms",
    "loss_terms",
    "head_loss",
    "head_loss_details",
    "head_mp",
    "to_mpf",
]

#: Default number of significant decimal digits of every returned value.
DPS = 60


# --------------------------------------------------------------------------
# ASTra, Eq. 4 (work on mpf at the current working precision)


def _astra_s_mp(mp, x, b):
    r"""``(u, L, s)``: :math:`u = b e^{bx}`, :math:`L = \log(1 + u)` and :math:`s = L/b`
    (so that :math:`1 - y = e^{-s}`) at ``mpf`` inputs."""
    u = b * mp.exp(b * x)
    L = mp.log1p(u)
    return u, L, L / b


def astra_terms_mp(x, b):
    r"""All ASTra quantities (Eq. 4) at ``mpf`` inputs, at the current working precision.

    No input checks and no adaptive precision: this is the raw closed form that
    the public functions wrap, exposed for numerical differentiation with
    ``mpmath.diff`` (``x`` and ``b`` may be any mpf, ``b > 0``).  Keys as in
    :func:`astra_all`.
    """
    mp = import_mpmath().mp
    u, L, s = _astra_s_mp(mp, x, b)  # b e^{bx}, log(1 + u), -log(1 - y)
    yc = mp.exp(-s)  # 1 - y
    y = -mp.expm1(-s)  # y
    logit = mp.log(mp.expm1(s))
    A = u * (1 + b * x) / (1 + u)
    B = L
    b2 = b * b
    if u > 1:
        # For t = b x + log b > 0, A and B both grow like b x: form A - B without them.
        AmB = 1 - mp.log(b) - (1 + b * x) / (1 + u) - mp.log1p(1 / u)
    else:
        AmB = A - B
    # The same difference regrouped for large x (t = b x + log b):
    # A - B = 1 - log b - (1 + b x) / (1 + u) - log1p(1 / u); the term scale is the
    # smaller of the two groupings' sums of absolute values (1 and log b counted
    # separately: as x -> +inf the b-partials change sign at b = e).
    C = 1 + abs(mp.log(b)) + abs(1 + b * x) / (1 + u) + mp.log1p(1 / u)
    S = min(abs(A) + abs(B), C)
    return {
        "y": y,
        "yc": yc,
        "logit": logit,
        "dy_dx": u * yc / (1 + u),
        "dy_db": yc * AmB / b2,
        "dy_db_scale": yc * S / b2,
        "dl_dx": u / ((1 + u) * y),
        "dl_db": AmB / (b2 * y),
        "dl_db_scale": S / (b2 * y),
    }


def astra_mp(x, b):
    r"""ASTra (Eq. 4) at ``mpf`` inputs up to a constant, for ``mpmath.diff``.

    ``y`` for ``x < 1/2`` and ``y - 1 = -(1 - y)`` otherwise: the two have the same
    derivatives, and the second keeps the digits of ``1 - y`` that ``y`` (rounded to 1
    at any fixed precision far enough in the tail) would lose. A form to differentiate,
    never to compare as a value (:func:`astra` is the value).
    """
    mp = import_mpmath().mp
    _, _, s = _astra_s_mp(mp, x, b)
    return -mp.expm1(-s) if x < 0.5 else -mp.exp(-s)


def astra_logit_mp(x, b):
    r"""The ASTra logit ``log(expm1(log1p(b e^{bx}) / b))`` (Eq. 4) at ``mpf`` inputs."""
    mp = import_mpmath().mp
    _, _, s = _astra_s_mp(mp, x, b)
    return mp.log(mp.expm1(s))


def _extra_digits(x, b):
    """Working digits to add for inputs with a large ``|b x|`` (see :func:`astra_np.check._precision.adaptive`)."""
    bx = abs(float(x) * float(b)) if math.isfinite(float(x) * float(b)) else 1e308
    return max(0, int(math.log10(max(1.0, bx, abs(float(x)), abs(float(b))))))


def _astra_inputs(x, b):
    xf = as_float("x", x)
    bf = check_positive("b", as_float("b", b))
    return to_mpf(xf), to_mpf(bf)


def astra_all(x, b, dps=DPS):
    r"""Every ASTra quantity at one point, Eq. 4 (one adaptive evaluation).

    Parameters
    ----------
    x : float
        Pre-activation, any finite float64.
    b : float
        Slope, ``b > 0``.
    dps : int, optional
        Significant decimal digits of the results.

    Returns
    -------
    dict of str to mpmath.mpf
        ``y`` (Eq. 4), ``yc`` (1 - y), ``logit`` (log(y / (1 - y))),
        ``dy_dx``, ``dy_db``, ``dl_dx``, ``dl_db`` (partials of y and of the
        logit), and ``dy_db_scale``, ``dl_db_scale``: the term scales of the
        b-partials (see :func:`astra_db_scale`), which tell how close a partial
        is to a sign change.
    """
    xm, bm = _astra_inputs(x, b)
    return adaptive(lambda: astra_terms_mp(xm, bm), dps, _extra_digits(x, b))


def _pick(x, b, dps, *keys):
    xm, bm = _astra_inputs(x, b)

    def compute():
        t = astra_terms_mp(xm, bm)
        return tuple(t[k] for k in keys)

    out = adaptive(compute, dps, _extra_digits(x, b))
    return out[0] if len(out) == 1 else out


def astra(x, b, dps=DPS):
    r"""ASTra activation, Eq. 4: ``y = 1 - (1 + b e^{bx})^{-1/b}``.

    Parameters
    ----------
    x : float
        Pre-activation (finite float64).
    b : float
        Slope, ``b > 0``.
    dps : int, optional
        Significant decimal digits.

    Returns
    -------
    mpmath.mpf
        ``y`` computed as ``-expm1(-log1p(b e^{bx}) / b)``.
    """
    return _pick(x, b, dps, "y")


def astra_complement(x, b, dps=DPS):
    r"""``1 - ASTra(x, b) = exp(-log1p(b e^{bx}) / b)`` (Eq. 4), to full relative precision."""
    return _pick(x, b, dps, "yc")


def astra_logit(x, b, dps=DPS):
    r"""``log(y / (1 - y))`` of Eq. 4, as ``log(expm1(log1p(b e^{bx}) / b))``."""
    return _pick(x, b, dps, "logit")


def astra_partials(x, b, dps=DPS):
    r"""Partials of Eq. 4: ``(dy/dx, dy/db)``.

    ``dy/dx = u (1 - y) / (1 + u)`` and ``dy/db = (1 - y) (A - B) / b^2`` with
    ``u = b e^{bx}``, ``A = u (1 + b x) / (1 + u)``, ``B = log1p(u)``.
    """
    return _pick(x, b, dps, "dy_dx", "dy_db")


def astra_logit_partials(x, b, dps=DPS):
    r"""Partials of the ASTra logit: ``(dl/dx, dl/db)``.

    ``dl/dx = u / ((1 + u) y)`` (-> b as x -> -inf, -> 1 as x -> +inf) and
    ``dl/db = (A - B) / (b^2 y)``, notation as in :func:`astra_partials`.
    """
    return _pick(x, b, dps, "dl_dx", "dl_db")


def astra_db_scale(x, b, dps=DPS):
    r"""Term scales ``(S_y, S_l)`` of the b-partials of Eq. 4 and of its logit.

    ``S_y = (1 - y) S / b^2`` and ``S_l = S / (b^2 y)`` where
    ``S = min(|A| + |B|, 1 + |log b| + |1 + b x| / (1 + u) + log1p(1 / u))``:
    what ``dy/db`` and ``dl/db`` would be if the terms of the better of the two
    groupings of ``A - B`` did not cancel.  ``|dy/db| / S_y`` near 0 means the
    partial is at (or near) a sign change.
    """
    return _pick(x, b, dps, "dy_db_scale", "dl_db_scale")


# --------------------------------------------------------------------------
# threshold, Eq. 5, and its inverse


def threshold(b, dps=DPS):
    r"""Threshold, Eq. 5: ``tau(b) = 1 - (1 + b)^{-1/b} = ASTra(0, b)``."""
    return astra(0.0, b, dps)


def threshold_grad(b, dps=DPS):
    r"""``dtau/db = (1 + b)^{-1/b} (b / (1 + b) - log1p(b)) / b^2`` (always < 0)."""
    return astra_partials(0.0, b, dps)[1]


def threshold_mp(b):
    r"""Eq. 5 at an ``mpf`` slope: ``tau(b) = ASTra(0, b)``, for ``mpmath.diff``."""
    return astra_mp(import_mpmath().mpf(0), b)


def threshold_logit_mp(b):
    r"""``logit tau(b) = log(expm1(log1p(b) / b))`` (Eq. 5) at an ``mpf`` slope."""
    return astra_logit_mp(import_mpmath().mpf(0), b)


def slope_for_threshold(tau, dps=DPS):
    r"""The slope ``b >= 1`` with ``tau(b) = tau`` (inverse of Eq. 5).

    Parameters
    ----------
    tau : float
        Threshold in ``(0, 0.5]``; ``tau = 0.5`` gives ``b = 1`` and
        ``tau = 0.25`` gives ``b = 7.39634876041953683903...``.
    dps : int, optional
        Significant decimal digits.

    Returns
    -------
    mpmath.mpf
        The root, found with ``mpmath.findroot`` in ``c = log b``.
    """
    t_f = check_tau("tau", as_float("tau", tau))
    t = to_mpf(t_f)
    mpmath = import_mpmath()

    def compute():
        mp = mpmath.mp
        if t == mp.mpf(0.5):
            return mp.mpf(1)
        log_t = mp.log(t)

        def F(c):
            bb = mp.exp(c)
            return mp.log(-mp.expm1(-mp.log1p(bb) / bb)) - log_t

        lo, hi = mp.mpf(0), mp.mpf(1)
        while F(hi) > 0:
            lo, hi = hi, 2 * hi
        c = mp.findroot(F, (lo, hi), solver="anderson")
        c = mp.findroot(F, c)
        if abs(F(c)) > mp.mpf(10) ** (-(mp.dps - 10)) * max(1, abs(log_t)):
            raise ArithmeticError(f"slope_for_threshold did not converge for tau={t_f!r}")
        return mp.exp(c)

    return adaptive(compute, dps)


# --------------------------------------------------------------------------
# beta -> b, Eq. 7


def slope_from_beta_mp(beta):
    r"""Eq. 7 at an ``mpf`` input: ``b = 2 + beta`` for ``beta > 0``, else ``1 + exp(beta)``."""
    return 2 + beta if beta > 0 else 1 + import_mpmath().mp.exp(beta)


def slope_from_beta(beta, dps=DPS):
    r"""Eq. 7: ``b = 2 + beta`` for ``beta > 0``, else ``1 + exp(beta)``."""
    bm = to_mpf(beta, "beta")
    return adaptive(lambda: slope_from_beta_mp(bm), dps)


def slope_from_beta_grad(beta, dps=DPS):
    r"""``db/dbeta`` of Eq. 7: 1 for ``beta > 0``, else ``exp(beta)`` (both 1 at 0)."""
    bm = to_mpf(beta, "beta")
    mpmath = import_mpmath()
    return adaptive(lambda: mpmath.mp.mpf(1) if bm > 0 else mpmath.mp.exp(bm), dps)


def beta_from_slope(b, dps=DPS):
    r"""Inverse of Eq. 7 for ``b > 1``: ``b - 2`` if ``b > 2``, else ``log(b - 1)``."""
    bf = as_float("b", b)
    if not bf > 1.0:
        raise ValueError(f"b must be > 1 to have a beta, got {bf!r}")
    bm = to_mpf(bf, "b")
    mpmath = import_mpmath()
    return adaptive(lambda: bm - 2 if bm > 2 else mpmath.mp.log(bm - 1), dps)


def band_edge(b, dps=DPS):
    r"""Fig. 2 band edge ``x* = log((2^b - 1) / b) / b`` where ``ASTra(x*, b) = 1/2``.

    Between 0 and ``x*`` the BCE contributions without the z-transform are
    wrongly ordered (Section 3.1).
    """
    bm = to_mpf(check_positive("b", as_float("b", b)), "b")
    mpmath = import_mpmath()
    return adaptive(lambda: mpmath.mp.log((2 ** bm - 1) / bm) / bm, dps)


# --------------------------------------------------------------------------
# z-transform, Eq. 6


def _z_inputs(p, tau):
    pm = to_mpf(check_prob("p", as_float("p", p)), "p")
    tm = to_mpf(check_tau("tau", as_float("tau", tau)), "tau")
    return pm, tm


def z_transform_mp(p, tau):
    r"""Eq. 6 at ``mpf`` inputs: ``z = p (1 - tau) / (p (1 - tau) + (1 - p) tau)``."""
    return p * (1 - tau) / (p * (1 - tau) + (1 - p) * tau)


def z_transform(p, tau, dps=DPS):
    r"""Eq. 6: ``z = p (1 - tau) / (p (1 - tau) + (1 - p) tau)``, p in [0, 1]."""
    pm, tm = _z_inputs(p, tau)
    return adaptive(lambda: z_transform_mp(pm, tm), dps)


def z_transform_complement(p, tau, dps=DPS):
    r"""``1 - z = (1 - p) tau / (p (1 - tau) + (1 - p) tau)`` of Eq. 6."""
    pm, tm = _z_inputs(p, tau)
    return adaptive(lambda: (1 - pm) * tm / (pm * (1 - tm) + (1 - pm) * tm), dps)


def z_transform_partials(p, tau, dps=DPS):
    r"""``(dz/dp, dz/dtau) = (tau (1 - tau) / D^2, -p (1 - p) / D^2)`` of Eq. 6.

    ``D = p (1 - tau) + (1 - p) tau``.
    """
    pm, tm = _z_inputs(p, tau)

    def compute():
        D = pm * (1 - tm) + (1 - pm) * tm
        return (tm * (1 - tm) / D ** 2, -pm * (1 - pm) / D ** 2)

    return adaptive(compute, dps)


# --------------------------------------------------------------------------
# BCE and GMN on probabilities (Eq. 8, 9)


def _p_y(p, y, need_both=False):
    ps = float_list("p", p)
    for i, v in enumerate(ps):
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"p must lie in [0, 1], got p[{i}] = {v!r}")
    ys = label_list("y", y, n=len(ps), need_both=need_both)
    return [to_mpf(v) for v in ps], ys


def bce(p, y, dps=DPS):
    r"""Mean binary cross-entropy ``mean(-y log p - (1 - y) log(1 - p))``.

    Returns ``+inf`` when a label has probability 0.
    """
    pm, ys = _p_y(p, y)
    mpmath = import_mpmath()

    def compute():
        mp = mpmath.mp
        if any((yi == 1 and pi == 0) or (yi == 0 and pi == 1) for pi, yi in zip(pm, ys)):
            return mp.inf
        terms = [-mp.log(pi) if yi else -mp.log1p(-pi) for pi, yi in zip(pm, ys)]
        return mp.fsum(terms) / len(terms)

    return adaptive(compute, dps)


def bce_grad(p, y, dps=DPS):
    r"""``dL/dp_i = (-y_i / p_i + (1 - y_i) / (1 - p_i)) / n`` of the mean BCE."""
    pm, ys = _p_y(p, y)
    n = len(pm)
    for i, (pi, yi) in enumerate(zip(pm, ys)):
        if (yi == 1 and pi == 0) or (yi == 0 and pi == 1):
            raise ValueError(f"bce gradient is infinite at p[{i}] = {float(pi)!r}, y = {yi}")
    return adaptive(lambda: [(-1 / pi if yi else 1 / (1 - pi)) / n for pi, yi in zip(pm, ys)], dps)


def bce_with_logits(logit, y, dps=DPS):
    r"""Mean BCE of ``sigmoid(logit)``: ``mean(y log1p(e^{-l}) + (1 - y) log1p(e^{l}))``."""
    ls = [to_mpf(v) for v in float_list("logit", logit)]
    ys = label_list("y", y, n=len(ls))
    mpmath = import_mpmath()

    def compute():
        mp = mpmath.mp
        return mp.fsum(mp.log1p(mp.exp(-li if yi else li)) for li, yi in zip(ls, ys)) / len(ls)

    return adaptive(compute, dps)


def bce_with_logits_grad(logit, y, dps=DPS):
    r"""``dL/dl_i = (sigmoid(l_i) - y_i) / n``, formed as ``-sigmoid(-l_i) / n`` for y = 1."""
    ls = [to_mpf(v) for v in float_list("logit", logit)]
    ys = label_list("y", y, n=len(ls))
    n = len(ls)
    mpmath = import_mpmath()

    def compute():
        mp = mpmath.mp
        return [(-1 / (1 + mp.exp(li)) if yi else 1 / (1 + mp.exp(-li))) / n for li, yi in zip(ls, ys)]

    return adaptive(compute, dps)


def _confusion(pm, ys):
    mp = import_mpmath().mp
    tn = mp.fsum((1 - pi) for pi, yi in zip(pm, ys) if yi == 0)
    fp = mp.fsum(pi for pi, yi in zip(pm, ys) if yi == 0)
    fn = mp.fsum((1 - pi) for pi, yi in zip(pm, ys) if yi == 1)
    tp = mp.fsum(pi for pi, yi in zip(pm, ys) if yi == 1)
    return tn, fp, fn, tp


def approx_confusion(p, y, dps=DPS):
    r"""Approximated confusion matrix, Eq. 8, as ``(TN, FP, FN, TP)``."""
    pm, ys = _p_y(p, y)
    return adaptive(lambda: _confusion(pm, ys), dps)


def gmn(p, y, dps=DPS):
    r"""GMN loss, Eq. 9: ``1 - sqrt(TN_apx TP_apx / (m0 m1))``; needs both classes."""
    pm, ys = _p_y(p, y, need_both=True)
    m1 = sum(ys)
    m0 = len(ys) - m1
    mpmath = import_mpmath()

    def compute():
        tn, _, _, tp = _confusion(pm, ys)
        return 1 - mpmath.mp.sqrt(tn * tp / (m0 * m1))

    return adaptive(compute, dps)


def gmn_grad(p, y, dps=DPS):
    r"""``dJ/dp_i`` of Eq. 9.

    ``-sqrt(TN / (m0 m1 TP)) / 2`` for positives and
    ``+sqrt(TP / (m0 m1 TN)) / 2`` for negatives; requires TN > 0 and TP > 0
    (the gradient is infinite otherwise).
    """
    pm, ys = _p_y(p, y, need_both=True)
    m1 = sum(ys)
    m0 = len(ys) - m1
    mpmath = import_mpmath()
    with mpmath.mp.workdps(DPS):
        tn, _, _, tp = _confusion(pm, ys)
    if tn == 0 or tp == 0:
        raise ValueError("gmn gradient is infinite when TN_apx or TP_apx is 0")

    def compute():
        mp = mpmath.mp
        tn, _, _, tp = _confusion(pm, ys)
        gpos = -mp.sqrt(tn / (m0 * m1 * tp)) / 2
        gneg = mp.sqrt(tp / (m0 * m1 * tn)) / 2
        return [gpos if yi else gneg for yi in ys]

    return adaptive(compute, dps)


# --------------------------------------------------------------------------
# the output head


def head_mp(xs, beta, ys, loss=DEFAULT_LOSS, astra=True, z=True):
    r"""The head of :func:`head_loss_details` on ``mpf`` inputs at the working precision.

    No input checks and no adaptive precision (``xs``: list of mpf, ``beta``:
    mpf, ``ys``: list of 0/1 ints); exposed for numerical differentiation with
    ``mpmath.diff``.  Returns the same dict as :func:`head_loss_details`.
    """
    mp = import_mpmath().mp
    beta_m = +beta
    if astra:
        b = slope_from_beta_mp(beta_m)
        db_dbeta = mp.mpf(1) if beta_m > 0 else mp.exp(beta_m)
    else:
        b = mp.mpf(1)
        db_dbeta = mp.mpf(0)
    t0 = astra_terms_mp(mp.mpf(0), b)
    terms = [astra_terms_mp(xi, b) for xi in xs]
    l = [t["logit"] - (t0["logit"] if z else 0) for t in terms]
    dl_dx = [t["dl_dx"] for t in terms]
    dl_db = [t["dl_db"] - (t0["dl_db"] if z else 0) for t in terms]
    dl_db_scale = [t["dl_db_scale"] + (t0["dl_db_scale"] if z else 0) for t in terms]
    value, dL_dl, extra = loss_terms(loss)(l, ys)
    dL_dx = [g * d for g, d in zip(dL_dl, dl_dx)]
    dL_dbeta = mp.fsum(g * d for g, d in zip(dL_dl, dl_db)) * db_dbeta
    scale = mp.fsum(abs(g) * s for g, s in zip(dL_dl, dl_db_scale)) * db_dbeta
    return {
        "loss": value,
        "dL_dx": dL_dx,
        "dL_dbeta": dL_dbeta,
        "dL_dbeta_scale": scale,
        "logit": l,
        "b": b,
        "measure": extra.get("measure"),
    }


def _sigmoids_mp(l):
    """``(sigmoid(l_i), 1 - sigmoid(l_i))`` lists at the working precision."""
    mp = import_mpmath().mp
    return [1 / (1 + mp.exp(-li)) for li in l], [1 / (1 + mp.exp(li)) for li in l]


def bce_head_terms(l, ys):
    r"""Mean BCE (``derivations/bce.md``) on logits ``l`` (list of mpf): ``(J, dJ/dl, {})``."""
    mp = import_mpmath().mp
    n = len(l)
    q, qc = _sigmoids_mp(l)
    value = mp.fsum(mp.log1p(mp.exp(-li if yi else li)) for li, yi in zip(l, ys)) / n
    return value, [(-qci if yi else qi) / n for qi, qci, yi in zip(q, qc, ys)], {}


def _head_counts(l, ys):
    """``(q, 1 - q, (TN, FP, FN, TP))`` of Eq. 8 on ``q = sigmoid(l)`` at the working precision."""
    mp = import_mpmath().mp
    q, qc = _sigmoids_mp(l)
    tn = mp.fsum(qci for qci, yi in zip(qc, ys) if yi == 0)
    fp = mp.fsum(qi for qi, yi in zip(q, ys) if yi == 0)
    fn = mp.fsum(qci for qci, yi in zip(qc, ys) if yi == 1)
    tp = mp.fsum(qi for qi, yi in zip(q, ys) if yi == 1)
    return q, qc, (tn, fp, fn, tp)


def count_partials(definition, counts):
    r"""``(J, k_neg, k_pos)`` of a loss ``definition(tn, fp, fn, tp, xp)`` at mpf ``counts``.

    :math:`k_- = \partial J/\partial FP - \partial J/\partial TN` and
    :math:`k_+ = \partial J/\partial TP - \partial J/\partial FN` by the complex step of
    the definition itself at the working precision: the pair of counts moves by
    :math:`\mp i\varepsilon` with :math:`\varepsilon = 2^{-p}` times the smaller count
    (``p`` the working precision in bits), and ``k = Im J / eps``. mpmath's complex
    arithmetic rounds each part on its own, so nothing cancels; the error of the step,
    :math:`O(\varepsilon^2)`, is far below the working precision. No hand derivation is
    involved: the definition is the only statement of the loss.
    """
    mp = import_mpmath().mp
    value = definition(*counts, mp)
    ks = []
    for i, j in ((0, 1), (2, 3)):
        eps = min(counts[i], counts[j]) * mp.mpf(2) ** (-mp.prec)
        moved = list(counts)
        moved[i] = mp.mpc(counts[i], -eps)
        moved[j] = mp.mpc(counts[j], eps)
        ks.append(mp.im(definition(*moved, mp)) / eps)
    return mp.re(value), ks[0], ks[1]


def count_head_terms(definition, l, ys):
    r"""A loss on the counts of Eq. 8 on logits ``l`` (list of mpf): ``(J, dJ/dl, {"measure": 1 - J})``.

    ``dJ/dl_i = k_pos q_i (1 - q_i)`` for positives and ``k_neg q_i (1 - q_i)`` for
    negatives, ``k`` from :func:`count_partials` of the registered definition.
    """
    q, qc, counts = _head_counts(l, ys)
    value, k_neg, k_pos = count_partials(definition, counts)
    dL_dl = [(k_pos if yi else k_neg) * qi * qci for qi, qci, yi in zip(q, qc, ys)]
    return value, dL_dl, {"measure": 1 - value}


#: The 60-digit head terms of each family of losses without a definition.
_FAMILY_TERMS = {"cross-entropy": bce_head_terms}


def loss_terms(loss):
    r"""The mpmath head terms ``f(l, ys) -> (J, dJ/dl list, extra)`` of a registered loss.

    A loss on the counts: :func:`count_head_terms` of its ``definition``; the
    cross-entropy: :func:`bce_head_terms`.
    """
    entry = get_loss(loss) if isinstance(loss, str) else loss
    if entry.definition is not None:
        return lambda l, ys: count_head_terms(entry.definition, l, ys)
    return _FAMILY_TERMS[entry.fused]


def head_loss_details(x, beta, y, loss=DEFAULT_LOSS, astra=True, z=True, dps=DPS):
    r"""Loss of the output head and its gradients, with intermediate quantities.

    The head maps pre-activations ``x_i`` and ``beta`` to
    ``b = slope_from_beta(beta)`` (Eq. 7; ``b = 1`` when ``astra=False``),
    ``l_i = logit ASTra(x_i, b)`` (Eq. 4), ``l_i <- l_i - logit tau(b)``
    when ``z`` (Eq. 6 in logit form, Eq. 5 for tau) and ``q_i = sigmoid(l_i)``,
    then to the loss: mean BCE of ``q`` or GMN (Eq. 8, 9) of ``q``.

    Parameters
    ----------
    x : sequence of float
        Pre-activations, shape (n,).
    beta : float
        Unconstrained slope parameter (ignored when ``astra=False``).
    y : sequence of {0, 1}
        Labels, shape (n,); GMN needs both classes.
    loss : str
        Loss on ``q``, a name of :func:`astra_np.core.registry.losses`.
    astra, z : bool
        Use ASTra (else the sigmoid, b = 1) / apply the z-transform.
    dps : int, optional
        Significant decimal digits.

    Returns
    -------
    dict
        ``loss`` (mpf), ``dL_dx`` (list of mpf), ``dL_dbeta`` (mpf, exactly 0
        when ``astra=False``), ``dL_dbeta_scale`` (mpf: the sum of the
        absolute values of every term adding up to ``dL_dbeta``, including
        the ``A``/``B`` terms of each ``dl_i/db``), ``logit`` (list of mpf
        ``l_i``), ``b`` (mpf) and, for a loss on the counts, ``measure`` (the
        measure of the approximated matrix, loss = 1 - measure: the G-Mean for
        GMN; ``None`` for BCE).
    """
    entry = get_loss(loss)
    xs = [to_mpf(v) for v in float_list("x", x)]
    ys = label_list("y", y, n=len(xs), need_both=entry.needs_both_classes)
    beta_m = to_mpf(beta, "beta")
    b_f = (2.0 + float(beta_m) if beta_m > 0 else 2.0) if astra else 1.0
    extra = max(_extra_digits(float(v), b_f) for v in xs)
    return adaptive(lambda: head_mp(xs, beta_m, ys, loss=loss, astra=astra, z=z), dps, extra)


def head_loss(x, beta, y, loss=DEFAULT_LOSS, astra=True, z=True, dps=DPS):
    r"""Reference for the core ``head_loss``: ``(loss, dL/dx list, dL/dbeta)``.

    See :func:`head_loss_details` for the definition and parameters.
    """
    d = head_loss_details(x, beta, y, loss=loss, astra=astra, z=z, dps=dps)
    return d["loss"], d["dL_dx"], d["dL_dbeta"]
