r"""Likely causes of a failed quantity, read from the numbers themselves.

A failure line of :func:`astra_np.check.vectors.validate` names one cause: a shape or
dtype mismatch, a float32 result, NaN, an overflow to infinity, zero where the
reference is tiny, a subnormal input, a constant factor shared by every failing entry
of a quantity, or digits lost to cancellation. The rules look only at the expected and
computed numbers and the case's inputs, so they apply to any language or framework.
"""
import math

import numpy as np

from .spec import TINY

#: Cause labels, in the order the rules try them.
CAUSES = {
    "raised": "the implementation raised an exception (or called sys.exit)",
    "timeout": "the call did not return within the time allowed",
    "modified input": "the implementation changed an input array in place",
    "shape/dtype": "shape or dtype mismatch",
    "float32": "float32 result",
    "subnormal": "subnormal input",
    "nan": "NaN",
    "inf": "overflow to infinity",
    "zero": "zero where the reference is tiny",
    "factor": "wrong by a constant factor",
    "sign": "wrong sign",
    "digits": "digits lost",
    "value": "a different value",
}

_F32_EPS = float(np.finfo(np.float32).eps)
_F32_UNIT = _F32_EPS / 2   # unit roundoff of float32, 6e-8


def _is_float32_number(v):
    """True when the double ``v`` is exactly a (normal, nonzero) float32 value."""
    with np.errstate(over="ignore"):
        return v != 0.0 and math.isfinite(v) and float(np.float32(v)) == v


def subnormal_inputs(inputs):
    """Names and first indices of float inputs holding a subnormal number."""
    found = []
    for name, a in inputs.items():
        a = np.asarray(a)
        if a.dtype.kind != "f":
            continue
        hits = np.flatnonzero((a.ravel() != 0) & (np.abs(a.ravel()) < TINY))
        if hits.size:
            found.append((name, int(hits[0]), float(a.ravel()[hits[0]])))
    return found


def classify(expected, got, rel_error, inputs, quantity="value"):
    r"""Cause of one wrong entry: ``(label, explanation)`` with a label of :data:`CAUSES`.

    Parameters
    ----------
    expected, got : float
        The reference and the computed entry.
    rel_error : float
        ``|got - expected| / max(|expected|, 2.2e-308)``.
    inputs : dict of str to ndarray
        The case's inputs (a subnormal one is named as the likely cause).
    quantity : str
        ``"value"`` or ``"gradient.<arg>"`` (a gradient's causes include autodiff's).
    """
    sub = subnormal_inputs(inputs)
    if sub:
        name, i, v = sub[0]
        where = name if np.asarray(inputs[name]).ndim == 0 else f"{name}[{i}]"
        return "subnormal", (
            f"subnormal input {where} = {v!r}: arithmetic that flushes subnormals to zero "
            "(XLA on CPU, GPUs, -ffast-math) reads it as 0; if that is your platform's "
            "behaviour, leave such cases out (exclude=('subnormal',), --exclude-tag subnormal)")
    if math.isnan(got):
        return "nan", ("NaN: typically inf * 0 or inf - inf in a chain rule, e.g. the "
                       "derivative of a where() branch that overflows although it is not "
                       "selected, or 1/p times dp/dx after p rounded to 0 or 1")
    if math.isinf(got):
        return "inf", ("overflow to infinity: exp of a large argument, or 1/p of a "
                       "probability that underflowed; work in logit or log space")
    if got == 0.0 and expected != 0.0:
        autodiff = ("; or autodiff of expm1, whose derivative 1 + expm1(h) rounds to 0 "
                    "(a custom derivative rule is needed, see derivations/astra.md, "
                    "Pitfalls)") if quantity.startswith("gradient.") else ""
        return "zero", (f"zero where the reference is {expected:.3g}: underflow or "
                        f"cancellation, e.g. 1 + u rounding to 1{autodiff}")
    if (1e-10 < rel_error <= 4 * _F32_UNIT and _is_float32_number(got)
            and not _is_float32_number(expected)):
        return "float32", (f"float32-sized error ({rel_error:.1e}, float32 eps is "
                           f"{_F32_EPS:.1e}) and the result is exactly a float32 number: "
                           "computed in single precision (JAX: enable jax_enable_x64)")
    if expected != 0.0 and got == -expected:
        return "sign", "wrong sign: the negated reference"
    if rel_error >= 0.5:
        return "value", ("a different value altogether: a different formula or branch, "
                         "or every digit lost to cancellation")
    digits = -math.log10(max(rel_error, 1e-17))
    return "digits", (f"relative error {rel_error:.1e}, about {max(0, 16 - digits):.0f} of 16 "
                      "digits lost: cancellation (a difference of nearly equal numbers) or "
                      "an accumulated rounding error")


def constant_factors(failures):
    r"""Ratios ``got / expected`` shared by every failing entry of a quantity.

    Returns a dict ``(function, quantity) -> ratio`` for quantities whose failing
    entries span at least two cases and two distinct expected values, with ratios that
    agree to 1e-12 relative (and differ from 1).
    """
    groups = {}
    for f in failures:
        if f.message or not (math.isfinite(f.got) and f.expected != 0.0):
            groups.setdefault((f.function, f.quantity), []).append(None)
            continue
        groups.setdefault((f.function, f.quantity), []).append(
            (f.got / f.expected, f.expected, f.case))
    out = {}
    for key, pairs in groups.items():
        if (any(p is None for p in pairs) or len({p[1] for p in pairs}) < 2
                or len({p[2] for p in pairs}) < 2):
            continue
        r0 = pairs[0][0]
        if r0 != 1.0 and all(abs(p[0] - r0) <= 1e-12 * abs(r0) for p in pairs):
            out[key] = r0
    return out


def describe_factor(ratio, count):
    """Explanation of a constant factor shared by ``count`` failing entries."""
    hint = ""
    for name, v in (("2", 2.0), ("1/2", 0.5), ("-1", -1.0)):
        if abs(ratio - v) <= 1e-12 * abs(v):
            hint = f" (= {name})"
    return (f"wrong by a constant factor {ratio:.12g}{hint} in all {count} failing entries: "
            "a missing or extra factor (a 1/n of a mean, db/dbeta of Eq. 7, a factor in "
            "the chain rule)")
