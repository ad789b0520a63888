r"""The precision machinery of :mod:`astra_np.check.reference`.

Exact conversion of float64 inputs to ``mpmath.mpf``, the checks of those inputs (each
error names the argument and its value), and the adaptive driver that evaluates a closed
form at rising working precision until its digits are stable. mpmath is imported lazily
(:func:`import_mpmath`), so importing this module never needs it.
"""
import math
import numbers

_GUARD = 20  # extra digits of the first evaluation
_MAX_WORK_DPS = 4000  # give up (ArithmeticError) beyond this working precision


def import_mpmath():
    """Import mpmath lazily, with an actionable message when it is missing."""
    try:
        import mpmath
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "astra_np's 60-digit references and reference='mpmath' need the optional dependency mpmath; "
            "install it with `pip install mpmath` or `pip install astra_np[ref]`"
        ) from exc
    return mpmath


# --------------------------------------------------------------------------
# input handling


def as_float(name, value):
    """Return ``value`` as a finite Python float or raise ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        try:
            import numpy as np

            if isinstance(value, np.ndarray) and value.ndim == 0:
                value = value.item()
            else:
                raise TypeError
        except (ImportError, TypeError):
            raise ValueError(
                f"{name} must be a real float64 scalar, got {value!r}"
            ) from None
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v!r}")
    return v


def to_mpf(value, name="value"):
    r"""Convert a finite float64 ``value`` exactly to ``mpmath.mpf``.

    Parameters
    ----------
    value : float
        Any finite real scalar representable as float64.
    name : str, optional
        Argument name used in the error message.

    Returns
    -------
    mpmath.mpf
        The same binary number (exact: a float64 has a 53-bit significand).
    """
    mpmath = import_mpmath()
    with mpmath.mp.workprec(max(mpmath.mp.prec, 64)):
        return mpmath.mpf(as_float(name, value))


def check_positive(name, v):
    if not v > 0.0:
        raise ValueError(f"{name} must be > 0, got {v!r}")
    return v


def check_tau(name, v):
    if not 0.0 < v <= 0.5:
        raise ValueError(f"{name} must lie in (0, 0.5], got {v!r}")
    return v


def check_prob(name, v):
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {v!r}")
    return v


def float_list(name, values):
    try:
        seq = list(values)
    except TypeError:
        raise ValueError(f"{name} must be a 1-D sequence of floats, got {values!r}") from None
    if len(seq) == 0:
        raise ValueError(f"{name} must not be empty")
    return [as_float(f"{name}[{i}]", v) for i, v in enumerate(seq)]


def label_list(name, values, n=None, need_both=False):
    seq = float_list(name, values)
    for i, v in enumerate(seq):
        if v not in (0.0, 1.0):
            raise ValueError(f"{name} must be binary (0 or 1), got {name}[{i}] = {v!r}")
    if n is not None and len(seq) != n:
        raise ValueError(f"{name} has length {len(seq)}, expected {n} (shape mismatch)")
    if need_both and (0.0 not in seq or 1.0 not in seq):
        raise ValueError(f"{name} must contain both classes 0 and 1, got only {seq[0]!r}")
    return [int(v) for v in seq]


# --------------------------------------------------------------------------
# adaptive precision driver


def _leaves(obj):
    if isinstance(obj, dict):
        for k in sorted(obj):
            yield from _leaves(obj[k])
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _leaves(v)
    else:
        yield obj


def _map(obj, fn):
    if isinstance(obj, dict):
        return {k: _map(v, fn) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return tuple(_map(v, fn) for v in obj)
    if isinstance(obj, list):
        return [_map(v, fn) for v in obj]
    return fn(obj)


def _agree(a, b, digits):
    mpmath = import_mpmath()
    if a == b:
        return True
    if not (mpmath.isfinite(a) and mpmath.isfinite(b)):
        return False
    return abs(a - b) <= mpmath.mpf(10) ** (-digits) * max(abs(a), abs(b))


def adaptive(compute, dps, extra=0):
    """Evaluate ``compute()`` at rising precision until ``dps + 2`` digits are stable.

    ``extra`` adds working digits from the start (e.g. ``log10 |b x|``, the
    digits a sum like ``b x + log b`` needs before ``log b`` shows up in it).
    """
    mpmath = import_mpmath()
    dps = int(dps)
    if dps < 15:
        raise ValueError(f"dps must be >= 15, got {dps!r}")
    work = dps + _GUARD + int(extra)
    previous = None
    while True:
        with mpmath.mp.workdps(work):
            current = compute()
        if previous is not None:
            with mpmath.mp.workdps(work):
                if all(
                    _agree(a, b, dps + 2)
                    for a, b in zip(_leaves(previous), _leaves(current))
                ):
                    break
        if work >= _MAX_WORK_DPS:
            raise ArithmeticError(
                f"reference evaluation did not stabilise to {dps} digits "
                f"at {work} working digits"
            )
        previous = current
        work *= 2
    with mpmath.mp.workdps(dps):
        return _map(current, lambda v: +v if isinstance(v, mpmath.mpf) else v)
