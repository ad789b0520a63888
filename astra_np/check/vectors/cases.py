r"""The cases of the reference vectors: deterministic inputs, tolerances and descriptions.

Each generator returns raw cases (inputs, kind, tolerance) of one function of
:data:`~astra_np.check.vectors.spec.FUNCTIONS`; their expected values are computed and
cross-checked by :func:`astra_np.check.vectors.generate`. Within a function the
ordinary-range ("default") cases come first, then the tails ("hard"); cases added to a
function go after the existing ones of their kind, so that case ids never change.
"""
import math

import numpy as np

from ...core.losses import METHODS
from .spec import B_TAU_005, B_TAU_025, EPS, TINY, head_key, loss_traits


def _unit(n, seed):
    """Deterministic points in (0, 1): exact dyadic rationals, no random generator."""
    i = np.arange(n, dtype=np.int64)
    k = (seed * 7919 + i * 40503) % 65536
    return (k.astype(np.float64) + 0.5) / 65536.0


def _labels(n, positives):
    """Labels with the given positive indices."""
    y = np.zeros(n, dtype=np.int64)
    y[list(positives)] = 1
    return y


def _scalar(v):
    return np.float64(v)


def _arr(*values):
    return np.array(values, dtype=np.float64)


def _raw(fn, kind, tag, description, **inputs):
    return {"function": fn, "kind": kind, "tag": tag, "description": description,
            "inputs": inputs, "rtol": None, "atol": TINY}


def _tail_rtol(bx):
    """Relative tolerance for a point whose exponent argument is b x (see _TOLERANCE)."""
    # The rounding of b*x (about |b x| * eps absolute) becomes a relative error of the
    # same size in exp(b x); 16 ulps of headroom for the other operations.
    return max(1e-12, 16.0 * EPS * abs(bx))


def _cases_astra(fn):
    out = []
    for b in (1.0, 1.0 + math.exp(-1.0), 2.0, B_TAU_025, B_TAU_005):
        for t in (-6.0, -3.0, -1.0, -0.25, 0.0, 0.25, 1.0, 3.0, 6.0):
            x = t / b
            out.append(_raw(fn, "default", f"b={b!r},x={x!r}", "ordinary range",
                            x=_scalar(x), b=_scalar(b)))
    for b, seed in ((1.0, 31), (B_TAU_025, 32)):
        x = (-6.0 + 12.0 * _unit(7, seed)) / b
        out.append(_raw(fn, "default", f"x[7],b={b!r}", "array x, broadcast scalar b",
                        x=x, b=_scalar(b)))
    x = ((-6.0 + 12.0 * _unit(6, 33)) / B_TAU_005).reshape(2, 3)
    out.append(_raw(fn, "default", f"x[2,3],b={B_TAU_005!r}", "2-d array x, broadcast scalar b",
                    x=x, b=_scalar(B_TAU_005)))
    out.append(_raw(fn, "default", "x[4],b[4]", "arrays x and b of the same shape",
                    x=_arr(-1.0, -0.1, 0.2, 0.05), b=_arr(1.0, 2.0, B_TAU_025, B_TAU_005)))
    tails = (-1000.0, -100.0, -30.0, -10.0, 10.0, 30.0, 100.0, 1000.0)
    for b, name in ((1.0, "tau=0.5"), (B_TAU_025, "tau=0.25"), (B_TAU_005, "tau=0.05")):
        for x in tails:
            side = "left" if x < 0 else "right"
            out.append(_raw(fn, "hard", f"b={b!r},x={x!r}", f"{side} tail, {name}",
                            x=_scalar(x), b=_scalar(b)))
    for b in (1.0 + 2.0 ** -40, 1.0 + EPS):
        for x in (-50.0, -1.0, 0.5, 50.0):
            out.append(_raw(fn, "hard", f"b={b!r},x={x!r}", "b next to 1",
                            x=_scalar(x), b=_scalar(b)))
    for b in (1e3, 1e6):
        for x in (-1.0, -0.01, 0.0, 0.01, 1.0):
            out.append(_raw(fn, "hard", f"b={b!r},x={x!r}", "large b",
                            x=_scalar(x), b=_scalar(b)))
    for b in (1.0, B_TAU_005):
        x = _arr(-1000.0, -30.0, -1.0, 0.0, 1.0, 30.0, 1000.0)
        out.append(_raw(fn, "hard", f"x[7],b={b!r}", "both tails in one array x, broadcast b",
                        x=x, b=_scalar(b)))
    for c in out:
        bx = np.max(np.abs(c["inputs"]["b"] * c["inputs"]["x"]))
        c["rtol"] = _tail_rtol(float(bx))
    return out


def _cases_threshold():
    out = []
    for b in (0.5, 1.0, 1.5, 2.0, 5.0, B_TAU_025, 20.0, B_TAU_005):
        out.append(_raw("threshold", "default", f"b={b!r}", "ordinary range", b=_scalar(b)))
    out.append(_raw("threshold", "default", "b[5]", "array b",
                    b=_arr(0.5, 1.0, 3.0, B_TAU_025, B_TAU_005)))
    for b in (1e-3, 1.0 + 2.0 ** -40, 1e3, 1e6, 1e12, 1e100):
        out.append(_raw("threshold", "hard", f"b={b!r}",
                        "b next to 1" if abs(b - 1) < 1e-6 else
                        ("small b" if b < 1 else "large b"), b=_scalar(b)))
    out.append(_raw("threshold", "hard", "b[4]", "array b: small, next to 1 and large",
                    b=_arr(1e-3, 1.0 + 2.0 ** -40, 1e6, 1e100)))
    for c in out:
        c["rtol"] = 1e-12
    return out


def _cases_slope_for_threshold():
    out = []
    for tau in (0.5, 0.45, 0.4, 0.3, 0.25, 0.2, 0.1, 0.05):
        out.append(_raw("slope_for_threshold", "default", f"tau={tau!r}", "ordinary range",
                        tau=_scalar(tau)))
    out.append(_raw("slope_for_threshold", "default", "tau[4]", "array tau",
                    tau=_arr(0.5, 0.35, 0.15, 0.05)))
    for tau in (0.5 - 2.0 ** -30, 0.01, 1e-4, 1e-8):
        out.append(_raw("slope_for_threshold", "hard", f"tau={tau!r}",
                        "tau next to 0.5 (b next to 1)" if tau > 0.4 else "small tau (large b)",
                        tau=_scalar(tau)))
    out.append(_raw("slope_for_threshold", "hard", "tau[3]", "array tau: next to 0.5 and small",
                    tau=_arr(0.5 - 2.0 ** -30, 1e-3, 1e-8)))
    for c in out:
        c["rtol"] = 1e-12
    return out


def _cases_slope_from_beta():
    out = []
    for beta in (-3.0, -1.0, -0.25, 0.0, 0.25, 1.0, B_TAU_025 - 2.0, B_TAU_005 - 2.0):
        out.append(_raw("slope_from_beta", "default", f"beta={beta!r}", "ordinary range",
                        beta=_scalar(beta)))
    out.append(_raw("slope_from_beta", "default", "beta[5]", "array beta across the joint",
                    beta=_arr(-2.0, -0.5, 0.0, 0.5, 2.0)))
    for beta in (-40.0, -700.0, -746.0, -1e-300, 1e-300, 1e6):
        out.append(_raw("slope_from_beta", "hard", f"beta={beta!r}",
                        "exp(beta) underflows" if beta < -700 else
                        ("next to the joint at beta = 0" if abs(beta) < 1 else
                         ("b next to 1" if beta < 0 else "large beta")), beta=_scalar(beta)))
    out.append(_raw("slope_from_beta", "hard", "beta[4]",
                    "array beta: exp(beta) underflows, the joint, large beta",
                    beta=_arr(-746.0, -1e-300, 1e-300, 1e6)))
    for c in out:
        c["rtol"] = 1e-12
    return out


def _cases_z():
    out = []
    for tau in (0.5, 0.25, 0.05):
        for p in (0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99):
            out.append(_raw("z_transform", "default", f"p={p!r},tau={tau!r}", "ordinary range",
                            p=_scalar(p), tau=_scalar(tau)))
    out.append(_raw("z_transform", "default", "p[7],tau=0.25", "array p, broadcast scalar tau",
                    p=0.01 + 0.98 * _unit(7, 34), tau=_scalar(0.25)))
    out.append(_raw("z_transform", "default", "p[2,2],tau[2,2]",
                    "arrays p and tau of the same shape",
                    p=_arr(0.1, 0.4, 0.6, 0.95).reshape(2, 2),
                    tau=_arr(0.5, 0.25, 0.1, 0.05).reshape(2, 2)))
    for tau in (0.5, 0.25, 0.05, 1e-6):
        for p, what in ((0.0, "p = 0"), (1.0, "p = 1"), (1e-300, "p tiny"),
                        (1.0 - 2.0 ** -53, "p next to 1")):
            out.append(_raw("z_transform", "hard", f"p={p!r},tau={tau!r}", what,
                            p=_scalar(p), tau=_scalar(tau)))
    out.append(_raw("z_transform", "hard", "p[5],tau=0.05",
                    "array p: 0, tiny, next to 1 and 1, broadcast scalar tau",
                    p=_arr(0.0, 1e-300, 0.5, 1.0 - 2.0 ** -53, 1.0), tau=_scalar(0.05)))
    for c in out:
        c["rtol"] = 1e-12
    return out


def _reduction_rtol(n):
    # Sums of n terms: summation order differs between implementations.
    return max(1e-12, 4.0 * EPS * n)


def _size_labels(n):
    """Labels of a several-size case: both classes once n >= 2, the first one positive."""
    return _labels(n, range(0, n, 3))


def _sizes(fn, sizes, seed):
    """One ordinary-range case of a reduction over p for each size n."""
    return [_raw(fn, "default", f"n={n},seed={seed + k}", f"several sizes: n = {n}",
                 p=0.05 + 0.9 * _unit(n, seed + k), y=_size_labels(n))
            for k, n in enumerate(sizes)]


def _cases_bce():
    fn = "bce"
    out = []
    for seed, pos in ((1, (0, 3)), (2, (1, 2, 5)), (3, (7,))):
        p = 0.05 + 0.9 * _unit(8, seed)
        out.append(_raw(fn, "default", f"n=8,seed={seed}", "ordinary range",
                        p=p, y=_labels(8, pos)))
    out.extend(_sizes(fn, (1, 2, 3, 33, 257), seed=41))
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.3, 0.6])
    out.append(_raw(fn, "hard", "p=0,1 correct", "p exactly 0 (y = 0) and 1 (y = 1)",
                    p=p, y=np.array([0, 1, 0, 1, 0, 1], dtype=np.int64)))
    p = np.array([1e-300, 1.0 - 2.0 ** -53, 0.5, 5e-324])
    out.append(_raw(fn, "hard", "confidently wrong", "y = 1 at p = 1e-300, y = 0 at p next to 1",
                    p=p, y=np.array([1, 0, 1, 0], dtype=np.int64)))
    n = 4001
    p = 1e-3 + 0.998 * _unit(n, 11)
    out.append(_raw(fn, "hard", "m1=1,m0=4000", "one positive among 4000 negatives",
                    p=p, y=_labels(n, (1234,))))
    for c in out:
        c["rtol"] = _reduction_rtol(c["inputs"]["p"].size)
    return out


def _cases_gmn():
    fn = "gmn"
    out = []
    for seed, pos in ((4, (0, 3)), (5, (1, 2, 5)), (6, (9,))):
        p = 0.05 + 0.9 * _unit(10, seed)
        out.append(_raw(fn, "default", f"n=10,seed={seed}", "ordinary range",
                        p=p, y=_labels(10, pos)))
    out.extend(_sizes(fn, (2, 3, 33, 257), seed=42))
    p = 0.02 + 0.5 * _unit(50, 7)
    out.append(_raw(fn, "hard", "single positive", "m1 = 1 among 50", p=p, y=_labels(50, (17,))))
    p = 0.02 + 0.5 * _unit(20, 8)
    p[[2, 9, 15]] = [1e-300, 5e-324, 1e-310]
    out.append(_raw(fn, "hard", "positives underflowing",
                    "every positive output tiny or subnormal (TP_apx about 1e-300)",
                    p=p, y=_labels(20, (2, 9, 15))))
    p = 0.02 + 0.5 * _unit(20, 9)
    p[4] = 1e-323
    out.append(_raw(fn, "hard", "positive subnormal",
                    "the only positive output is subnormal: TN_apx TP_apx / (m0 m1) is too",
                    p=p, y=_labels(20, (4,))))
    n = 4001
    p = 0.5 * _unit(n, 12)
    p[2718] = 0.75
    out.append(_raw(fn, "hard", "m1=1,m0=4000", "one positive among 4000 negatives",
                    p=p, y=_labels(n, (2718,))))
    p = np.array([0.0, 0.0, 1.0, 0.25, 1.0])
    out.append(_raw(fn, "hard", "p=0,1", "p exactly 0 and 1",
                    p=p, y=np.array([0, 0, 1, 0, 1], dtype=np.int64)))
    for c in out:
        c["rtol"] = _reduction_rtol(c["inputs"]["p"].size)
    return out


def _count_loss_edges(fn, astra):
    r"""Edges of a confusion-matrix loss (Eq. 8): a vanishing predicted marginal (every
    output next to 0, then next to 1: MCC's 0/0), a near-perfect separation (J near 0)
    and one positive far below the negatives (2 TP << FP + FN)."""
    beta = B_TAU_025 - 2.0 if astra else 0.0
    scale = 1.0 / 7.4 if astra else 1.0  # |b x| as in the sigmoid cases
    y = _labels(8, (2, 5))
    spread = _unit(8, 26)
    edges = (("outputs near 0", "every output next to 0: the predicted positives vanish",
              (-38.0 - 4.0 * spread) * scale),
             ("outputs near 1", "every output next to 1: the predicted negatives vanish",
              (38.0 + 4.0 * spread) * scale),
             ("separated", "a near-perfect separation: the loss is next to 0",
              np.where(y == 1, 30.0 + spread, -30.0 - spread) * scale),
             ("one positive far below", "one positive far below the negatives: 2 TP << FP + FN",
              np.where(np.arange(8) == 2, -45.0, -1.0 + 2.0 * spread) * scale))
    return [_raw(fn, "hard", tag, text, x=x, beta=_scalar(beta), y=y) for tag, text, x in edges]


def _cases_head(method):
    fn = head_key(method)
    astra = METHODS[method]["astra"]
    traits = loss_traits(METHODS[method]["loss"])
    out = []
    betas = (-1.0, B_TAU_025 - 2.0) if astra else (0.0, 0.0)
    for seed, beta, pos in ((21, betas[0], (0, 5)), (22, betas[1], (3, 7, 8))):
        x = -3.0 + 6.0 * _unit(12, seed)
        out.append(_raw(fn, "default", f"n=12,seed={seed},beta={beta!r}", "ordinary range",
                        x=x, beta=_scalar(beta), y=_labels(12, pos)))
    sizes = (2, 33) if traits["needs_both_classes"] else (1, 2, 33)
    for k, n in enumerate(sizes):
        beta = -1.0 if astra else 0.0   # b = 1.37: |b x| <= 4.1
        x = -3.0 + 6.0 * _unit(n, 43 + k)
        out.append(_raw(fn, "default", f"n={n},seed={43 + k},beta={beta!r}",
                        f"several sizes: n = {n}", x=x, beta=_scalar(beta), y=_size_labels(n)))
    # every positive's output underflows: logit about -800 (sigmoid) / -887 (b = 7.4)
    x = -2.0 + 4.0 * _unit(10, 23)
    x[[1, 6]] = (-120.0, -121.5) if astra else (-800.0, -805.0)
    beta = B_TAU_025 - 2.0 if astra else 0.0
    out.append(_raw(fn, "hard", "positives underflowing",
                    "every positive output underflows to 0 in float64",
                    x=x, beta=_scalar(beta), y=_labels(10, (1, 6))))
    # the naive chain rule overflows: exp(b x) or exp(-x) beyond the float64 range
    x = np.array([-1000.0, -60.0, -8.0, 0.0, 8.0, 60.0, 1000.0, -750.0])
    beta = B_TAU_005 - 2.0 if astra else 0.0
    out.append(_raw(fn, "hard", f"overflow,beta={beta!r}",
                    "exp(b x) / exp(-x) overflow in the naive chain rule",
                    x=x, beta=_scalar(beta), y=np.array([0, 1, 0, 1, 1, 0, 1, 0], dtype=np.int64)))
    if traits["rare_positive_case"]:
        n = 4001
        x = -6.0 + 8.0 * _unit(n, 24)
        x[777] = 1.5
        beta = B_TAU_025 - 2.0 if astra else 0.0
        out.append(_raw(fn, "hard", "m1=1,m0=4000", "one positive among 4000 negatives",
                        x=x, beta=_scalar(beta), y=_labels(n, (777,))))
    if astra:
        for beta in (-30.0, -800.0):
            x = -4.0 + 8.0 * _unit(9, 25)
            out.append(_raw(fn, "hard", f"beta={beta!r}",
                            "b next to 1" if beta > -700 else "exp(beta) underflows: b = 1",
                            x=x, beta=_scalar(beta), y=_labels(9, (2, 4))))
    if traits["rare_positive_case"]:
        out += _count_loss_edges(fn, astra)
    for c in out:
        x = c["inputs"]["x"]
        beta = float(c["inputs"]["beta"])
        b = (2.0 + beta if beta > 0 else 1.0 + math.exp(beta)) if astra else 1.0
        bx = b * float(np.max(np.abs(x)))
        c["rtol"] = max(_reduction_rtol(x.size), _tail_rtol(bx))
    return out


def _all_raw_cases():
    cases = {
        "astra": _cases_astra("astra"),
        "astra_logit": _cases_astra("astra_logit"),
        "threshold": _cases_threshold(),
        "slope_for_threshold": _cases_slope_for_threshold(),
        "slope_from_beta": _cases_slope_from_beta(),
        "z_transform": _cases_z(),
        "bce": _cases_bce(),
        "gmn": _cases_gmn(),
    }
    for m in METHODS:
        cases[head_key(m)] = _cases_head(m)
    return cases
