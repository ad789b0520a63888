r"""The self-certification table of astra_np: ``python -m astra_np gradcheck``.

Every public derivative of astra_np, checked with :func:`astra_np.check.gradcheck.check_gradient`
against complex step over the whole range (``x`` in ``[-1e4, 1e4]``, ``b`` in ``[1, 1000]``,
``p`` down to ``1e-300`` and up to ``1 - 1e-16``; the complex-safe forms of
:mod:`astra_np.check._complex`), against ``mpmath.diff`` of the 60-digit forward forms and the
closed-form head of :mod:`astra_np.check.reference` on a subsample, and against finite
differences in the bulk. :func:`certification_rows` builds the rows; the command
(:mod:`astra_np.cli.gradcheck`) runs and prints them.
"""
import numpy as np
from scipy.special import expit

from ..core import activation as act
from ..core import losses as los
from ..core import registry
from ..core import ztransform as zt
from . import _complex as cx
from . import reference as ref
from ._precision import import_mpmath
from .gradcheck import check_gradient, combine

__all__ = ["certification_rows", "has_mpmath", "short_reference"]

_SPECIAL_X = np.array([-1e4, -745.0, -40.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 40.0, 745.0, 1e4])
_SPECIAL_B = np.array([1.0, 2.0, 7.3963487604, 87.4, 1000.0])


def _sample_x(rng, n, scale=4.0):
    """x spanning bulk and tails: log-uniform |x| in [1e-4, 10**scale], both signs, plus specials."""
    n_rand = max(n - _SPECIAL_X.size, 0)
    k = n_rand // 2
    wide = np.sign(rng.uniform(-1.0, 1.0, k)) * 10.0 ** rng.uniform(-4.0, scale, k)
    bulk = rng.uniform(-5.0, 5.0, n_rand - k)
    x = np.concatenate([_SPECIAL_X[: min(n, _SPECIAL_X.size)], wide, bulk])
    return rng.permutation(x)


def _sample_b(rng, n):
    """b log-uniform in [1, 1000] plus the paper's values."""
    n_rand = max(n - _SPECIAL_B.size, 0)
    b = np.concatenate([_SPECIAL_B[: min(n, _SPECIAL_B.size)], 10.0 ** rng.uniform(0.0, 3.0, n_rand)])
    return rng.permutation(b)


def _sample_p(rng, n):
    """Probabilities in (0, 1) including both saturated ends (1e-300 ... 1 - 1e-16)."""
    k = n // 3
    lo = 10.0 ** rng.uniform(-300.0, 0.0, k)
    hi = 1.0 - 10.0 ** rng.uniform(-16.0, 0.0, k)
    mid = rng.uniform(0.0, 1.0, n - 2 * k)
    return np.clip(rng.permutation(np.concatenate([lo, hi, mid])), 1e-300, 1.0 - 2.0**-53)


def _labels(rng, n, n_pos):
    y = np.zeros(n, dtype=np.int64)
    y[rng.choice(n, size=n_pos, replace=False)] = 1
    return y


def _db_term_scale_y(x, b):
    r"""``(1-y) (|1 + b x| sigma(t) + softplus(t)) / b^2``: size of the terms of dy/db."""
    t = b * x + np.log(b)
    s = cx.astra_s(x, b)
    return np.exp(-s) * (np.abs(1.0 + b * x) * expit(t) + np.logaddexp(0.0, t)) / b**2


def _db_term_scale_logit(x, b):
    r"""``(|1 + b x| rho(t) + 1) phi(s) / b``: size of the terms of d logit / db."""
    t = b * x + np.log(b)
    s = cx.astra_s(x, b)
    rho = cx._r_d_log_softplus(np.asarray(t, dtype=np.float64))
    phi = np.ones_like(s)
    nz = s > 0
    phi[nz] = s[nz] / -np.expm1(-s[nz])
    return (np.abs(1.0 + b * x) * rho + 1.0) * phi / b


#: The accuracy the core promises away from sign changes, and the tolerance texts of the
#: table. Derivatives that change sign, or sums of terms of both signs, get an absolute
#: tolerance of 1e-14 times the size of their terms: relative error is unbounded at a zero
#: of any floating-point evaluation.
_RTOL = 1e-12
_REL = "rtol 1e-12"
_REL_ABS = "rtol 1e-12, atol 1e-14*terms"
#: Examples per draw of the losses and the head.
_DRAW_SIZE = 40


class _Rows(list):
    r"""The ``(label, tolerance text, thunk)`` rows of the self-certification table."""
    def add(self, label, tol, fn, *args, **kw):
        kw.setdefault("rtol", _RTOL)
        self.append((label, tol, lambda: fn(*args, **kw)))

    def add_many(self, label, tol, calls):
        """One row combining several ``check_gradient(*args, **kw)`` calls (e.g. draws)."""
        self.append((label, tol, lambda: combine([check_gradient(*a, **{"rtol": _RTOL, **k}) for a, k in calls],
                                                 label)))


def certification_rows(points, seed, draws, mp_points, fd=True):
    """List of ``(label, tolerance text, thunk)``; each thunk returns a GradcheckResult.

    Every sample is drawn from one generator, section after section, in table order.
    """
    rng = np.random.default_rng(seed)
    x = _sample_x(rng, points)
    b = _sample_b(rng, points)
    rows = _Rows()
    _astra_rows(rows, rng, x, b, points, seed)
    beta = _slope_rows(rows, rng, b, points)
    p, tau = _z_rows(rows, rng, points, seed)
    head_cases = _loss_and_head_rows(rows, rng, draws)
    if mp_points > 0 and has_mpmath():
        k = max(min(mp_points, points) - _SPECIAL_X.size, 0)
        xs = np.concatenate([_SPECIAL_X, x[:k]])
        bs = np.concatenate([np.resize(_SPECIAL_B, _SPECIAL_X.size), b[:k]])
        _mpmath_rows(rows, xs, bs, beta[: xs.size], p[: xs.size], tau[: xs.size])
        _mpmath_head_rows(rows, head_cases)
    if fd:
        _fd_rows(rows, x, b)
    return rows


def _astra_rows(rows, rng, x, b, points, seed):
    r"""ASTra, Eq. 4: the partials of y and of its logit, and the VJP with a broadcast b."""
    atol_y = 1e-14 * _db_term_scale_y(x, b)
    atol_l = 1e-14 * _db_term_scale_logit(x, b)
    rows.add("astra_partials dy/dx", _REL, check_gradient, cx.astra, act.astra_partials, (x, b), wrt=0)
    rows.add("astra_partials dy/db", _REL_ABS, check_gradient, cx.astra, act.astra_partials, (x, b), wrt=1,
             atol=atol_y)
    rows.add("astra_logit_partials dl/dx", _REL, check_gradient, cx.astra_logit, act.astra_logit_partials, (x, b),
             wrt=0)
    rows.add("astra_logit_partials dl/db", _REL_ABS, check_gradient, cx.astra_logit, act.astra_logit_partials,
             (x, b), wrt=1, atol=atol_l)
    m = max(points // 10, 1)
    xv = _sample_x(rng, 10 * m).reshape(m, 10)
    bv = _sample_b(rng, 10)
    g = np.random.default_rng(seed + 1).standard_normal(xv.shape)
    atol_gb = 1e-14 * np.sum(np.abs(g) * _db_term_scale_y(xv, bv), axis=0)
    rows.add("astra_vjp gx", _REL, check_gradient, cx.astra, act.astra_vjp, (xv, bv), mode="vjp", wrt=0,
             cotangent=g)
    rows.add("astra_vjp gb (b broadcast)", _REL_ABS, check_gradient, cx.astra, act.astra_vjp, (xv, bv),
             mode="vjp", wrt=1, cotangent=g, atol=atol_gb)


def _slope_rows(rows, rng, b, points):
    r"""Threshold (Eq. 5) and beta -> b (Eq. 7); returns the betas drawn."""
    rows.add("threshold_grad", _REL, check_gradient, cx.threshold, act.threshold_grad, (b,))
    rows.add("threshold_logit_grad", _REL, check_gradient, cx.threshold_logit, act.threshold_logit_grad, (b,))
    n_lo = points // 2
    beta = np.concatenate(
        [[0.0, -1e-300, 1e-300], rng.uniform(-40.0, 5.0, n_lo), 10.0 ** rng.uniform(-3.0, 3.0, max(points - n_lo - 3, 0))]
    )
    rows.add("slope_from_beta_grad", _REL, check_gradient, cx.slope_from_beta, act.slope_from_beta_grad, (beta,))
    return beta


def _z_rows(rows, rng, points, seed):
    r"""The z-transform, Eq. 6: partials and VJP; returns the ``(p, tau)`` drawn."""
    p = np.concatenate([[0.0, 1.0], _sample_p(rng, max(points - 2, 1))])
    tau = np.where(rng.uniform(size=p.size) < 0.1, 0.5, cx.threshold(_sample_b(rng, p.size)))
    rows.add("z_transform_partials dz/dp", _REL, check_gradient, cx.z_transform, zt.z_transform_partials, (p, tau),
             wrt=0)
    rows.add("z_transform_partials dz/dtau", _REL, check_gradient, cx.z_transform, zt.z_transform_partials,
             (p, tau), wrt=1)
    m = max(points // 10, 1)
    pv = _sample_p(rng, 10 * m).reshape(m, 10)
    pv[0, :2] = 0.0, 1.0
    rows.add("z_transform_vjp gp, gtau", _REL, check_gradient, cx.z_transform, zt.z_transform_vjp, (pv, tau[:10]),
             mode="vjp", seed=seed)
    return p, tau


def _draw_cases(rng, draws):
    r"""``draws`` draws of ``_DRAW_SIZE`` examples: ``(loss cases (p, logit, y), head cases (x, beta, y))``.

    The first head draw has the paper's initial slope; the last puts every positive at
    ``x = -1e4`` (TP_apx underflows).
    """
    n = _DRAW_SIZE
    loss_cases, head_cases = [], []
    for d in range(draws):
        y = _labels(rng, n, int(rng.integers(1, 6)))
        loss_cases.append((_sample_p(rng, n), _sample_x(rng, n), y))
        bh = 7.3963487604 if d == 0 else max(float(_sample_b(rng, 1)[0]), 1.0 + 1e-9)
        bet = np.asarray(float(act.beta_from_slope(bh)))
        xh = _sample_x(rng, n, scale=4.0 if d % 2 else 1.0)
        if d == draws - 1:
            xh = np.where(y == 1, -1e4, xh)  # every positive saturated: TP_apx underflows
        head_cases.append((xh, bet, y))
    return loss_cases, head_cases


def _loss_and_head_rows(rows, rng, draws):
    r"""The losses in probability space (Eq. 8, 9), every registered loss in logit space, and
    the head of every method (Eq. 4-9), by complex step; returns the head cases drawn."""
    loss_cases, head_cases = _draw_cases(rng, draws)
    grad_kw = {"mode": "gradient"}
    rows.add_many("bce_grad", _REL, [((cx.bce, los.bce_grad, (pp, y)), grad_kw) for pp, _, y in loss_cases])
    rows.add_many("bce_with_logits_grad", _REL,
                  [((cx.bce_with_logits, los.bce_with_logits_grad, (lg, y)), grad_kw) for _, lg, y in loss_cases])
    rows.add_many("gmn_grad", _REL, [((cx.gmn, los.gmn_grad, (pp, y)), grad_kw) for pp, _, y in loss_cases])
    for loss in registry.losses():
        if loss.fused != "counts":  # the cross-entropy's logit gradient has its row above
            continue
        form, value_and_grad = cx.loss_form(loss), loss.function("value_and_grad")
        grad = lambda lg, yy, vg=value_and_grad: vg(lg, yy)[1]
        rows.add_many(f"{loss.name}_with_logits (gradient)", _REL,
                      [((form, grad, (lg, y)), grad_kw) for _, lg, y in loss_cases])
    names = ("x", "beta", "y")
    for method, kw in los.METHODS.items():
        f = lambda xx, bb, yy, kw=kw: cx.head_loss(xx, bb, yy, **kw)
        gfun = lambda xx, bb, yy, kw=kw: los.head_loss(xx, float(bb), yy, **kw)[1:]
        rows.add_many(f"head_loss[{method}] dL/dx", _REL,
                      [((f, gfun, c), dict(mode="gradient", wrt=0, argnames=names)) for c in head_cases])
        if not kw["astra"]:  # the sigmoid head has no beta: dL/dbeta = 0 identically
            continue
        rows.add_many(f"head_loss[{method}] dL/dbeta", _REL_ABS,
                      [((f, gfun, c), dict(mode="gradient", wrt=1, argnames=names,
                                           atol=1e-14 * _head_beta_scale(*c, kw))) for c in head_cases])
    return head_cases


def _mpmath_rows(rows, xs, bs, beta, p, tau):
    r"""``mpmath.diff`` at 50 digits of the forward forms of :mod:`astra_np.check.reference`, on the special
    points plus a subsample."""
    ays = 1e-14 * _db_term_scale_y(xs, bs)
    als = 1e-14 * _db_term_scale_logit(xs, bs)
    mpr = "mpmath"
    rows.add("astra_partials dy/dx", _REL, check_gradient, ref.astra_mp, act.astra_partials, (xs, bs), mpr, wrt=0)
    rows.add("astra_partials dy/db", _REL_ABS, check_gradient, ref.astra_mp, act.astra_partials, (xs, bs), mpr,
             wrt=1, atol=ays)
    rows.add("astra_logit_partials dl/dx", _REL, check_gradient, ref.astra_logit_mp, act.astra_logit_partials,
             (xs, bs), mpr, wrt=0)
    rows.add("astra_logit_partials dl/db", _REL_ABS, check_gradient, ref.astra_logit_mp, act.astra_logit_partials,
             (xs, bs), mpr, wrt=1, atol=als)
    rows.add("threshold_grad", _REL, check_gradient, ref.threshold_mp, act.threshold_grad, (bs,), mpr)
    rows.add("threshold_logit_grad", _REL, check_gradient, ref.threshold_logit_mp, act.threshold_logit_grad, (bs,),
             mpr)
    rows.add("slope_from_beta_grad", _REL, check_gradient, ref.slope_from_beta_mp, act.slope_from_beta_grad, (beta,),
             mpr)
    rows.add("z_transform_partials dz/dp, dz/dtau", _REL, check_gradient, ref.z_transform_mp, zt.z_transform_partials, (p, tau),
             mpr)


def _mpmath_head_rows(rows, head_cases):
    r"""The head of every method against the 60-digit closed forms of :mod:`astra_np.check.reference`."""
    names = ("x", "beta", "y")
    some = head_cases[:2] + head_cases[-1:] if len(head_cases) > 3 else head_cases
    for method, kw in los.METHODS.items():
        gfun = lambda xx, bb, yy, kw=kw: los.head_loss(xx, float(bb), yy, **kw)[1:]

        def rfun(xx, bb, yy, kw=kw):
            _, gx, gb = ref.head_loss([float(v) for v in xx], float(bb), [int(v) for v in yy], **kw)
            return np.array([float(v) for v in gx]), float(gb)

        rfun.__name__ = "astra_np.check.reference.head_loss"
        rows.add_many(f"head_loss[{method}] dL/dx", _REL,
                      [((None, gfun, c, rfun), dict(mode="gradient", wrt=0, argnames=names)) for c in some])
        if kw["astra"]:  # the sigmoid head has no beta
            rows.add_many(f"head_loss[{method}] dL/dbeta", _REL_ABS,
                          [((None, gfun, c, rfun), dict(mode="gradient", wrt=1, argnames=names,
                                                        atol=1e-14 * _head_beta_scale(*c, kw))) for c in some])


def _fd_rows(rows, x, b):
    r"""Central differences + Richardson in the bulk only (unreliable in saturated tails)."""
    bulk = np.abs(b * x) < 20
    xb, bb_ = x[bulk][:200], b[bulk][:200]
    rows.append(("astra_partials (bulk |bx|<20)", "rtol 1e-7, atol 1e-12", lambda: check_gradient(
        act.astra, act.astra_partials, (xb, bb_), "fd", rtol=1e-7, atol=1e-12)))


def has_mpmath():
    """True when mpmath (the optional dependency of the 60-digit rows) is importable."""
    try:
        import_mpmath()
    except ImportError:  # pragma: no cover - mpmath is in the test and ref extras
        return False
    return True


def short_reference(r):
    """The short name of a result's reference for the table (complex step, mpmath.diff, ...)."""
    if r.startswith("complex"):
        return "complex step"
    if r.startswith("mpmath"):
        return "mpmath.diff"
    if r.startswith("central"):
        return "FD+Richardson"
    return "mpmath closed form" if "reference" in r else r[:18]


def _head_beta_scale(x, beta, y, kw):
    r"""``sum_i |dL/dl_i| (|dl_i/db| + |dl_tau/db|) |db/dbeta|`` by complex step (tolerance scale)."""
    if not kw["astra"]:
        return 0.0
    h = 1e-200
    logits = cx.head_logits(x, beta, astra=True, z=kw["z"])
    loss_fn = cx.loss_form(kw["loss"])
    dl = np.array([np.imag(loss_fn(logits + 1j * h * (np.arange(x.size) == i), y)) / h for i in range(x.size)])
    b = cx.slope_from_beta(beta)
    bz = b + 1j * h
    dlb = np.abs(np.imag(cx.astra_logit(x, bz)) / h)
    dtb = abs(float(np.imag(cx.threshold_logit(bz)) / h)) if kw["z"] else 0.0
    dbb = abs(float(np.imag(cx.slope_from_beta(beta + 1j * h)) / h))
    return float(np.sum(np.abs(dl) * (dlb + dtb)) * dbb)
