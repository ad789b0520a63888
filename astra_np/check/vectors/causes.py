r"""Likely causes of a failed quantity, read from the numbers themselves.

A failure line of :func:`astra_np.check.vectors.validate` names one cause: a shape or
dtype mismatch, a float32 result, NaN, an overflow to infinity, zero where the
reference is tiny, a subnormal input, a gradient halved or doubled at a tie, a
constant factor shared by every failing entry of a quantity, or digits lost to
cancellation. The rules look only at the expected and computed numbers and the case's
inputs, so they apply to any language or framework. Where a cause is a known pitfall of
automatic differentiation, the explanation names the derivation whose "Pitfalls"
section gives the rule that fixes it, for the function that failed
(:func:`pitfalls_of`).
"""
import math

import numpy as np

from ...core.registry import get_method
from .spec import TINY, head_method

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
    "tie": "exactly half or twice the reference",
    "factor": "wrong by a constant factor",
    "sign": "wrong sign",
    "digits": "digits lost",
    "value": "a different value",
}

_F32_EPS = float(np.finfo(np.float32).eps)
_SHORT_BITS = 12           # a result with this few significant bits is no evidence of float32
_F64_EPS = 2.0 ** -52
#: A factor is named only when it is this many tolerances away from 1.
FACTOR_TOLERANCES = 1000.0

#: The derivation whose "Pitfalls" section covers each function that is not an output
#: head (an output head: ``head.md`` with ASTra, and its loss's own derivation).
_PITFALLS = {
    "astra": "astra.md",
    "astra_logit": "astra.md",
    "threshold": "astra.md",
    "slope_for_threshold": "astra.md",
    "slope_from_beta": "astra.md",
    "z_transform": "z_transform.md",
    "bce": "bce.md",
    "gmn": "gmn.md",
}


def pitfalls_of(function):
    r"""The derivation files (``derivations/...``) whose "Pitfalls" sections cover ``function``.

    ``function`` is a key of the vectors' function table: ``"astra"``, ``"gmn"``,
    ``"head_loss[f1-astra]"``, ... An output head points to its loss's derivation
    (from the registry) and, when it trains ASTra, to ``head.md`` (the logit of Eq. 4
    inside the head).
    """
    method = head_method(function)
    if method is None:
        return [f"derivations/{_PITFALLS[function]}"] if function in _PITFALLS else []
    entry = get_method(method)
    files = [f"derivations/{entry.loss.derivation}"] if entry.loss.derivation else []
    if entry.astra:
        files.append("derivations/head.md")
    return files


def _see(function):
    files = pitfalls_of(function)
    return f" (see {' and '.join(files)}, Pitfalls)" if files else ""


def _is_float32_number(v):
    """True when the double ``v`` is exactly a (normal, nonzero) float32 value."""
    with np.errstate(over="ignore"):
        return v != 0.0 and math.isfinite(v) and float(np.float32(v)) == v


def _significant_bits(v):
    """Bits of the significand of the finite double ``v`` up to its last 1 bit."""
    mantissa = int(abs(math.frexp(v)[0]) * 2.0 ** 53)
    return 0 if mantissa == 0 else mantissa.bit_length() - (mantissa & -mantissa).bit_length() + 1


def looks_float32(expected, got):
    r"""True when ``got`` reads as ``expected`` computed in single precision.

    ``got`` must be exactly a float32 number with a full-looking significand (more than
    12 significant bits: a float64 computation that cancels or saturates to a short
    number such as ``1.0`` or ``0.75`` lands on a float32 number by accident), and its
    error must be float32-sized for that value: nonzero and at most four float32
    spacings at ``expected`` (a rounding, or a few roundings of a float32 evaluation),
    while ``expected`` itself is not a float32 number.
    """
    if not (_is_float32_number(got) and math.isfinite(expected)) or _is_float32_number(expected):
        return False
    if _significant_bits(got) <= _SHORT_BITS:
        return False
    with np.errstate(over="ignore", under="ignore"):
        spacing = float(np.spacing(np.float32(abs(expected))))
    return 0.0 < abs(got - expected) <= 4 * spacing


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


def _tie_ratio(expected, got):
    """``"1/2"`` or ``"2"`` when ``got`` is exactly that multiple of ``expected`` (to a few
    ulps), else None."""
    if expected == 0.0 or not math.isfinite(got):
        return None
    for name, v in (("1/2", 0.5), ("2", 2.0)):
        if abs(got - v * expected) <= 4 * _F64_EPS * abs(v * expected):
            return name
    return None


def classify(expected, got, rel_error, inputs, quantity="value", function=""):
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
    function : str
        The function key (``"astra"``, ``"head_loss[f1-astra]"``, ...): an autodiff
        pitfall points to that function's derivation (:func:`pitfalls_of`).
    """
    gradient = quantity.startswith("gradient.")
    sub = subnormal_inputs(inputs)
    if sub:
        name, i, v = sub[0]
        where = name if np.asarray(inputs[name]).ndim == 0 else f"{name}[{i}]"
        return "subnormal", (
            f"subnormal input {where} = {v!r}: arithmetic that flushes subnormals to zero "
            "(XLA on CPU, GPUs, -ffast-math) reads it as 0; if that is your platform's "
            "behaviour, leave such cases out (exclude=('subnormal',), --exclude-tag subnormal)")
    if math.isnan(got):
        if gradient:
            return "nan", ("NaN in a gradient: typically inf * 0 or inf - inf in a chain "
                           "rule, e.g. the derivative of a where() branch that overflows "
                           "although it is not selected, or 1/p times dp/dx after p rounded "
                           "to 0 or 1" + _see(function))
        return "nan", ("NaN in the value: an invalid operation in the forward formula, "
                       "e.g. inf - inf, 0 * inf or 0/0 after an overflow or underflow, or "
                       "the log or sqrt of a negative rounding error")
    if math.isinf(got):
        return "inf", ("overflow to infinity: exp of a large argument, or 1/p of a "
                       "probability that underflowed; work in logit or log space")
    if got == 0.0 and expected != 0.0:
        autodiff = ("; or autodiff of a function whose derivative it forms from its "
                    "rounded result (expm1: 1 + expm1(h); the sigmoid: s (1 - s)), which "
                    "rounds to 0 in a tail where the exact derivative does not; a custom "
                    "derivative rule or another form is needed" + _see(function)) if gradient else ""
        return "zero", (f"zero where the reference is {expected:.3g}: underflow or "
                        f"cancellation, e.g. 1 + u rounding to 1{autodiff}")
    if rel_error > 0.0 and looks_float32(expected, got):
        return "float32", (f"float32-sized error ({rel_error:.1e}, float32 eps is "
                           f"{_F32_EPS:.1e}) and the result is exactly a float32 number: "
                           "computed in single precision (JAX: enable jax_enable_x64)")
    tie = _tie_ratio(expected, got) if gradient else None
    if tie is not None:
        return "tie", (f"exactly {tie} times the reference: autodiff of minimum, maximum, "
                       "clip, abs or where at a tie (equal arguments, where two branches "
                       "meet) splits or doubles the derivative; select the branch with "
                       "where on a strict comparison instead" + _see(function))
    if expected != 0.0 and got == -expected:
        return "sign", "wrong sign: the negated reference"
    if rel_error >= 0.5:
        return "value", ("a different value altogether: a different formula or branch, "
                         "or every digit lost to cancellation")
    digits = -math.log10(max(rel_error, 1e-17))
    return "digits", (f"relative error {rel_error:.1e}, about {max(0, 16 - digits):.0f} of 16 "
                      "digits lost: cancellation (a difference of nearly equal numbers) or "
                      "an accumulated rounding error")


def constant_factors(entries):
    r"""Ratios ``got / expected`` shared by every wrong entry of a quantity.

    ``entries`` are wrong entries (each with ``function``, ``quantity``, ``case``,
    ``expected``, ``got``, ``rtol`` and ``message``). Returns a dict
    ``(function, quantity) -> ratio`` for quantities whose wrong entries span at least
    two cases and two distinct expected values, with ratios that agree to 1e-12
    relative and to a thousandth of their distance from 1, and that distance at least
    :data:`FACTOR_TOLERANCES` times the cases' ``rtol`` (a ratio within a few
    tolerances of 1 is rounding, not a factor).
    """
    groups = {}
    for f in entries:
        key = (f.function, f.quantity)
        if f.message or not (math.isfinite(f.got) and f.expected != 0.0):
            groups.setdefault(key, []).append(None)
            continue
        groups.setdefault(key, []).append((f.got / f.expected, f.expected, f.case, f.rtol))
    out = {}
    for key, pairs in groups.items():
        if (any(p is None for p in pairs) or len({p[1] for p in pairs}) < 2
                or len({p[2] for p in pairs}) < 2):
            continue
        r0 = pairs[0][0]
        distance = abs(r0 - 1.0)
        spread = max(abs(p[0] - r0) for p in pairs)
        if (distance >= FACTOR_TOLERANCES * max(p[3] for p in pairs)
                and spread <= min(1e-12 * abs(r0), 1e-3 * distance)):
            out[key] = r0
    return out


def describe_factor(ratio, count, function=""):
    """Explanation of a constant factor shared by ``count`` failing entries."""
    tie = _tie_ratio(1.0, ratio)
    if tie is not None:
        return (f"exactly {tie} times the reference in all {count} failing entries: a "
                "missing or extra factor 2 (a mean over both classes, a double count), or "
                "autodiff of minimum, maximum, clip or where at a tie" + _see(function))
    hint = " (= -1)" if abs(ratio + 1.0) <= 1e-12 else ""
    return (f"wrong by a constant factor {ratio:.12g}{hint} in all {count} failing entries: "
            "a missing or extra factor (a 1/n of a mean, db/dbeta of Eq. 7, a factor in "
            "the chain rule)")
