r"""Complex-step-safe forward forms of the elementary functions and of every astra_np forward.

The complex-step derivative of a real-analytic function is

.. math::

    f'(x) = \frac{\operatorname{Im} f(x + i h)}{h} + O(h^2),

free of subtractive cancellation, so ``h`` can be as small as ``1e-200`` and the
result is accurate to rounding (Squire & Trapp 1998; Martins, Sturdza & Alonso 2003).
It only works if every operation on the way accepts complex input *and* is accurate
for an imaginary part that is tiny compared with the real part. NumPy arithmetic is;
several elementary functions are not: ``numpy.logaddexp`` and ``scipy.special.expit``
reject complex input, and ``numpy.log1p`` / ``numpy.expm1`` / ``numpy.log`` lose the
real part's accuracy for complex arguments of tiny modulus.

The functions here therefore use, for a complex argument :math:`z = a + i\eta`,

.. math::

    f(a + i\eta) = f(a) + i\,\eta\,f'(a),

with ``f`` and ``f'`` the *real*, numerically stable forms. The neglected terms are
:math:`O(\eta^2 f''(a))` in the real part and :math:`O(\eta^3 f'''(a))` in the
imaginary part; for the steps used by :func:`astra_np.check.gradcheck.check_gradient`
(``|eta| <= 1e-16`` times a modest factor) they are far below rounding. A real
argument gives the real stable result, so each function doubles as a float64 form.

The forward forms of astra_np (``astra``, ``astra_logit``, ``threshold``,
``z_transform``, ``bce``, ``gmn``, ``head_loss``, ...) are written with these
primitives and plain arithmetic only, branch on the real parts, and keep the regimes
that avoid cancellation in the first-order (imaginary) part as well as in the value:
for ``t = b x + log b > 0``, for example, ``s = x + (log b + softplus(-t))/b``
instead of ``softplus(t)/b``, whose b-derivative would cancel two terms of size
``x/b``. They perform no input validation (they are reference forms for derivative
checks, not user entry points).

Derivations: ``derivations/astra.md``, ``derivations/z_transform.md``,
``derivations/bce.md``, ``derivations/gmn.md``, ``derivations/head.md``. The losses on the
approximated counts have no form here: each is its registered ``definition``
(:func:`astra_np.core.registry.register_count_loss`) on complex counts with an unbounded
exponent (:func:`count_loss_from_logits`).

Examples
--------
>>> import numpy as np
>>> h = 1e-200
>>> float(log1p(1e-20 + 1j * h).imag / h)        # d/da log1p(a) = 1/(1 + a)
1.0
>>> float(softplus(-800.0 + 1j * h).imag / h)    # expit(-800) underflows: 0
0.0
>>> float(astra(-1.0 + 1j * h, 1.0).imag / h)    # sigmoid'(-1)
0.19661193324148185
"""
from functools import partial

import numpy as np
from scipy.special import expit as _expit
from scipy.special import logsumexp as _logsumexp

from ..core._extended import EXTENDED, exp_of_log, imaginary_exp
from ..core.registry import DEFAULT_LOSS, get_loss

__all__ = [
    # elementary functions
    "lift",
    "log",
    "log1p",
    "exp",
    "expm1",
    "sqrt",
    "expit",
    "softplus",
    "logaddexp",
    "log_softplus",
    "log_expm1",
    "log_expm1_exp",
    "logit",
    "logsumexp",
    "log1p_over",
    # astra_np forward forms
    "astra_s",
    "astra",
    "astra_complement",
    "astra_logit",
    "threshold",
    "threshold_logit",
    "slope_from_beta",
    "z_transform",
    "bce",
    "bce_with_logits",
    "approx_confusion",
    "gmn",
    "count_loss_from_logits",
    "loss_form",
    "head_logits",
    "head_loss",
]


# ---------------------------------------------------------------------------
# Lifting a real function to first-order-exact complex arithmetic
# ---------------------------------------------------------------------------


def _split(z):
    """(real part as float64 array, imaginary part or None)."""
    z = np.asarray(z)
    if np.iscomplexobj(z):
        return np.array(z.real, dtype=np.float64), np.array(z.imag, dtype=np.float64)
    return np.asarray(z, dtype=np.float64), None


def _join(re, im):
    """Build a complex array from real and imaginary parts without forming ``1j * inf``."""
    out = np.empty(np.broadcast_shapes(np.shape(re), np.shape(im)), dtype=np.complex128)
    out.real = re
    out.imag = im
    return out


def _first_order(eta, d):
    """``eta * d`` where ``eta != 0`` and 0 elsewhere (so ``0 * inf`` never occurs).

    An overflow of the product is returned as the correctly signed infinity (it means
    the step was too large for this derivative; the caller's step ladder handles it).
    """
    eta, d = np.broadcast_arrays(np.asarray(eta, dtype=np.float64), np.asarray(d, dtype=np.float64))
    out = np.zeros(eta.shape)
    with np.errstate(over="ignore", invalid="ignore"):
        np.multiply(eta, d, out=out, where=eta != 0)
    return out


def lift(f, df):
    r"""Lift a real function ``f`` with derivative ``df`` to complex-step arithmetic.

    Returns ``F`` with ``F(a) = f(a)`` for real ``a`` and
    ``F(a + i eta) = f(a) + i eta f'(a)`` for complex input.

    >>> cube = lift(lambda a: a ** 3, lambda a: 3 * a ** 2)
    >>> complex(cube(2.0 + 1e-200j)) == complex(8.0, 12e-200)
    True
    """

    def lifted(z):
        a, eta = _split(z)
        val = f(a)
        if eta is None:
            return val
        return _join(val, _first_order(eta, df(a)))

    lifted.__name__ = getattr(f, "__name__", "lifted")
    return lifted


def _piecewise(cond, arrays, f_true, f_false):
    """Evaluate ``f_true`` where ``cond`` and ``f_false`` elsewhere, each only on its subset.

    ``arrays`` are broadcast to ``cond``'s shape; the functions receive the subsets
    (1-D) and must return arrays of the same length. No branch ever sees the other
    branch's arguments, so nothing overflows or raises in the unused branch.
    """
    cond = np.asarray(cond, dtype=bool)
    arrays = [np.broadcast_to(np.asarray(a), cond.shape) for a in arrays]
    results = []
    for mask, fn in ((cond, f_true), (~cond, f_false)):
        if np.any(mask):
            results.append((mask, np.asarray(fn(*[a[mask] for a in arrays]))))
    is_complex = any(np.iscomplexobj(r) for _, r in results) or any(np.iscomplexobj(a) for a in arrays)
    out = np.zeros(cond.shape, dtype=np.complex128 if is_complex else np.float64)
    for mask, r in results:
        out[mask] = r
    return out


# ---------------------------------------------------------------------------
# Real stable forms and their derivatives
# ---------------------------------------------------------------------------


def _r_log_softplus(t):
    # log(log1p(e^t)); for t <= -1 write it as t + log(log1p(w)/w), w = e^t.
    small = t <= -1.0
    out = np.empty_like(t)
    ts = t[small]
    w = np.exp(ts)
    ratio = np.ones_like(w)
    nz = w > 0
    ratio[nz] = np.log1p(w[nz]) / w[nz]
    out[small] = ts + np.log(ratio)
    out[~small] = np.log(np.logaddexp(0.0, t[~small]))
    return out


def _r_d_log_softplus(t):
    # expit(t) / softplus(t) = 1 / ((1 + w) log1p(w)/w) for t <= -1.
    small = t <= -1.0
    out = np.empty_like(t)
    w = np.exp(t[small])
    ratio = np.ones_like(w)
    nz = w > 0
    ratio[nz] = np.log1p(w[nz]) / w[nz]
    out[small] = 1.0 / ((1.0 + w) * ratio)
    tb = t[~small]
    out[~small] = _expit(tb) / np.logaddexp(0.0, tb)
    return out


def _r_log_expm1(s):
    # log(e^s - 1) for s > 0.
    big = s > 1.0
    out = np.empty_like(s)
    out[big] = s[big] + np.log(-np.expm1(-s[big]))
    out[~big] = np.log(np.expm1(s[~big]))
    return out


def _r_d_log_expm1(s):
    # e^s / (e^s - 1) = 1 / (1 - e^{-s})
    return 1.0 / -np.expm1(-s)


def _r_log_expm1_exp(v):
    # log(e^{e^v} - 1) as a function of v = log s; finite when s underflows.
    s = np.exp(v)
    out = np.empty_like(v)
    big = s >= 1.0
    out[big] = s[big] + np.log(-np.expm1(-s[big]))
    sm = s[~big]
    ratio = np.ones_like(sm)
    nz = sm > 0
    ratio[nz] = np.expm1(sm[nz]) / sm[nz]
    out[~big] = v[~big] + np.log(ratio)
    return out


def _r_d_log_expm1_exp(v):
    # d/dv = s e^s / (e^s - 1) = s / (1 - e^{-s}), -> 1 as s -> 0.
    s = np.exp(v)
    out = np.ones_like(v)
    nz = s > 0
    out[nz] = s[nz] / -np.expm1(-s[nz])
    return out


log = lift(np.log, lambda a: 1.0 / a)
log.__doc__ = r"""Natural logarithm (argument with positive real part), first-order exact."""
log1p = lift(np.log1p, lambda a: 1.0 / (1.0 + a))
log1p.__doc__ = r"""``log(1 + z)``, accurate for tiny ``|z|`` (unlike ``numpy.log1p`` on complex)."""
exp = lift(np.exp, np.exp)
exp.__doc__ = r"""Exponential, first-order exact."""
expm1 = lift(np.expm1, np.exp)
expm1.__doc__ = r"""``exp(z) - 1``, accurate for tiny ``|z|`` (unlike ``numpy.expm1`` on complex)."""
sqrt = lift(np.sqrt, lambda a: 0.5 / np.sqrt(a))
sqrt.__doc__ = r"""Square root (positive real part), first-order exact."""
expit = lift(_expit, lambda a: _expit(a) * _expit(-a))
expit.__doc__ = r"""Logistic sigmoid ``1 / (1 + exp(-z))`` for complex ``z`` (SciPy's rejects it)."""
softplus = lift(lambda a: np.logaddexp(0.0, a), _expit)
softplus.__doc__ = r"""``log(1 + exp(z))``, derivative ``expit``; never overflows."""
log_softplus = lift(_r_log_softplus, _r_d_log_softplus)
log_softplus.__doc__ = r"""``log(softplus(z))``, finite and accurate as ``Re z -> -inf``."""
log_expm1 = lift(_r_log_expm1, _r_d_log_expm1)
log_expm1.__doc__ = r"""``log(exp(z) - 1)`` for ``Re z > 0``; never overflows."""
log_expm1_exp = lift(_r_log_expm1_exp, _r_d_log_expm1_exp)
log_expm1_exp.__doc__ = r"""``log(exp(exp(v)) - 1)``, i.e. ``log_expm1(s)`` given ``v = log s``."""


def logaddexp(z1, z2):
    r"""``log(exp(z1) + exp(z2))`` for real or complex input (NumPy's rejects complex)."""
    a1, e1 = _split(z1)
    a2, e2 = _split(z2)
    val = np.logaddexp(a1, a2)
    if e1 is None and e2 is None:
        return val
    d = a1 - a2
    im = np.zeros(np.shape(val))
    if e1 is not None:
        im = im + _first_order(e1, _expit(d))
    if e2 is not None:
        im = im + _first_order(e2, _expit(-d))
    return _join(val, im)


def logit(p):
    r"""``log(p / (1 - p))`` for ``0 < Re p < 1``."""
    return log(p) - log1p(-np.asarray(p))


def logsumexp(v):
    r"""``log(sum(exp(v)))`` over all entries of a 1-D real or complex array."""
    a, eta = _split(v)
    val = _logsumexp(a)
    if eta is None:
        return float(val)
    w = np.exp(a - val)  # softmax weights
    return complex(val, float(np.sum(_first_order(eta, w))))


# ---------------------------------------------------------------------------
# astra_np forward forms (Eqs. 4-9), complex-step safe
# ---------------------------------------------------------------------------


def _broadcast(*args):
    arrays = [np.asarray(a) for a in args]
    is_c = any(np.iscomplexobj(a) for a in arrays)
    dtype = np.complex128 if is_c else np.float64
    return [np.asarray(a, dtype=dtype) for a in np.broadcast_arrays(*arrays)]


def _astra_pieces(x, b, want):
    r"""Evaluate ``want`` in {"s", "logit"} on the two regimes of ``t = b x + log b``."""
    x, b = _broadcast(x, b)
    t = b * x + log(b)

    def pos(xx, bb, tt):  # t > 0: s = x + (log b + softplus(-t)) / b
        s = xx + (log(bb) + softplus(-tt)) / bb
        return s if want == "s" else log_expm1(s)

    def neg(xx, bb, tt):  # t <= 0: s = softplus(t) / b, log s = log_softplus(t) - log b
        if want == "s":
            return softplus(tt) / bb
        return log_expm1_exp(log_softplus(tt) - log(bb))

    out = _piecewise(np.real(t) > 0, (x, b, t), pos, neg)
    return out


def astra_s(x, b):
    r""":math:`s = \operatorname{softplus}(bx + \log b)/b = -\log(1 - y)` (Eq. 4)."""
    return _astra_pieces(x, b, "s")


def astra(x, b):
    r"""ASTra, Eq. 4, as ``y = -expm1(-s)``; complex-step safe."""
    return -expm1(-astra_s(x, b))


def astra_complement(x, b):
    r"""``1 - y = exp(-s)`` (Eq. 4); complex-step safe."""
    return exp(-astra_s(x, b))


def astra_logit(x, b):
    r"""``log(y / (1 - y)) = log(e^s - 1)`` (Eq. 4) without forming ``y``; complex-step safe."""
    return _astra_pieces(x, b, "logit")


def _r_log1p_over(b):
    # log1p(b) / b, series 1 - b/2 + b^2/3 - ... for |b| < 1/2
    small = np.abs(b) < 0.5
    out = np.empty_like(b)
    bs = b[small]
    acc = np.zeros_like(bs)
    for k in range(60, -1, -1):
        acc = acc * -bs + 1.0 / (k + 1)
    out[small] = acc
    out[~small] = np.log1p(b[~small]) / b[~small]
    return out


def _r_d_log1p_over(b):
    # (b/(1+b) - log1p(b)) / b^2, series sum_{k>=1} (-1)^k k b^(k-1)/(k+1) for |b| < 1/2
    # (the direct form cancels two terms of size 1/b there)
    small = np.abs(b) < 0.5
    out = np.empty_like(b)
    bs = b[small]
    acc = np.zeros_like(bs)
    for k in range(60, 0, -1):
        acc = acc * bs + (-1.0) ** k * k / (k + 1)
    out[small] = acc
    bb = b[~small]
    out[~small] = (bb / (1.0 + bb) - np.log1p(bb)) / (bb * bb)
    return out


log1p_over = lift(_r_log1p_over, _r_d_log1p_over)
log1p_over.__doc__ = r"""``log1p(z) / z`` (1 at 0), with a cancellation-free derivative for small ``|z|``."""


def threshold(b):
    r"""Eq. 5, ``tau = -expm1(-log1p(b)/b)``; complex-step safe for every ``b > 0``."""
    return -expm1(-log1p_over(np.asarray(b)))


def threshold_logit(b):
    r"""``logit tau(b) = log(expm1(log1p(b)/b))`` (Eq. 5); complex-step safe."""
    return log_expm1(log1p_over(np.asarray(b)))


def slope_from_beta(beta):
    r"""Eq. 7, ``b = 2 + beta`` (``Re beta > 0``) else ``1 + exp(beta)``; complex-step safe."""
    beta = np.asarray(beta)
    return _piecewise(np.real(beta) > 0, (beta,), lambda bt: 2.0 + bt, lambda bt: 1.0 + exp(bt))


def z_transform(p, tau):
    r"""Eq. 6, ``z = a / (a + c)``, ``a = p(1 - tau)``, ``c = (1 - p) tau``; complex-step safe.

    For ``a <= c`` (``z <= 1/2``) the rational form is used as written, otherwise
    ``z = 1 - c / (a + c)``: the smaller term is always the numerator. Both are then
    cancellation-free in the value *and* in the first-order parts (with the larger
    term on top, the p-derivative near ``z = 1`` is the difference of two terms of
    size ``1 - tau`` whose difference is about ``tau``).
    """
    p, tau = _broadcast(p, tau)
    a = p * (1.0 - tau)
    c = (1.0 - p) * tau
    low = np.real(a) <= np.real(c)
    return _piecewise(low, (a, c), lambda aa, cc: aa / (aa + cc), lambda aa, cc: 1.0 - cc / (aa + cc))


def _labels(y):
    return np.asarray(y).astype(bool)


def bce(p, y):
    r"""Mean binary cross-entropy ``mean(-y log p - (1 - y) log(1 - p))``; complex-step safe."""
    p = np.asarray(p)
    pos = _labels(y)
    terms = _piecewise(pos, (p,), lambda q: -log(q), lambda q: -log1p(-q))
    return np.sum(terms) / terms.size


def bce_with_logits(logits, y):
    r"""Mean BCE on logits, ``mean(softplus(-l))`` over positives plus ``softplus(l)`` over negatives."""
    logits = np.asarray(logits)
    pos = _labels(y)
    terms = _piecewise(pos, (logits,), lambda v: softplus(-v), lambda v: softplus(v))
    return np.sum(terms) / terms.size


def approx_confusion(p, y):
    r"""Eq. 8 as a 2x2 array ``[[TN, FP], [FN, TP]]``; complex-step safe."""
    p = np.asarray(p)
    pos = _labels(y)
    tp = np.sum(p[pos])
    fn = np.sum(1.0 - p[pos])
    fp = np.sum(p[~pos])
    tn = np.sum(1.0 - p[~pos])
    return np.array([[tn, fp], [fn, tp]])


def gmn(p, y):
    r"""Eq. 9, ``1 - sqrt(TN/m0) sqrt(TP/m1)``; complex-step safe.

    The two square roots are taken separately so that a tiny ``TP`` does not
    underflow the product ``TN TP``.
    """
    p = np.asarray(p)
    pos = _labels(y)
    m1 = int(np.sum(pos))
    m0 = pos.size - m1
    tp = np.sum(p[pos])
    tn = np.sum(1.0 - p[~pos])
    return 1.0 - sqrt(tn / m0) * sqrt(tp / m1)


def count_loss_from_logits(definition, logits, y):
    r"""A loss on the counts of Eq. 8, given by its ``definition``, on ``sigmoid(l)``; complex-step safe.

    The counts are :class:`~astra_np.core._extended.Extended` numbers (complex, each part
    with an unbounded exponent): the real parts are log-sum-exps of
    :math:`\log\sigma(\pm\ell_i)`, the imaginary parts the first-order terms
    :math:`\pm\eta_i z_i(1 - z_i)` of the perturbed logits :math:`\ell_i + i\eta_i`, added
    to TP and FP and taken from FN and TN, so that TN + FP and FN + TP stay the class
    sizes exactly. The definition, written plainly, is so differentiated by the complex
    step in the tails too (``TP = e^-10000``, a first-order term of 1e-300 times
    ``z(1 - z) = e^-700``). Returns a complex number for complex logits, a float otherwise.
    """
    logits = np.asarray(logits)
    pos = _labels(y)
    a = np.real(logits).astype(np.float64)
    eta = np.imag(logits) if np.iscomplexobj(logits) else np.zeros_like(a)
    log_z, log_omz = -_real_softplus(-a), -_real_softplus(a)
    counts = [exp_of_log(_logsumexp(v)) for v in (log_omz[~pos], log_z[~pos], log_omz[pos], log_z[pos])]
    for i in np.flatnonzero(eta):
        step = imaginary_exp(np.log(abs(eta[i])) + log_z[i] + log_omz[i], np.sign(eta[i]))
        up, down = (3, 2) if pos[i] else (1, 0)  # TP and FN, or FP and TN
        counts[up] = counts[up] + step
        counts[down] = counts[down] - step
    value = complex(definition(*counts, EXTENDED))
    return value if np.iscomplexobj(logits) else value.real


def _real_softplus(v):
    return np.logaddexp(0.0, v)


#: The complex-step form of each family of losses without a definition.
_FAMILY_FORMS = {"cross-entropy": bce_with_logits}


def loss_form(loss):
    r"""The complex-step form ``f(logits, y) -> J`` of a registered loss (name or entry).

    A loss on the counts: its ``definition`` through :func:`count_loss_from_logits`;
    the cross-entropy: :func:`bce_with_logits`.
    """
    entry = get_loss(loss) if isinstance(loss, str) else loss
    if entry.definition is not None:
        return partial(count_loss_from_logits, entry.definition)
    return _FAMILY_FORMS[entry.fused]


def head_logits(x, beta, astra=True, z=True):
    r"""Logit fed to the loss: ``astra_logit(x, b) - [z] astra_logit(0, b)``, ``b = b(beta)``.

    With ``astra=False`` the head is the logistic sigmoid and the logit is ``x``.
    """
    x = np.asarray(x)
    if not astra:  # independent of beta; keep the complex type of a perturbed beta
        return x.astype(np.result_type(x, np.asarray(beta), np.float64))
    b = slope_from_beta(beta)
    out = astra_logit(x, b)
    if z:
        out = out - astra_logit(np.zeros(np.shape(b)), b)
    return out


def head_loss(x, beta, y, loss=DEFAULT_LOSS, astra=True, z=True):
    r"""Scalar loss of the output head (Eqs. 4, 6, 7, 8, 9) in logit space; complex-step safe."""
    return loss_form(loss)(head_logits(x, beta, astra=astra, z=z), y)
