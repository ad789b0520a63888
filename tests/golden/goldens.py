r"""Reading ``core_golden.json`` and measuring float64 errors against it.

Reference values are stored as 30-digit decimal strings.  Rounding them to
float64 would itself cost up to half an ulp, a sizeable part of a
``2e-15`` tolerance, so each is split into a double-double ``hi + lo``
(``hi`` = the nearest float64, ``lo`` = the rounded remainder) and the error of
a float64 result ``got`` is measured as ``|(got - hi) - lo|``: ``got - hi`` is
exact whenever ``got`` is within a factor 2 of the reference (Sterbenz), so
the measured error is accurate to about 1e-30 relative.

Tolerance conventions shared by the test files
---------------------------------------------
``TINY = 1e-300``
    Absolute floor for every comparison.  Results whose exact value is below
    about 1e-300 live near or in float64's gradual-underflow range, where a
    correctly implemented product of accurate factors can lose relative
    accuracy (or flush to 0); such results only need to be within 1e-300 of
    the reference.  1e-300 is far below anything that matters numerically and
    cannot hide an error in a normal-range result.
``SIGN_CHANGE_FRACTION = 1e-3``
    A derivative that is a difference of like-signed terms (the b-partials
    ``(A - B)/...`` of Eq. 4, and dL/dbeta, a signed sum over examples) is
    "at a sign change" where its reference magnitude is below 1e-3 of its term
    scale (the same sum with every term in absolute value, for the grouping
    of the terms that cancels least; stored in the golden file as
    ``*_scale``, defined in :func:`astra_np.check.reference.astra_db_scale` and
    :func:`astra_np.check.reference.head_loss_details`).  There no float64
    evaluation of the terms can have a small
    relative error (cancellation multiplies rounding errors by
    ``scale / |value|``), so the relative bound is applied to
    ``max(|reference|, 1e-3 * scale)`` instead: relative error 1e-12 wherever
    the terms cancel by less than a factor 1000, and absolute error
    ``1e-15 * scale`` (a few ulps of the terms) inside the sign-change band.
"""
import decimal
import functools
import json
import os
from fractions import Fraction

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PATH = os.path.join(HERE, "core_golden.json")

TINY = 1e-300
SIGN_CHANGE_FRACTION = 1e-3

_CTX = decimal.Context(prec=60, Emin=-10 ** 9, Emax=10 ** 9)


@functools.lru_cache(maxsize=1)
def load():
    """The parsed golden file (cached)."""
    with open(PATH, encoding="utf-8") as f:
        return json.load(f)


def fl(hexes):
    """float64 input(s) from their ``float.hex`` form (scalar or list)."""
    if isinstance(hexes, str):
        return float.fromhex(hexes)
    return np.array([float.fromhex(h) for h in hexes], dtype=np.float64)


def column(rows, key):
    """A float64 input column from a list of golden rows (hex form)."""
    return np.array([float.fromhex(r[key + "_hex"]) for r in rows], dtype=np.float64)


def hilo(strings):
    """Split decimal strings into float64 arrays ``(hi, lo)`` with ``hi + lo`` ~ exact."""
    if isinstance(strings, str):
        strings = [strings]
    hi = np.empty(len(strings))
    lo = np.empty(len(strings))
    for i, s in enumerate(strings):
        d = _CTX.create_decimal(s)
        h = float(d)
        hi[i] = h
        lo[i] = float(_CTX.subtract(d, _CTX.create_decimal(h))) if np.isfinite(h) else 0.0
    return hi, lo


def ref(rows, key):
    """``(hi, lo)`` of a reference column of golden rows."""
    return hilo([r[key] for r in rows])


def abs_err(got, hi, lo):
    """``|got - (hi + lo)|`` measured in double-double (inf where got is not finite)."""
    got = np.asarray(got, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.abs((got - hi) - lo)
    return np.where(np.isfinite(got), e, np.inf)


def bx_abs(x, b):
    """Exact ``|b x|`` (as a Python float, rounded once) for float64 ``x``, ``b``."""
    return float(abs(Fraction(float(x)) * Fraction(float(b))))


def sign_change_bound(hi, scale_hi, rtol):
    """Allowed absolute error of a cancelling derivative (see the module docstring)."""
    return rtol * np.maximum(np.abs(hi), SIGN_CHANGE_FRACTION * np.abs(scale_hi)) + TINY


def assert_within(name, got, hi, lo, allowed, inputs=None):
    """Assert ``|got - ref| <= allowed`` elementwise; report the worst offenders.

    ``inputs`` is an optional dict of input arrays printed with each failure.
    """
    got = np.broadcast_to(np.asarray(got, dtype=np.float64), np.shape(hi))
    err = abs_err(got, hi, lo)
    allowed = np.broadcast_to(np.asarray(allowed, dtype=np.float64), np.shape(hi))
    bad = ~(err <= allowed)
    if np.any(bad):
        ratio = np.where(bad, err / np.where(allowed > 0, allowed, TINY), 0.0)
        order = np.argsort(-ratio.ravel())[: min(8, int(bad.sum()))]
        lines = []
        for k in order:
            idx = np.unravel_index(k, np.shape(hi))
            desc = ""
            if inputs:
                desc = ", ".join(
                    f"{n}={float(np.broadcast_to(v, np.shape(hi))[idx])!r}" for n, v in inputs.items()
                )
            lines.append(
                f"  [{desc}] got={float(got[idx])!r} ref={float(hi[idx])!r}"
                f" (+{float(lo[idx]):.3e}) err={float(err[idx]):.3e} allowed={float(allowed[idx]):.3e}"
            )
        raise AssertionError(
            f"{name}: {int(bad.sum())} of {bad.size} values outside tolerance; worst:\n" + "\n".join(lines)
        )


def head_results(section="head_cases"):
    """``(case, result)`` pairs of a head section (``head_cases``, ``count_head_cases``)."""
    for case in load()[section]:
        for res in case["results"]:
            yield case, res


def head_id(case, res):
    """A readable test id of a head result."""
    return f"{case['name']}-{res['loss']}-astra{int(res['astra'])}-z{int(res['z'])}-beta{res['beta']}"
