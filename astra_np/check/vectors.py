r"""Portable reference vectors: inputs, values and gradients of the ASTra formulas in JSON.

A framework author who implements ASTra (Eq. 4), its threshold (Eq. 5), the slope
parametrisation (Eq. 7), the z-transform (Eq. 6), BCE and the GMN loss (Eqs. 8-9) or the
complete output head can check values *and* gradients against this file from any
language: it loads with a standard JSON parser, every float is written twice (shortest
round-trip decimal and C99 hexadecimal, ``float.hex``), and every case states the
tolerance it should be checked with.

Generation
----------
``python -m astra_np vectors [--out FILE] [--cases default|hard|all]`` writes the
document. Expected values are astra_np's own float64 results; while the file is being
written every one of them is cross-checked against an independent 60-digit mpmath
evaluation of the same formulas, and generation fails if any disagrees beyond the
case's stated tolerance. The output is deterministic: regenerating gives the same bytes.

Case sets
---------
``default``
    The ordinary range: ASTra at :math:`|b x| \le 6` for slopes from 1 to 87.4,
    probabilities away from 0 and 1, losses and heads on a dozen examples. A float64
    implementation of the formulas as printed (Eq. 4 literally, autograd gradients)
    passes these.
``hard``
    The tails: ``x`` far in both tails for ``b = 1``, ``7.3963...`` and ``87.37...``
    (``tau = 0.5, 0.25, 0.05``), ``b`` next to 1 and very large, ``p`` exactly 0 and 1,
    GMN with a single positive, with every positive output underflowing, with
    ``m1 = 1`` and ``m0 = 4000``, and output heads whose naive chain rule overflows.
``all``
    Both (the command's default).

Tolerances
----------
A quantity passes when ``|c - e| <= atol + rtol |e|``. ``atol`` is the smallest normal
double; ``rtol`` is ``1e-12``, raised to ``16 eps |b x|`` for ASTra points whose
exponent argument ``b x`` is large (its rounding is amplified by ``exp``) and to
``4 eps n`` for sums over ``n`` examples. astra_np itself stays below 5 % of every
tolerance against the mpmath reference.

Checking an implementation
--------------------------
:func:`validate` runs the callables of a module or a mapping (our names, see
:data:`FUNCTIONS`) against the vectors and prints a table of worst relative errors.
The document format is described by the JSON Schema ``astra_np/check/schema/vectors.schema.json``
(see :func:`schema`).
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "SCHEMA_VERSION",
    "CASE_SETS",
    "FUNCTIONS",
    "generate",
    "dumps",
    "write",
    "load",
    "decode",
    "schema",
    "schema_errors",
    "validate",
    "ValidationResult",
    "FunctionReport",
    "CaseFailure",
    "main",
]

#: Version of the document layout; bumped whenever a field changes meaning.
SCHEMA_VERSION = 1
FORMAT_NAME = "astra_np reference vectors"
CASE_SETS = ("default", "hard", "all")

# Smallest positive normal float64. Below it results are subnormal and carry fewer
# significant bits, so absolute differences smaller than it are never meaningful; it is
# the absolute tolerance of every case that does not state a larger one.
TINY = 2.2250738585072014e-308
EPS = 2.0 ** -52

# Slopes whose threshold tau(b) (Eq. 5) is 0.25 and 0.05, correctly rounded from a
# 60-digit root (7.39634876041953683903..., 87.37093590344008086920...).
B_TAU_025 = float.fromhex("0x1.d95dc730f3f8ap+2")
B_TAU_005 = float.fromhex("0x1.5d7bd69f18bfep+6")

# --------------------------------------------------------------------------------------
# Function table: how each function is called and what its gradient means.
# --------------------------------------------------------------------------------------

_HEAD_METHODS = {
    "bce": {"loss": "bce", "astra": False, "z": False},
    "gmn": {"loss": "gmn", "astra": False, "z": False},
    "bce-astra": {"loss": "bce", "astra": True, "z": True},
    "gmn-astra": {"loss": "gmn", "astra": True, "z": True},
}


def _elementwise(equation, formula, args, value_call, grad_call, note=""):
    return {
        "equation": equation,
        "formula": formula,
        "gradient_kind": "elementwise",
        "args": [{"name": a, "dtype": "float64", "differentiable": True} for a in args],
        "kwargs": {},
        "calls": [
            {"name": value_call, "returns": ["value"]},
            {"name": grad_call, "returns": ["gradient." + a for a in args]},
        ],
        "note": note,
    }


def _reduction(equation, formula, value_call, grad_call, note=""):
    return {
        "equation": equation,
        "formula": formula,
        "gradient_kind": "reduction",
        "args": [
            {"name": "p", "dtype": "float64", "differentiable": True},
            {"name": "y", "dtype": "int64", "differentiable": False},
        ],
        "kwargs": {},
        "calls": [
            {"name": value_call, "returns": ["value"]},
            {"name": grad_call, "returns": ["gradient.p"]},
        ],
        "note": note,
    }


def _head(method):
    kw = _HEAD_METHODS[method]
    chain = "z-transform (Eq. 6) of ASTra (Eq. 4), b = b(beta) (Eq. 7)" if kw["astra"] else (
        "logistic sigmoid of x (ASTra with b = 1); beta is not used and dL/dbeta = 0")
    loss = "mean binary cross-entropy" if kw["loss"] == "bce" else "GMN loss (Eqs. 8-9)"
    return {
        "equation": "Eqs. 4, 6, 7, 8, 9",
        "formula": f"{loss} of the {chain}, evaluated in logit space",
        "gradient_kind": "reduction",
        "args": [
            {"name": "x", "dtype": "float64", "differentiable": True},
            {"name": "beta", "dtype": "float64", "differentiable": True},
            {"name": "y", "dtype": "int64", "differentiable": False},
        ],
        "kwargs": dict(kw),
        "calls": [{"name": "head_loss", "returns": ["value", "gradient.x", "gradient.beta"]}],
        "note": ("x holds the output unit's pre-activations, y the labels; the logit fed "
                 "to the loss is astra_logit(x, b) - astra_logit(0, b) with z, "
                 "astra_logit(x, b) without"),
    }


#: For every function: its equation, formula, arguments, gradient meaning and the calls
#: (names a checked implementation provides) that produce the value and the gradient.
FUNCTIONS = {
    "astra": _elementwise(
        "Eq. 4", "y = 1 - (1 + b exp(b x))^(-1/b)", ["x", "b"], "astra", "astra_partials",
        "b > 0; y = -expm1(-s) with s = softplus(b x + log b) / b"),
    "astra_logit": _elementwise(
        "Eq. 4", "log(y / (1 - y)) = log(expm1(softplus(b x + log b) / b))", ["x", "b"],
        "astra_logit", "astra_logit_partials", "the logit of Eq. 4; -> b x as x -> -inf"),
    "threshold": _elementwise(
        "Eq. 5", "tau = 1 - (1 + b)^(-1/b)", ["b"], "threshold", "threshold_grad",
        "tau(b) = astra(0, b)"),
    "slope_for_threshold": _elementwise(
        "Eq. 5", "b such that tau(b) = tau; gradient db/dtau = 1 / (dtau/db)", ["tau"],
        "slope_for_threshold", "slope_for_threshold_grad", "tau in (0, 0.5]; b >= 1"),
    "slope_from_beta": _elementwise(
        "Eq. 7", "b = 2 + beta if beta > 0 else 1 + exp(beta)", ["beta"],
        "slope_from_beta", "slope_from_beta_grad",
        "continuous with a continuous derivative (1) at beta = 0"),
    "z_transform": _elementwise(
        "Eq. 6", "z = p (1 - tau) / (p (1 - tau) + (1 - p) tau)", ["p", "tau"],
        "z_transform", "z_transform_partials", "p in [0, 1], tau in (0, 0.5]"),
    "bce": _reduction(
        "Sec. 3.1", "mean(-y log p - (1 - y) log(1 - p)); a term whose weight is 0 is 0",
        "bce", "bce_grad", "y holds 0/1 labels; the mean is over all examples"),
    "gmn": _reduction(
        "Eqs. 8-9", "1 - sqrt(TN_apx TP_apx / (m0 m1)), TN_apx = sum (1-p)(1-y), "
        "TP_apx = sum p y", "gmn", "gmn_grad",
        "m0, m1: numbers of negatives and positives (both >= 1)"),
}
for _m in _HEAD_METHODS:
    FUNCTIONS[f"head_loss[{_m}]"] = _head(_m)
del _m

_ENCODING = (
    "Every array is an object {shape, dtype, data[, hex]}: data lists the elements in "
    "row-major order (shape [] is a scalar with one element); float64 elements are "
    "written as the shortest decimal that round-trips and, in hex, as C99 hexadecimal "
    "floats (Python float.hex / float.fromhex, C strtod, Java Double.parseDouble of "
    "'0x1.8p1'); both denote the same double. Labels (dtype int64) have no hex. No "
    "value is NaN or infinite."
)
_TOLERANCE = (
    "A computed quantity c passes against the expected e when |c - e| <= atol + rtol |e|, "
    "elementwise, for the value and every gradient entry of the case. atol is the "
    "smallest normal double, 2.2250738585072014e-308 (differences among subnormal "
    "results are not significant). rtol is 1e-12 or more where rounding errors are "
    "amplified: max(1e-12, 16 eps |b x|) for ASTra at x (the rounding of b x becomes a "
    "relative error of exp(b x)) and max(1e-12, 4 eps n) for sums over n examples, with "
    "eps = 2^-52. Every rtol is far below 1e-6, so a gradient off by a factor 1.000001 "
    "fails every case where it is not 0."
)
_GRADIENTS = (
    "gradient_kind 'elementwise': all arguments have the case's shape and gradient.<arg>"
    "[i] = d value[i] / d <arg>[i]. gradient_kind 'reduction': value is a scalar and "
    "gradient.<arg> = d value / d <arg>, shaped like <arg>. The calls list says which "
    "callables produce which quantities: call(*args in order, **kwargs)."
)


# --------------------------------------------------------------------------------------
# Deterministic inputs
# --------------------------------------------------------------------------------------

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
    for c in out:
        bx = float(c["inputs"]["b"]) * float(c["inputs"]["x"])
        c["rtol"] = _tail_rtol(bx)
    return out


def _cases_threshold():
    out = []
    for b in (0.5, 1.0, 1.5, 2.0, 5.0, B_TAU_025, 20.0, B_TAU_005):
        out.append(_raw("threshold", "default", f"b={b!r}", "ordinary range", b=_scalar(b)))
    for b in (1e-3, 1.0 + 2.0 ** -40, 1e3, 1e6, 1e12, 1e100):
        out.append(_raw("threshold", "hard", f"b={b!r}",
                        "b next to 1" if abs(b - 1) < 1e-6 else
                        ("small b" if b < 1 else "large b"), b=_scalar(b)))
    for c in out:
        c["rtol"] = 1e-12
    return out


def _cases_slope_for_threshold():
    out = []
    for tau in (0.5, 0.45, 0.4, 0.3, 0.25, 0.2, 0.1, 0.05):
        out.append(_raw("slope_for_threshold", "default", f"tau={tau!r}", "ordinary range",
                        tau=_scalar(tau)))
    for tau in (0.5 - 2.0 ** -30, 0.01, 1e-4, 1e-8):
        out.append(_raw("slope_for_threshold", "hard", f"tau={tau!r}",
                        "tau next to 0.5 (b next to 1)" if tau > 0.4 else "small tau (large b)",
                        tau=_scalar(tau)))
    for c in out:
        c["rtol"] = 1e-12
    return out


def _cases_slope_from_beta():
    out = []
    for beta in (-3.0, -1.0, -0.25, 0.0, 0.25, 1.0, B_TAU_025 - 2.0, B_TAU_005 - 2.0):
        out.append(_raw("slope_from_beta", "default", f"beta={beta!r}", "ordinary range",
                        beta=_scalar(beta)))
    for beta in (-40.0, -700.0, -746.0, -1e-300, 1e-300, 1e6):
        out.append(_raw("slope_from_beta", "hard", f"beta={beta!r}",
                        "exp(beta) underflows" if beta < -700 else
                        ("next to the joint at beta = 0" if abs(beta) < 1 else
                         ("b next to 1" if beta < 0 else "large beta")), beta=_scalar(beta)))
    for c in out:
        c["rtol"] = 1e-12
    return out


def _cases_z():
    out = []
    for tau in (0.5, 0.25, 0.05):
        for p in (0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99):
            out.append(_raw("z_transform", "default", f"p={p!r},tau={tau!r}", "ordinary range",
                            p=_scalar(p), tau=_scalar(tau)))
    for tau in (0.5, 0.25, 0.05, 1e-6):
        for p, what in ((0.0, "p = 0"), (1.0, "p = 1"), (1e-300, "p tiny"),
                        (1.0 - 2.0 ** -53, "p next to 1")):
            out.append(_raw("z_transform", "hard", f"p={p!r},tau={tau!r}", what,
                            p=_scalar(p), tau=_scalar(tau)))
    for c in out:
        c["rtol"] = 1e-12
    return out


def _reduction_rtol(n):
    # Sums of n terms: summation order differs between implementations.
    return max(1e-12, 4.0 * EPS * n)


def _cases_bce():
    fn = "bce"
    out = []
    for seed, pos in ((1, (0, 3)), (2, (1, 2, 5)), (3, (7,))):
        p = 0.05 + 0.9 * _unit(8, seed)
        out.append(_raw(fn, "default", f"n=8,seed={seed}", "ordinary range",
                        p=p, y=_labels(8, pos)))
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


def _cases_head(method):
    fn = f"head_loss[{method}]"
    astra = _HEAD_METHODS[method]["astra"]
    out = []
    betas = (-1.0, B_TAU_025 - 2.0) if astra else (0.0, 0.0)
    for seed, beta, pos in ((21, betas[0], (0, 5)), (22, betas[1], (3, 7, 8))):
        x = -3.0 + 6.0 * _unit(12, seed)
        out.append(_raw(fn, "default", f"n=12,seed={seed},beta={beta!r}", "ordinary range",
                        x=x, beta=_scalar(beta), y=_labels(12, pos)))
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
    if _HEAD_METHODS[method]["loss"] == "gmn":
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
    for m in _HEAD_METHODS:
        cases[f"head_loss[{m}]"] = _cases_head(m)
    return cases


# --------------------------------------------------------------------------------------
# The implementation being recorded (astra_np itself) and the call protocol
# --------------------------------------------------------------------------------------

def _package_impl():
    """astra_np's float64 functions under the names of the call protocol."""
    from astra_np.core import activation, losses, ztransform

    impl = {}
    for mod in (activation, ztransform, losses):
        for name in dir(mod):
            if not name.startswith("_"):
                impl[name] = getattr(mod, name)
    return impl


def _lookup(module_or_mapping):
    """name -> callable or None, for a mapping or for any object with attributes."""
    if isinstance(module_or_mapping, Mapping):
        return module_or_mapping.get
    return lambda name: getattr(module_or_mapping, name, None)


def _call(spec, lookup, inputs):
    """Evaluate one case through the call protocol.

    Returns ``(outputs, missing)``: a dict from quantity ('value', 'gradient.x', ...) to
    float64 arrays, and the names of calls the implementation does not provide.
    """
    outputs, missing = {}, []
    args = [inputs[a["name"]] for a in spec["args"]]
    for call in spec["calls"]:
        f = lookup(call["name"])
        if f is None:
            missing.append(call["name"])
            continue
        res = f(*args, **spec["kwargs"])
        if len(call["returns"]) == 1:
            res = (res,)
        res = tuple(res)
        if len(res) != len(call["returns"]):
            raise ValueError(f"{call['name']} returned {len(res)} results, expected "
                             f"{len(call['returns'])} ({', '.join(call['returns'])})")
        for key, r in zip(call["returns"], res):
            outputs[key] = np.asarray(r, dtype=np.float64)
    return outputs, missing


# --------------------------------------------------------------------------------------
# Cross-check against the mpmath reference (astra_np.check.reference, 60 significant digits)
# --------------------------------------------------------------------------------------

class _Reference:
    r"""Reference quantities of one case from :mod:`astra_np.check.reference` (mpmath).

    The reference evaluates the closed forms of Eqs. 4-9 and their hand-derived
    derivatives at rising precision until 60 significant digits are stable.
    """

    def __init__(self):
        import mpmath

        from astra_np.check import reference

        self.R = reference
        self.mpmath = mpmath

    def evaluate(self, fn, inputs, outputs):
        """Flat lists of mpf keyed like the outputs ('value', 'gradient.x', ...)."""
        R, mp = self.R, self.mpmath.mp
        f = {k: [float(e) for e in np.ravel(a)] for k, a in inputs.items()
             if np.asarray(a).dtype.kind == "f"}
        if fn in ("astra", "astra_logit"):
            d = R.astra_all(f["x"][0], f["b"][0])
            if fn == "astra":
                return {"value": [d["y"]], "gradient.x": [d["dy_dx"]], "gradient.b": [d["dy_db"]]}
            return {"value": [d["logit"]], "gradient.x": [d["dl_dx"]], "gradient.b": [d["dl_db"]]}
        if fn == "threshold":
            d = R.astra_all(0.0, f["b"][0])
            return {"value": [d["y"]], "gradient.b": [d["dy_db"]]}
        if fn == "slope_for_threshold":
            b = R.slope_for_threshold(f["tau"][0])
            with mp.workdps(R.DPS + 40):
                grad = 1 / R.astra_terms_mp(mp.mpf(0), b)["dy_db"]
            return {"value": [b], "gradient.tau": [grad]}
        if fn == "slope_from_beta":
            beta = f["beta"][0]
            return {"value": [R.slope_from_beta(beta)],
                    "gradient.beta": [R.slope_from_beta_grad(beta)]}
        if fn == "z_transform":
            p, tau = f["p"][0], f["tau"][0]
            dz_dp, dz_dtau = R.z_transform_partials(p, tau)
            return {"value": [R.z_transform(p, tau)], "gradient.p": [dz_dp],
                    "gradient.tau": [dz_dtau]}
        y = [int(v) for v in np.ravel(inputs["y"])]
        if fn in ("bce", "gmn"):
            value = getattr(R, fn)(f["p"], y)
            grad = getattr(R, fn + "_grad")(f["p"], y)
            return {"value": [value], "gradient.p": list(grad)}
        if fn.startswith("head_loss["):
            kw = _HEAD_METHODS[fn[len("head_loss["):-1]]
            d = R.head_loss_details(f["x"], f["beta"][0], y, **kw)
            return {"value": [d["loss"]], "gradient.x": list(d["dL_dx"]),
                    "gradient.beta": [d["dL_dbeta"]]}
        raise KeyError(fn)  # pragma: no cover


def _reference():
    """The mpmath reference used for the cross-check."""
    return _Reference()


def _cross_check(ref, fn, raw, outputs):
    """Compare one case with the reference.

    Returns ``(messages, worst)``: a message for every quantity that disagrees beyond
    the case's tolerance, and the largest ``|got - ref| / (atol + rtol |ref|)``.
    """
    expected = ref.evaluate(fn, raw["inputs"], outputs)
    mp = ref.mpmath.mp
    bad, worst = [], 0.0
    with mp.workdps(80):
        rtol, atol = mp.mpf(raw["rtol"]), mp.mpf(raw["atol"])
        for key, ref_vals in expected.items():
            got = np.ravel(outputs[key])
            if got.size != len(ref_vals):
                bad.append(f"{fn} {raw['tag']}: {key} has {got.size} elements, "
                           f"reference {len(ref_vals)}")
                continue
            for i, (g, r) in enumerate(zip(got, ref_vals)):
                g = float(g)
                if not math.isfinite(g):
                    ratio, rel = math.inf, math.inf
                else:
                    err = abs(mp.mpf(g) - r)
                    ratio = float(err / (atol + rtol * abs(r)))
                    rel = float(err / abs(r)) if r != 0 else (0.0 if err == 0 else math.inf)
                worst = max(worst, ratio)
                if ratio > 1.0:
                    bad.append(f"{fn} {raw['tag']}: {key}[{i}] = {g!r}, reference "
                               f"{mp.nstr(r, 20)}, relative error {rel:.3g}, "
                               f"rtol {raw['rtol']:.3g}, atol {raw['atol']:.3g}")
    return bad, worst


# --------------------------------------------------------------------------------------
# Encoding and the document
# --------------------------------------------------------------------------------------

def _tensor(a):
    a = np.asarray(a)
    if a.dtype.kind in "iub":
        return {"shape": list(a.shape), "dtype": "int64", "data": [int(v) for v in a.ravel()]}
    a = a.astype(np.float64)
    flat = [float(v) for v in a.ravel()]
    if not all(math.isfinite(v) for v in flat):
        raise ValueError(f"non-finite value in reference vectors: {flat!r}")
    return {"shape": list(a.shape), "dtype": "float64", "data": flat,
            "hex": [v.hex() for v in flat]}


def decode(t, where="array"):
    r"""NumPy array from an encoded array ``{shape, dtype, data[, hex]}`` of the document.

    Float elements are read from their hex spelling, which must denote the same double
    as the decimal one (``ValueError`` naming ``where`` otherwise).
    """
    shape = tuple(t["shape"])
    if t["dtype"] == "int64":
        return np.asarray(t["data"], dtype=np.int64).reshape(shape)
    vals = np.array([float.fromhex(h) for h in t["hex"]], dtype=np.float64)
    dec = np.asarray(t["data"], dtype=np.float64)
    if vals.shape != dec.shape or not np.array_equal(vals.view(np.int64), dec.view(np.int64)):
        raise ValueError(f"{where}: decimal and hex spellings differ")
    return vals.reshape(shape)


def _selected(kind, cases):
    return cases == "all" or kind == cases


def _astra_np_version():
    try:
        from astra_np import __version__
        return str(__version__)
    except ImportError:
        try:
            from importlib.metadata import version
            return version("astra_np")
        except Exception:  # package metadata absent (source checkout)
            return "unknown"


def generate(cases="all", *, check=True, functions=None, _impl=None):
    r"""Build the reference-vector document (a JSON-ready dict).

    Parameters
    ----------
    cases : {"default", "hard", "all"}
        Which case set to include (see the module documentation).
    check : bool
        Cross-check every expected value against the 60-digit mpmath reference
        (:mod:`astra_np.check.reference`, needs ``mpmath``) and raise if one disagrees beyond
        its case's tolerance.
    functions : iterable of str, optional
        Only these functions (keys of :data:`FUNCTIONS`); default all.

    Returns
    -------
    dict
        The document; :func:`dumps` turns it into the canonical text.

    Raises
    ------
    ValueError
        If ``cases`` is not one of ``CASE_SETS`` or ``functions`` names an unknown one.
    ImportError
        If ``check`` and mpmath is not installed.
    RuntimeError
        If ``check`` and an expected value disagrees with the reference.
    """
    if cases not in CASE_SETS:
        raise ValueError(f"cases must be one of {CASE_SETS}, got {cases!r}")
    if functions is not None:
        functions = list(functions)
        unknown = sorted(set(functions) - set(FUNCTIONS))
        if unknown:
            raise ValueError(f"functions: unknown names {unknown!r}; known: {list(FUNCTIONS)}")
    impl = _package_impl() if _impl is None else _impl
    lookup = _lookup(impl)
    ref = _reference() if check else None
    problems = []
    entries = {}
    for fn, raws in _all_raw_cases().items():
        if functions is not None and fn not in functions:
            continue
        spec = FUNCTIONS[fn]
        entry = {k: v for k, v in spec.items()}
        entry_cases = []
        counters = {"default": 0, "hard": 0}
        for raw in raws:
            kind = raw["kind"]
            if not _selected(kind, cases):
                continue
            outputs, missing = _call(spec, lookup, raw["inputs"])
            if missing:
                raise RuntimeError(f"astra_np provides no {', '.join(missing)}")
            if ref is not None:
                problems.extend(_cross_check(ref, fn, raw, outputs)[0])
            case = {
                "id": f"{fn}/{kind}/{counters[kind]:03d}",
                "kind": kind,
                "description": f"{raw['description']} ({raw['tag']})",
                "inputs": {a["name"]: _tensor(raw["inputs"][a["name"]]) for a in spec["args"]},
                "value": _tensor(outputs["value"]),
                "gradient": {a["name"]: _tensor(outputs["gradient." + a["name"]])
                             for a in spec["args"] if a["differentiable"]},
                "rtol": float(raw["rtol"]),
                "atol": float(raw["atol"]),
            }
            counters[kind] += 1
            entry_cases.append(case)
        entry["cases"] = entry_cases
        entries[fn] = entry
    if problems:
        raise RuntimeError(
            "astra_np disagrees with the mpmath reference beyond the stated tolerance:\n  "
            + "\n  ".join(problems))
    return {
        "format": FORMAT_NAME,
        "schema_version": SCHEMA_VERSION,
        "astra_np_version": _astra_np_version(),
        "cases": cases,
        "reference": ("expected values are astra_np's float64 results, each cross-checked "
                      "against a 60-digit mpmath evaluation" if check else
                      "expected values are astra_np's float64 results (not cross-checked)"),
        "encoding": _ENCODING,
        "tolerance": _TOLERANCE,
        "gradients": _GRADIENTS,
        "functions": entries,
    }


def _emit(obj, depth, out, indent=" "):
    """Canonical text: containers down to each case pretty-printed, cases on one line."""
    if isinstance(obj, dict) and depth < 4 and obj:
        out.append("{\n")
        items = list(obj.items())
        for i, (k, v) in enumerate(items):
            out.append(indent * (depth + 1) + json.dumps(k) + ": ")
            _emit(v, depth + 1, out, indent)
            out.append(",\n" if i < len(items) - 1 else "\n")
        out.append(indent * depth + "}")
    elif (isinstance(obj, list) and depth < 4 and obj
          and any(isinstance(v, (dict, list)) for v in obj)):
        out.append("[\n")
        for i, v in enumerate(obj):
            out.append(indent * (depth + 1))
            _emit(v, depth + 1, out, indent)
            out.append(",\n" if i < len(obj) - 1 else "\n")
        out.append(indent * depth + "]")
    else:
        out.append(json.dumps(obj, allow_nan=False, separators=(",", ":")))


def dumps(doc):
    r"""Canonical JSON text of a document (ASCII, one case per line, trailing newline)."""
    out = []
    _emit(doc, 0, out)
    out.append("\n")
    return "".join(out)


def write(path, cases="all", *, check=True):
    r"""Generate the document and write it to ``path`` (``"-"``: standard output).

    Returns the document (see :func:`generate`).
    """
    doc = generate(cases, check=check)
    text = dumps(doc)
    if path in (None, "-"):
        sys.stdout.write(text)
    else:
        with open(path, "w", encoding="ascii", newline="\n") as fh:
            fh.write(text)
    return doc


# --------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------

def schema():
    r"""The JSON Schema of the document (``astra_np/check/schema/vectors.schema.json``)."""
    from importlib import resources

    text = resources.files("astra_np.check").joinpath("schema", "vectors.schema.json").read_text(
        encoding="utf-8")
    return json.loads(text)


_JSON_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "null": lambda v: v is None,
}


def schema_errors(instance, schema_doc=None):
    r"""Violations of the schema by ``instance`` (an empty list when it conforms).

    A small validator for the subset of JSON Schema (draft 2020-12) the vectors schema
    uses: ``$ref`` (local ``#/$defs/...``), ``type``, ``enum``, ``const``, ``required``,
    ``properties``, ``additionalProperties``, ``items``, ``minItems``, ``maxItems``,
    ``minimum``, ``exclusiveMinimum``, ``minLength`` and ``pattern``. Other keywords are
    ignored; use the ``jsonschema`` package for full validation.

    Parameters
    ----------
    instance : object
        Parsed JSON.
    schema_doc : dict, optional
        The schema; default :func:`schema`.

    Returns
    -------
    list of str
        One message per violation, with the JSON path.
    """
    import re

    root = schema() if schema_doc is None else schema_doc
    errors = []

    def resolve(s):
        while "$ref" in s:
            ref = s["$ref"]
            if not ref.startswith("#/"):
                raise ValueError(f"unsupported $ref {ref!r}")
            node = root
            for part in ref[2:].split("/"):
                node = node[part]
            s = node
        return s

    def check(v, s, path):
        s = resolve(s)
        if s is True or s == {}:
            return
        if s is False:
            errors.append(f"{path}: not allowed")
            return
        t = s.get("type")
        if t is not None:
            types = [t] if isinstance(t, str) else t
            if not any(_JSON_TYPES[x](v) for x in types):
                errors.append(f"{path}: expected {t}, got {type(v).__name__}")
                return
        if "enum" in s and v not in s["enum"]:
            errors.append(f"{path}: {v!r} not in {s['enum']!r}")
        if "const" in s and v != s["const"]:
            errors.append(f"{path}: {v!r} is not {s['const']!r}")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if "minimum" in s and v < s["minimum"]:
                errors.append(f"{path}: {v!r} < minimum {s['minimum']!r}")
            if "exclusiveMinimum" in s and v <= s["exclusiveMinimum"]:
                errors.append(f"{path}: {v!r} <= exclusiveMinimum {s['exclusiveMinimum']!r}")
        if isinstance(v, str):
            if "minLength" in s and len(v) < s["minLength"]:
                errors.append(f"{path}: shorter than {s['minLength']}")
            if "pattern" in s and not re.search(s["pattern"], v):
                errors.append(f"{path}: {v!r} does not match {s['pattern']!r}")
        if isinstance(v, list):
            if "minItems" in s and len(v) < s["minItems"]:
                errors.append(f"{path}: fewer than {s['minItems']} items")
            if "maxItems" in s and len(v) > s["maxItems"]:
                errors.append(f"{path}: more than {s['maxItems']} items")
            if "items" in s:
                for i, item in enumerate(v):
                    check(item, s["items"], f"{path}[{i}]")
        if isinstance(v, dict):
            for r in s.get("required", ()):
                if r not in v:
                    errors.append(f"{path}: missing required {r!r}")
            props = s.get("properties", {})
            extra = s.get("additionalProperties", True)
            for k, item in v.items():
                if k in props:
                    check(item, props[k], f"{path}.{k}")
                elif extra is False:
                    errors.append(f"{path}: unexpected property {k!r}")
                elif isinstance(extra, dict):
                    check(item, extra, f"{path}.{k}")

    check(instance, root, "$")
    return errors


def load(source):
    r"""Read and check a reference-vector document.

    Parameters
    ----------
    source : str, os.PathLike, file object or dict
        A path, an open text file, or an already parsed document.

    Returns
    -------
    dict
        The parsed document.

    Raises
    ------
    ValueError
        If the document violates the schema, has another ``schema_version`` or its
        arrays are inconsistent (element counts, decimal and hex spellings).
    """
    if isinstance(source, dict):
        doc = source
    elif hasattr(source, "read"):
        doc = json.load(source)
    else:
        with open(source, encoding="utf-8") as fh:
            doc = json.load(fh)
    errors = schema_errors(doc)
    if errors:
        raise ValueError("reference vectors violate the schema:\n  " + "\n  ".join(errors[:20]))
    if doc["schema_version"] != SCHEMA_VERSION:
        raise ValueError(f"schema_version {doc['schema_version']!r} is not supported "
                         f"(this astra_np reads {SCHEMA_VERSION})")
    for fn, entry in doc["functions"].items():
        for case in entry["cases"]:
            tensors = [("inputs." + k, t) for k, t in case["inputs"].items()]
            tensors += [("value", case["value"])]
            tensors += [("gradient." + k, t) for k, t in case["gradient"].items()]
            for name, t in tensors:
                n = math.prod(t["shape"])
                if len(t["data"]) != n or ("hex" in t and len(t["hex"]) != n):
                    raise ValueError(f"{case['id']}: {name} does not have {n} elements")
                if t["dtype"] == "float64" and "hex" not in t:
                    raise ValueError(f"{case['id']}: {name} lacks its hex spelling")
                decode(t, f"{case['id']}: {name}")
    return doc


# --------------------------------------------------------------------------------------
# Validation of another implementation
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CaseFailure:
    r"""One quantity of one case that an implementation got wrong (or could not compute)."""

    function: str
    case: str
    quantity: str
    index: int
    expected: float
    got: float
    rel_error: float
    rtol: float
    atol: float
    message: str = ""

    def __str__(self):
        if self.message:
            return f"{self.case}: {self.message}"
        return (f"{self.case}: {self.quantity}[{self.index}] = {self.got!r}, expected "
                f"{self.expected!r} (relative error {self.rel_error:.3g}, rtol {self.rtol:.3g}, "
                f"atol {self.atol:.3g})")


@dataclass(frozen=True)
class FunctionReport:
    r"""Summary of one function: its row of the table printed by :func:`validate`."""

    function: str
    cases: int
    failed: int
    worst_rel_error: float
    worst_ratio: float
    worst_case: str
    missing: tuple = ()

    @property
    def status(self):
        """'PASS', 'FAIL', 'PASS (partial: no <call>)' when a call was not provided, or
        'SKIP' when no call of the function was provided."""
        if self.cases == 0:
            return "SKIP"
        if self.failed:
            return "FAIL"
        if self.missing:
            return "PASS (partial: no " + ", ".join(self.missing) + ")"
        return "PASS"

    @property
    def passed(self):
        return self.cases > 0 and self.failed == 0


@dataclass
class ValidationResult:
    r"""Outcome of :func:`validate`: one :class:`FunctionReport` per function and all failures."""

    reports: list = field(default_factory=list)
    failures: list = field(default_factory=list)

    @property
    def passed(self):
        """True when at least one case was checked and none failed."""
        return any(r.cases for r in self.reports) and not self.failures

    def report(self, function):
        """The :class:`FunctionReport` of ``function``."""
        for r in self.reports:
            if r.function == function:
                return r
        raise KeyError(function)

    def failed_cases(self, function=None):
        """Sorted ids of the failing cases (of one function, or all)."""
        return sorted({f.case for f in self.failures if function in (None, f.function)})

    def table(self):
        """The summary table as text."""
        head = ("function", "cases", "failed", "worst rel. err", "err/tol", "worst case", "result")
        rows = [head]
        for r in self.reports:
            worst_case = r.worst_case if r.cases and r.worst_ratio > 0 else "-"
            rows.append((r.function, str(r.cases), str(r.failed), _fmt(r.worst_rel_error),
                         _fmt(r.worst_ratio), worst_case, r.status))
        widths = [max(len(row[i]) for row in rows) for i in range(len(head) - 1)]
        lines = []
        for k, row in enumerate(rows):
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
            if k == 0:
                lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 6)
        n_fail = sum(r.failed for r in self.reports)
        n_cases = sum(r.cases for r in self.reports)
        lines.append(f"{n_cases} cases, {n_fail} failed: "
                     + ("PASS" if self.passed else "FAIL"))
        return "\n".join(lines)

    def __str__(self):
        return self.table()


def _fmt(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "nan"
    return f"{v:.2e}"


def _resolve_vectors(vectors, cases, functions):
    if vectors is None:
        return generate(cases, check=False, functions=functions)
    return load(vectors)


def _compare(exp, got, rtol, atol):
    """Elementwise (relative error, error / tolerance, passed) with NaN counted as failure."""
    with np.errstate(all="ignore"):
        diff = np.abs(got - exp)
        diff = np.where(got == exp, 0.0, diff)  # equal infinities are not NaN differences
        rel = diff / np.maximum(np.abs(exp), TINY)
        bound = atol + rtol * np.abs(exp)
        ratio = np.where(bound > 0, diff / np.where(bound > 0, bound, 1.0),
                         np.where(diff == 0, 0.0, np.inf))
    rel = np.where(np.isnan(rel), np.inf, rel)
    ratio = np.where(np.isnan(ratio), np.inf, ratio)
    return rel, ratio, ratio <= 1.0


def validate(module_or_mapping, vectors=None, *, cases="all", functions=None, file=None,
             verbose=True):
    r"""Check another implementation's values and gradients against the reference vectors.

    Parameters
    ----------
    module_or_mapping : module or mapping
        Provides callables under astra_np's names (``astra``, ``astra_partials``,
        ``astra_logit``, ``astra_logit_partials``, ``threshold``, ``threshold_grad``,
        ``slope_for_threshold``, ``slope_for_threshold_grad``, ``slope_from_beta``,
        ``slope_from_beta_grad``, ``z_transform``, ``z_transform_partials``, ``bce``,
        ``bce_grad``, ``gmn``, ``gmn_grad``, ``head_loss``). Each takes NumPy arrays
        (0-d for scalars, ``int64`` labels) and returns array-likes, exactly as the
        document's ``calls`` describe; ``head_loss(x, beta, y, loss=, astra=, z=)`` returns
        ``(loss, dL_dx, dL_dbeta)``. Missing names are skipped and reported.
    vectors : path, file, dict or None
        The document (see :func:`load`); None generates it in memory (unchecked, fast).
    cases : {"default", "hard", "all"}
        Which cases to run.
    functions : iterable of str, optional
        Restrict to these function keys (e.g. ``["astra", "head_loss[gmn-astra]"]``).
    file : text stream, optional
        Where the table goes (default standard output).
    verbose : bool
        Print the table (and up to 10 failures).

    Returns
    -------
    ValidationResult
        ``result.passed``, ``result.reports`` (one row per function) and
        ``result.failures``.

    Examples
    --------
    >>> from astra_np.check.vectors import validate
    >>> def astra(x, b):
    ...     return 1 - (1 + b * np.exp(b * x)) ** (-1 / b)   # Eq. 4 as printed
    >>> with np.errstate(all="ignore"):
    ...     res = validate({"astra": astra}, functions=["astra"], verbose=False)
    >>> res.report("astra").status
    'FAIL'
    >>> "astra/default/000" in res.failed_cases()
    False
    """
    if cases not in CASE_SETS:
        raise ValueError(f"cases must be one of {CASE_SETS}, got {cases!r}")
    wanted = None if functions is None else set(functions)
    if wanted is not None:
        unknown = wanted - set(FUNCTIONS)
        if unknown:
            raise ValueError(f"functions: unknown names {sorted(unknown)!r}; "
                             f"known: {list(FUNCTIONS)}")
    doc = _resolve_vectors(vectors, cases, None if wanted is None else sorted(wanted))
    lookup = _lookup(module_or_mapping)
    result = ValidationResult()
    for fn, entry in doc["functions"].items():
        if wanted is not None and fn not in wanted:
            continue
        n_cases, n_failed = 0, 0
        worst = (-1.0, 0.0, "")  # (ratio, rel, case id)
        missing_all = set()
        for case in entry["cases"]:
            if not _selected(case["kind"], cases):
                continue
            inputs = {k: decode(t) for k, t in case["inputs"].items()}
            inputs = {k: (np.float64(v) if v.ndim == 0 and v.dtype.kind == "f" else v)
                      for k, v in inputs.items()}
            expected = {"value": decode(case["value"])}
            expected.update({"gradient." + k: decode(t) for k, t in case["gradient"].items()})
            try:
                outputs, missing = _call(entry, lookup, inputs)
            except Exception as exc:  # the implementation under test raised
                n_cases += 1
                n_failed += 1
                result.failures.append(CaseFailure(fn, case["id"], "*", -1, math.nan, math.nan,
                                                   math.inf, case["rtol"], case["atol"],
                                                   f"raised {type(exc).__name__}: {exc}"))
                worst = max(worst, (math.inf, math.inf, case["id"]))
                continue
            missing_all.update(missing)
            if not outputs:
                continue
            n_cases += 1
            case_failed = False
            for key, exp in expected.items():
                if key not in outputs:
                    continue
                got = outputs[key]
                if got.size != exp.size:
                    case_failed = True
                    result.failures.append(CaseFailure(
                        fn, case["id"], key, -1, math.nan, math.nan, math.inf, case["rtol"],
                        case["atol"], f"{key} has shape {got.shape}, expected {exp.shape}"))
                    worst = max(worst, (math.inf, math.inf, case["id"]))
                    continue
                e, g = exp.ravel(), got.ravel()
                rel, ratio, ok = _compare(e, g, case["rtol"], case["atol"])
                i = int(np.argmax(ratio))
                if (ratio[i], rel[i]) > worst[:2]:
                    worst = (float(ratio[i]), float(rel[i]), case["id"])
                for j in np.flatnonzero(~ok):
                    case_failed = True
                    result.failures.append(CaseFailure(
                        fn, case["id"], key, int(j), float(e[j]), float(g[j]), float(rel[j]),
                        case["rtol"], case["atol"]))
            n_failed += case_failed
        result.reports.append(FunctionReport(
            fn, n_cases, n_failed, worst[1] if n_cases else math.nan,
            worst[0] if n_cases else math.nan, worst[2], tuple(sorted(missing_all))))
    if verbose:
        out = sys.stdout if file is None else file
        print(result.table(), file=out)
        if result.failures:
            print(f"first failures (of {len(result.failures)}):", file=out)
            for f in result.failures[:10]:
                print("  " + str(f), file=out)
    return result


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------

def _import_target(spec):
    """'pkg.module' or 'pkg.module:attribute' -> module or mapping."""
    mod_name, _, attr = spec.partition(":")
    obj = importlib.import_module(mod_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


def main(argv=None):
    r"""``python -m astra_np vectors``: write the reference vectors or validate against them.

    Returns the process exit code: 0 on success, 1 when validation fails or the
    generated values disagree with the mpmath reference, 2 on usage errors.
    """
    parser = argparse.ArgumentParser(
        prog="python -m astra_np vectors",
        description="Write astra_np's portable JSON reference vectors (values and gradients "
                    "of Eqs. 4-9, cross-checked against 60-digit mpmath), or validate an "
                    "implementation against them.")
    parser.add_argument("--out", default="-", metavar="FILE",
                        help="output file (default '-': standard output)")
    parser.add_argument("--cases", choices=CASE_SETS, default="all",
                        help="default: ordinary range; hard: the tails; all (default): both")
    parser.add_argument("--no-check", action="store_true",
                        help="skip the cross-check against the mpmath reference")
    parser.add_argument("--validate", metavar="MODULE[:MAPPING]",
                        help="instead of writing, validate the callables of an importable "
                             "module (or a mapping attribute of it) and print the table")
    parser.add_argument("--vectors", metavar="FILE",
                        help="with --validate: the vectors file (default: generate in memory)")
    args = parser.parse_args(argv)
    if args.validate:
        try:
            target = _import_target(args.validate)
        except (ImportError, AttributeError) as exc:
            print(f"cannot import {args.validate!r}: {exc}", file=sys.stderr)
            return 2
        res = validate(target, args.vectors, cases=args.cases)
        return 0 if res.passed else 1
    try:
        doc = write(args.out, args.cases, check=not args.no_check)
    except ImportError as exc:
        print(f"the cross-check needs mpmath (pip install 'astra_np[ref]'), or pass "
              f"--no-check: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if args.out not in (None, "-"):
        n = sum(len(e["cases"]) for e in doc["functions"].values())
        print(f"wrote {n} cases ({args.cases}) to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
