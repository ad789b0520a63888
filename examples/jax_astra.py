r"""ASTra, the z-transform and every registered loss in JAX, checked against astra_np's vectors.

The twin of ``examples/pytorch_astra.py``. Only the forward functions are written;
``astra_np.check.vectors.implementation_from_forward`` adds every gradient the vectors
check from ``jax.grad`` (``jax.vjp`` works the same way). float64 is enabled first:
JAX computes in float32 by default, and the vectors' tolerances (1e-12 relative) are
far below float32's 6e-8. The output heads cover every method of the vectors
(``astra_np.METHODS``: BCE, GMN, soft F1 and soft MCC, each on the sigmoid and on
ASTra + z); they dispatch on the ``loss`` keyword.

``NAIVE``
    The formulas as printed in the paper, differentiated by ``jax.grad``: Eq. 4
    ``1 - (1 + b e^{bx})^{-1/b}``, Eq. 5, Eq. 7 with ``jnp.where``, Eq. 6 as a quotient,
    BCE with logs of probabilities, Eq. 9 as a square root of a product, and the soft F1
    and MCC losses as ``1 - F1`` and ``1 - MCC`` on the linear counts of Eq. 8. It passes the
    ordinary range and fails in the tails; the validator prints each failure's inputs
    and likely cause, and the script counts the causes.
``STABLE``
    The same functions written for the tails (softplus / log1p / logsumexp, logit
    space for the output head, the count losses from the log counts of Eq. 8,
    ``jnp.where`` fed only inputs on which both branches are finite) and two custom
    derivative rules (``jax.custom_jvp``) where differentiating
    the stable forward is still wrong (``derivations/astra.md``, ``z_transform.md``,
    ``head.md``, "Pitfalls"):

    * ``1 - e^h`` as ``-expm1(h)``: JAX differentiates ``expm1`` as ``1 + expm1(h)``,
      which rounds to 0 once ``e^h`` is below an ulp of 1
      (``jax.grad(jnp.expm1)(-40.)`` is 0.0, the exact value 4.25e-18). The rule states
      the derivative ``-e^h`` (:func:`one_minus_exp`). Without it ``dy/dx`` of ASTra is 0
      in the right tail and the GMN head's gradient vanishes exactly when every
      positive is misscored.
    * the z-transform ``A / D``: its value is accurate, but the quotient rule forms
      ``dz/dtau`` as a difference of two nearly equal terms when ``p`` is next to 1. The
      rule states the closed forms ``tau (1 - tau) / D^2`` and ``-p (1 - p) / D^2``
      (:func:`stable_z_transform`).

    XLA on CPU flushes subnormal numbers to zero, so the cases whose inputs are
    subnormal (tagged ``requires: ["subnormal"]`` in the vectors) cannot pass; the
    stable version is validated with ``exclude=("subnormal",)``, and the validator says
    how many cases that leaves out.

Run ``python examples/jax_astra.py [VECTORS.json]`` (without a file, the vectors are
generated in memory by astra_np). Exit status 0 when the stable version passes every
case but the subnormal ones, the naive one passes the ordinary range and fails only
in the tails.
"""
import sys
from collections import Counter

import jax

jax.config.update("jax_enable_x64", True)   # before any array is created

import jax.numpy as jnp  # noqa: E402
from jax.scipy.special import logsumexp  # noqa: E402

from astra_np.check.vectors import (  # noqa: E402
    generate,
    implementation_from_forward,
    load,
    validate,
)

# ======================================================================================
# Naive: the paper's formulas transcribed literally
# ======================================================================================


def naive_astra(x, b):
    """Eq. 4 as printed."""
    return 1 - (1 + b * jnp.exp(b * x)) ** (-1 / b)


def naive_astra_logit(x, b):
    y = naive_astra(x, b)
    return jnp.log(y / (1 - y))


def naive_threshold(b):
    """Eq. 5 as printed."""
    return 1 - (1 + b) ** (-1 / b)


def naive_slope_from_beta(beta):
    """Eq. 7 with jnp.where: exp(beta) is evaluated (and overflows) for every beta."""
    return jnp.where(beta > 0, 2 + beta, 1 + jnp.exp(beta))


def naive_z_transform(p, tau):
    """Eq. 6 as printed, differentiated by the quotient rule."""
    a = p * (1 - tau)
    return a / (a + (1 - p) * tau)


def naive_bce(p, y):
    return jnp.mean(-y * jnp.log(p) - (1 - y) * jnp.log(1 - p))


def naive_gmn(p, y):
    """Eq. 9 as printed."""
    m1 = jnp.sum(y)
    m0 = y.size - m1
    tn = jnp.sum((1 - p) * (1 - y))
    tp = jnp.sum(p * y)
    return 1 - jnp.sqrt(tn * tp / (m0 * m1))


def _naive_counts(p, y):
    """The approximated confusion counts of Eq. 8: TN, FP, FN, TP."""
    return (jnp.sum((1 - p) * (1 - y)), jnp.sum(p * (1 - y)), jnp.sum((1 - p) * y),
            jnp.sum(p * y))


def naive_f1(p, y):
    """Soft F1 loss as printed: 1 - 2TP / (2TP + FP + FN) on the counts of Eq. 8."""
    _, fp, fn, tp = _naive_counts(p, y)
    return 1 - 2 * tp / (2 * tp + fp + fn)


def naive_mcc(p, y):
    """Soft MCC loss as printed: 1 - (TP TN - FP FN) / sqrt(product of the four marginals)."""
    tn, fp, fn, tp = _naive_counts(p, y)
    return 1 - (tp * tn - fp * fn) / jnp.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))


NAIVE_LOSSES = {"bce": naive_bce, "gmn": naive_gmn, "f1": naive_f1, "mcc": naive_mcc}


def naive_head(x, beta, y, loss, astra, z):
    """ASTra -> z -> loss on probabilities (Eqs. 4-9), as a network would chain them."""
    b = naive_slope_from_beta(beta) if astra else jnp.ones((), dtype=x.dtype)
    q = naive_astra(x, b)
    if z:
        q = naive_z_transform(q, naive_threshold(b))
    return NAIVE_LOSSES[loss](q, y)


# ======================================================================================
# Stable: the same functions, written for the tails
# ======================================================================================

@jax.custom_jvp
def one_minus_exp(h):
    r"""1 - e^h for h <= 0: value -expm1(h), derivative -e^h (a custom JVP rule).

    JAX's own derivative of ``-expm1(h)`` is ``-(1 + expm1(h))``, which is exactly 0 once
    ``e^h < 2^-53`` (``h < -36.7``); the exact ``-e^h`` is a perfectly representable
    number there.
    """
    return -jnp.expm1(h)


@one_minus_exp.defjvp
def _one_minus_exp_jvp(primals, tangents):
    (h,), (dh,) = primals, tangents
    return -jnp.expm1(h), -jnp.exp(h) * dh


def softplus(t):
    """log(1 + e^t) without overflow."""
    return jnp.logaddexp(t, 0.0)


def _log_softplus(t):
    """log(softplus(t)), finite even when softplus(t) underflows (t < -745)."""
    far = t < -20.0
    t_near = jnp.where(far, 0.0, t)   # the log branch never sees t << 0
    t_far = jnp.where(far, t, -20.0)
    # log(log1p(e^t)) = t + log1p(-e^t / 2 + e^{2t} / 3 - ...); the rest is < 1e-18 here
    return jnp.where(far, t_far - jnp.exp(t_far) / 2, jnp.log(softplus(t_near)))


def _s(x, b):
    """s = -log(1 - y) = softplus(b x + log b) / b and t = b x + log b (Eq. 4)."""
    t = b * x + jnp.log(b)
    return softplus(t) / b, t


def stable_astra(x, b):
    """y = 1 - e^{-s} (Eq. 4) with the derivative rule of :func:`one_minus_exp`."""
    s, _ = _s(x, b)
    return one_minus_exp(-s)


def stable_astra_logit(x, b):
    r"""log(y / (1 - y)) = log(expm1(s)) in three regimes of s.

    s > 1: s + log1p(-e^-s); 1e-8 <= s <= 1: log(expm1(s)); s < 1e-8 (including s = 0
    after underflow): log s + s / 2 with log s = log softplus(t) - log b.
    """
    s, t = _s(x, b)
    big, small = s > 1.0, s < 1e-8
    s_big = jnp.where(big, s, 1.0)
    s_mid = jnp.where(big | small, 0.5, s)
    log_s = _log_softplus(t) - jnp.log(b)
    return jnp.where(big, s_big + jnp.log1p(-jnp.exp(-s_big)),
                     jnp.where(small, log_s + s / 2, jnp.log(jnp.expm1(s_mid))))


def stable_threshold(b):
    """Eq. 5 as 1 - e^{-log1p(b) / b}."""
    return one_minus_exp(-jnp.log1p(b) / b)


@jax.custom_jvp
def stable_z_transform(p, tau):
    r"""Eq. 6 as ``A / D`` (an accurate value: sums and products of non-negative terms)
    with the closed-form partials as its derivative rule (derivations/z_transform.md)."""
    a = p * (1 - tau)
    return a / (a + (1 - p) * tau)


@stable_z_transform.defjvp
def _z_jvp(primals, tangents):
    (p, tau), (dp, dtau) = primals, tangents
    d = p * (1 - tau) + (1 - p) * tau
    dz_dp = (tau / d) * ((1 - tau) / d)
    dz_dtau = -(p / d) * ((1 - p) / d)
    return stable_z_transform(p, tau), dz_dp * dp + dz_dtau * dtau


def stable_slope_from_beta(beta):
    """Eq. 7 with exp evaluated only where beta <= 0.

    Not ``exp(jnp.minimum(beta, 0))``: JAX splits the derivative of ``minimum`` at a tie,
    so at ``beta = 0`` it would give db/dbeta = 1/2 instead of 1.
    """
    return jnp.where(beta > 0, 2 + beta, 1 + jnp.exp(jnp.where(beta > 0, 0.0, beta)))


def _threshold_slope(b):
    """dtau/db elementwise."""
    return jax.grad(lambda v: stable_threshold(v).sum())(b)


def slope_for_threshold(tau):
    r"""Inverse of Eq. 5 with an implicit-function gradient db/dtau = 1 / tau'(b).

    The root is found without gradients (bisection in log b, then Newton); one Newton
    step in ``tau`` then carries the gradient: at the root it changes b by less than an
    ulp, and its derivative in tau is exactly 1 / tau'(b).
    """
    t = jax.lax.stop_gradient(tau)

    def bisect(_, bounds):
        lo, hi = bounds
        mid = (lo + hi) / 2
        up = stable_threshold(jnp.exp(mid)) > t   # tau(e^u) decreases in u
        return jnp.where(up, mid, lo), jnp.where(up, hi, mid)

    lo, hi = jax.lax.fori_loop(0, 200, bisect, (jnp.zeros_like(t), jnp.full_like(t, 709.0)))
    b0 = jnp.where(t == 0.5, 1.0, jnp.exp((lo + hi) / 2))
    for _ in range(3):
        b0 = jnp.where(t == 0.5, b0, b0 - (stable_threshold(b0) - t) / _threshold_slope(b0))
    b0 = jax.lax.stop_gradient(b0)
    slope = jax.lax.stop_gradient(_threshold_slope(b0))
    return b0 - (stable_threshold(b0) - tau) / slope


def stable_bce(p, y):
    """BCE where the weight-0 term never touches log(0)."""
    pos = y == 1
    p_pos = jnp.where(pos, p, 1.0)
    p_neg = jnp.where(pos, 0.0, p)
    return jnp.mean(jnp.where(pos, -jnp.log(p_pos), -jnp.log1p(-p_neg)))


def stable_gmn(p, y):
    """Eq. 9 as 1 - sqrt(TN / m0) sqrt(TP / m1): no subnormal product."""
    m1 = jnp.sum(y)
    m0 = y.size - m1
    tn = jnp.sum((1 - p) * (1 - y))
    tp = jnp.sum(p * y)
    return 1 - jnp.sqrt(tn / m0) * jnp.sqrt(tp / m1)


def _head_bce(logit, pos):
    return jnp.mean(softplus(jnp.where(pos, -logit, logit)))


def _log_counts(logit, pos):
    r"""log TN, log FP, log FN, log TP of Eq. 8 on z = sigmoid(logit), and log m0, log m1.

    Each count is a logsumexp of ``log_sigmoid(+-logit)`` over one class: finite for every
    finite logit, also where the linear count underflows (every positive at -800).
    """
    log_z, log_omz = jax.nn.log_sigmoid(logit), jax.nn.log_sigmoid(-logit)
    neg = ~pos
    counts = tuple(logsumexp(jnp.where(mask, v, -jnp.inf))
                   for mask, v in ((neg, log_omz), (neg, log_z), (pos, log_omz), (pos, log_z)))
    m1 = jnp.sum(pos)
    return counts, jnp.log(pos.size - m1), jnp.log(m1)


def _log_rate(log_c, log_other, log_m):
    """log(C/m); above 1/2 as log1p(-C'/m) from the other count C' = m - C, so that a
    rate next to 1 keeps its digits (1 - G stays accurate relative to itself as G -> 1).
    The branch not taken is fed a safe argument (the double-where rule): log1p(-1) = -inf
    there would make jnp.where's gradient NaN."""
    high = log_c > log_m - jnp.log(2.0)
    safe = jnp.where(high, log_other - log_m, -1.0)
    return jnp.where(high, jnp.log1p(-jnp.exp(safe)), log_c - log_m)


def _head_gmn(logit, pos):
    """1 - G with log G = (log(TP/m1) + log(TN/m0)) / 2, the counts by logsumexp."""
    (log_tn, log_fp, log_fn, log_tp), log_m0, log_m1 = _log_counts(logit, pos)
    return one_minus_exp(0.5 * (_log_rate(log_tp, log_fn, log_m1) + _log_rate(log_tn, log_fp, log_m0)))


def _head_f1(logit, pos):
    r"""1 - F1 = (FP + FN) / (2TP + FP + FN) = sigmoid(log(FP + FN) - log 2TP) (derivations/f1.md).

    Never ``1 - F1`` (0 in float64 once F1 rounds to 1). Nor ``exp(log(FP + FN) - log D)``:
    its autodiff forms ``dJ/dlog FP`` as ``FP / (FP + FN) - FP / D``, which cancels when
    ``2TP << FP + FN`` (the negatives' gradient is 0 instead of ``1e-21`` with one positive
    at -45). ``log_sigmoid``'s derivative is ``sigmoid(-t)``, so every partial here is a
    product of positive terms.
    """
    (_, log_fp, log_fn, log_tp), _, _ = _log_counts(logit, pos)
    return jnp.exp(jax.nn.log_sigmoid(jnp.logaddexp(log_fp, log_fn) - jnp.log(2.0) - log_tp))


def _head_mcc(logit, pos):
    r"""1 - MCC (derivations/mcc.md) from the log counts, S = sqrt(P Q m0 m1).

    MCC = TP TN / S - FP FN / S: each term is at most sqrt(PQ / (m0 m1)), so neither
    overflows, and both go to 0 as a marginal P = TP + FP or Q = TN + FN vanishes (the
    limit J = 1, zero gradients: no 0/0 and no NaN, since every log count is finite).
    For MCC > 1/2, J = (S^2 - N^2) / (S^2 (1 + MCC)) with S^2 - N^2 = n e3 (a sum of
    products of counts), so 1 - MCC never cancels; the other branch of the ``where``
    sees MCC = 1 (the double-where trick), so its gradient is finite too.
    """
    (log_tn, log_fp, log_fn, log_tp), log_m0, log_m1 = _log_counts(logit, pos)
    log_p, log_q = jnp.logaddexp(log_tp, log_fp), jnp.logaddexp(log_tn, log_fn)
    log_s2 = log_p + log_q + log_m0 + log_m1
    mcc = (jnp.exp(log_tp + log_tn - 0.5 * log_s2) - jnp.exp(log_fp + log_fn - 0.5 * log_s2))
    high = mcc > 0.5
    log_e3 = logsumexp(jnp.stack([log_fn + log_fp + log_tn, log_fn + log_fp + log_tp,
                                  log_fn + log_tn + log_tp, log_fp + log_tn + log_tp]))
    log_n = jnp.logaddexp(log_m0, log_m1)
    j_high = jnp.exp(log_n + log_e3 - log_s2) / (1 + jnp.where(high, mcc, 1.0))
    return jnp.where(high, j_high, 1 - mcc)


STABLE_HEAD_LOSSES = {"bce": _head_bce, "gmn": _head_gmn, "f1": _head_f1, "mcc": _head_mcc}


def stable_head(x, beta, y, loss, astra, z):
    """ASTra -> z -> loss in logit space: logit z = logit y-hat - logit tau (Eq. 6)."""
    if astra:
        b = stable_slope_from_beta(beta)
        logit = stable_astra_logit(x, b)
        if z:
            logit = logit - stable_astra_logit(jnp.zeros_like(b), b)
    else:
        logit = x   # sigmoid: b = 1, tau = 0.5, the z-transform is the identity
    return STABLE_HEAD_LOSSES[loss](logit, y == 1)


# ======================================================================================
# The implementations validate() expects: forward functions + jax.grad
# ======================================================================================

NAIVE_FORWARD = {
    "astra": naive_astra, "astra_logit": naive_astra_logit, "threshold": naive_threshold,
    "slope_for_threshold": slope_for_threshold, "slope_from_beta": naive_slope_from_beta,
    "z_transform": naive_z_transform, "bce": naive_bce, "gmn": naive_gmn,
    "head_loss": naive_head,
}
STABLE_FORWARD = {
    "astra": stable_astra, "astra_logit": stable_astra_logit, "threshold": stable_threshold,
    "slope_for_threshold": slope_for_threshold, "slope_from_beta": stable_slope_from_beta,
    "z_transform": stable_z_transform, "bce": stable_bce, "gmn": stable_gmn,
    "head_loss": stable_head,
}
NAIVE = implementation_from_forward(NAIVE_FORWARD, grad=jax.grad, asarray=jnp.asarray)
STABLE = implementation_from_forward(STABLE_FORWARD, grad=jax.grad, asarray=jnp.asarray)

#: Requirement tags this platform cannot meet: XLA on CPU flushes subnormals to zero.
EXCLUDE = ("subnormal",)


def run(vectors=None, out=None):
    """Validate both implementations; print the tables, failures and causes.

    Returns ``(naive, naive_default, stable)``: the ``ValidationResult`` of the naive
    version on every case and on the ordinary range, and of the stable version
    (subnormal cases left out).
    """
    out = sys.stdout if out is None else out
    doc = generate("all", check=False) if vectors is None else load(vectors)

    def banner(text):
        print("=" * 88 + "\n" + text + "\n" + "=" * 88, file=out)

    banner("NAIVE (the paper's formulas as printed, jax.grad) on the ordinary range")
    naive_default = validate(NAIVE, doc, cases="default", file=out)
    print(file=out)
    banner("NAIVE on every case, tails included")
    naive = validate(NAIVE, doc, cases="all", file=out, max_failures=6)
    causes = Counter()
    seen = set()
    for f in naive.failures:
        if f.case not in seen:
            seen.add(f.case)
            causes[f.cause] += 1
    print("\nlikely causes of the naive failures (first wrong quantity of each case): "
          + ", ".join(f"{k} {n}" for k, n in causes.most_common()), file=out)
    print(file=out)
    banner("STABLE (softplus / log1p / logsumexp, logit space and log counts, two custom JVP rules); "
           f"excluding cases that require: {', '.join(EXCLUDE)}")
    print("XLA on CPU flushes subnormal numbers to zero, so cases with subnormal inputs "
          "cannot pass here.", file=out)
    stable = validate(STABLE, doc, cases="all", exclude=EXCLUDE, file=out)
    return naive, naive_default, stable


def verdict(naive, naive_default, stable, out=None):
    """Print the verdict; 0 when the stable version passes (subnormal cases left out),
    the naive one passes the ordinary range and fails only in the tails, else 1."""
    out = sys.stdout if out is None else out
    hard_only = all("/hard/" in c for c in naive.failed_cases())
    ok = stable.passed and naive_default.passed and not naive.passed and hard_only
    print(f"\nstable passes every case but the subnormal ones: {stable.passed}; naive passes "
          f"the ordinary range: {naive_default.passed}; naive fails only in the tails: "
          f"{(not naive.passed) and hard_only}", file=out)
    return 0 if ok else 1


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    return verdict(*run(argv[0] if argv else None))


if __name__ == "__main__":
    sys.exit(main())
