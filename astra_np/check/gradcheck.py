r"""Check hand-written derivatives against an independent reference.

:func:`check_gradient` compares the derivatives returned by *any* callable that maps
NumPy arrays to NumPy arrays (astra_np's own functions, or a PyTorch / JAX function
wrapped in a lambda that converts to and from NumPy) with one of four references:

``"complex"``
    Complex-step differentiation, :math:`f'(x) = \operatorname{Im} f(x + ih)/h`.
    No subtractive cancellation, so the step can be ``1e-200`` and the result is
    accurate to rounding *everywhere*, saturated tails included. ``f`` must accept
    complex input and be analytic in the differentiated argument;
    ``astra_np.check.gradcheck.complex_forms`` (module :mod:`astra_np.check._complex`) holds such
    versions of every astra_np forward and of softplus, log1p, expm1, expit, ...
``"fd"``
    Central differences with Richardson extrapolation (Ridders' method), for a real
    ``f``. Accurate to ~1e-10 relative where the function is smooth on the scale of
    the step, but **unreliable in saturated tails**: where ``f`` is flat to rounding
    (ASTra for ``b x < -40``, say) the differences are rounding noise and the
    extrapolation returns a confident, wrong answer, and near the edge of the domain
    (``p`` close to 0 or 1) the steps leave it. Use ``"complex"`` or ``"mpmath"`` there.
``"mpmath"``
    :func:`mpmath.diff` at ``mp_dps`` significant digits; ``f`` must accept
    ``mpmath.mpf`` numbers (scalars in ``mode="partials"``, NumPy object arrays of
    ``mpf`` otherwise; the ``*_mp`` forms of :mod:`astra_np.check.reference` are such
    functions). Slow; use it on tens of points.
a callable
    Any trusted implementation of the same derivatives, called exactly as ``grad``
    (e.g. check a PyTorch autograd gradient against :func:`astra_np.astra_partials`).

``python -m astra_np gradcheck`` runs this package's self-certification with this
checker (its table is built in :mod:`astra_np.check.certify`): every public derivative
against complex step over the whole range (``x`` in ``[-1e4, 1e4]``, ``b`` in
``[1, 1000]``) and against mpmath on a subsample.

Examples
--------
>>> import numpy as np
>>> from astra_np.check.gradcheck import complex_forms as cx
>>> from astra_np.core.activation import astra_partials
>>> x = np.linspace(-50.0, 50.0, 11)
>>> res = check_gradient(cx.astra, astra_partials, (x, 7.3963487604), rtol=1e-12)
>>> res.passed
True
>>> wrong = lambda x, b: [d * 1.000001 for d in astra_partials(x, b)]
>>> check_gradient(cx.astra, wrong, (x, 7.3963487604), rtol=1e-12).passed
False
"""
import dataclasses
import inspect

import numpy as np

from . import _complex as complex_forms
from ._precision import import_mpmath

__all__ = [
    "DEFAULT_COMPLEX_STEPS",
    "GradcheckResult",
    "assert_gradient",
    "check_gradient",
    "combine",
    "complex_forms",
]

#: Complex steps tried in turn; per entry, the first whose imaginary part is a normal
#: float64 with full precision (not underflowed) is used.
DEFAULT_COMPLEX_STEPS = (1e-200, 1e-100, 1e-30, 1e-16)

# |Im f| below this has lost bits to gradual underflow (2**-1022 / 2**-52 ~ 1e-292).
_IM_FULL_PRECISION = np.finfo(np.float64).tiny / np.finfo(np.float64).eps

_TINY = np.finfo(np.float64).tiny
_MODES = ("partials", "gradient", "vjp")
_DEFAULT_RTOL = {"complex": 1e-10, "mpmath": 1e-10, "callable": 1e-10, "fd": 1e-6}


# ---------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class GradcheckResult:
    r"""Outcome of :func:`check_gradient`.

    An entry passes when ``|analytic - reference| <= atol + rtol * |reference|``
    (the :func:`numpy.isclose` rule) and both are finite, or both are the same
    infinity. The check passes when every entry does.

    Attributes
    ----------
    passed : bool
        Whether every compared entry is within tolerance.
    max_abs_error : float
        Largest ``|analytic - reference|``.
    max_rel_error : float
        Largest ``|analytic - reference| / |reference|`` over the entries where the
        relative part of the tolerance governs (``rtol |reference| >= atol``); ``inf``
        if such a reference is 0 and the analytic value is not. Entries in the
        absolute regime (near a sign change, or unresolved by underflow) are covered by
        ``max_abs_error`` and ``worst_ratio``.
    worst_ratio : float
        Largest ``|analytic - reference| / (atol + rtol |reference|)``; the check
        passes iff it is ``<= 1`` (``inf`` for a non-finite mismatch).
    worst_argument : str
        Name of the argument differentiated at the worst entry.
    worst_index : tuple of int
        Index of the worst entry in that derivative array.
    worst_input : dict
        The inputs at the worst entry: every argument's value at that output element
        (``mode="partials"``) or the differentiated element (other modes).
    analytic : float
        Analytic derivative at the worst entry.
    reference_value : float
        Reference derivative at the worst entry.
    n_points : int
        Number of derivative entries compared.
    reference : str
        Description of the reference used.
    mode : str
        ``"partials"``, ``"gradient"`` or ``"vjp"``.
    rtol, atol : float
        Tolerances used (``atol`` is the largest value if an array was given).
    name : str
        Label of the check.
    """

    passed: bool
    max_abs_error: float
    max_rel_error: float
    worst_ratio: float
    worst_argument: str
    worst_index: tuple[int, ...]
    worst_input: dict[str, float]
    analytic: float
    reference_value: float
    n_points: int
    reference: str
    mode: str
    rtol: float
    atol: float
    name: str = ""

    def __bool__(self):
        return bool(self.passed)

    def worst_input_str(self, digits=6):
        """The worst input as ``name=value, ...``."""
        return ", ".join(f"{k}={_fmt(v, digits)}" for k, v in self.worst_input.items())

    def __str__(self):
        status = "PASSED" if self.passed else "FAILED"
        label = f" {self.name}" if self.name else ""
        lines = [
            f"gradient check{label}: {status} ({self.mode}, reference: {self.reference}, "
            f"{self.n_points} values)",
            f"  criterion |analytic - reference| <= atol + rtol*|reference|, "
            f"rtol={self.rtol:.3g}, atol={self.atol:.3g}",
            f"  max abs error {self.max_abs_error:.3e}, max rel error {self.max_rel_error:.3e}, "
            f"worst error/tolerance {self.worst_ratio:.3g}",
        ]
        if self.n_points:
            lines += [
                f"  worst: d/d{self.worst_argument} at index {self.worst_index} "
                f"({self.worst_input_str(17)})",
                f"    analytic  {self.analytic!r}",
                f"    reference {self.reference_value!r}",
            ]
        return "\n".join(lines)


def _fmt(v, digits=6):
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.{digits}g}"
    return str(v)


# ---------------------------------------------------------------------------
# Internals
# ---------------------------------------------------------------------------


def _as_inputs(inputs):
    if isinstance(inputs, np.ndarray) or np.isscalar(inputs):
        inputs = (inputs,)
    return [np.asarray(a) for a in inputs]


def _arg_names(f, grad, n, names):
    if names is not None:
        names = list(names)
        if len(names) != n:
            raise ValueError(f"argnames must have one name per input ({n}), got {names!r}")
        return names
    for fn in (f, grad):
        if fn is None or not callable(fn):
            continue
        try:
            params = [
                p.name
                for p in inspect.signature(fn).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
        except (TypeError, ValueError):
            continue
        if fn is grad and params and params[0] in ("g", "cotangent", "v"):
            params = params[1:]
        if len(params) >= n:
            return params[:n]
    return [f"x{i}" for i in range(n)]


def _resolve_wrt(wrt, inputs, names):
    if wrt is None:
        wrt = [i for i, a in enumerate(inputs) if a.dtype.kind == "f"]
        if not wrt:
            raise ValueError("no floating-point input to differentiate; pass wrt=")
        return wrt
    if isinstance(wrt, (int, np.integer, str)):
        wrt = [wrt]
    out = []
    for w in wrt:
        if isinstance(w, str):
            if w not in names:
                raise ValueError(f"wrt names an unknown argument {w!r}; arguments are {names}")
            w = names.index(w)
        w = int(w)
        if not 0 <= w < len(inputs):
            raise ValueError(f"wrt index {w} out of range for {len(inputs)} inputs")
        out.append(w)
    return out


def _select(derivs, wrt, inputs, what):
    """Normalise what a derivative function returned to one array per ``wrt`` entry.

    Accepted: one array per ``wrt`` entry (a bare array for one), one per input, or
    one per floating-point input (the default ``wrt``).
    """
    if isinstance(derivs, np.ndarray) or np.isscalar(derivs):
        derivs = [derivs]
    derivs = list(derivs)
    floating = [i for i, a in enumerate(inputs) if a.dtype.kind == "f"]
    if len(derivs) == len(wrt):
        picked = derivs
    elif len(derivs) == len(inputs):
        picked = [derivs[j] for j in wrt]
    elif len(derivs) == len(floating) and all(j in floating for j in wrt):
        picked = [derivs[floating.index(j)] for j in wrt]
    else:
        raise ValueError(
            f"{what} returned {len(derivs)} arrays; expected one per differentiated argument "
            f"({len(wrt)}), one per input ({len(inputs)}) or one per floating-point input "
            f"({len(floating)})"
        )
    return [np.asarray(d, dtype=np.float64) for d in picked]


def _replace(inputs, j, value):
    args = list(inputs)
    args[j] = value
    return args


def _objective(f, args, cot):
    """``sum(cot * f(*args))`` (a scalar; complex if f's output is)."""
    out = np.asarray(f(*args))
    if cot is None:
        if out.size != 1:
            raise ValueError(f"mode='gradient' needs a scalar-valued f, got output shape {out.shape}")
        return out.reshape(())[()]
    return np.sum(cot * out)


# ---------------------------------------------------------------------------
# References
# ---------------------------------------------------------------------------


def _steps(step):
    if step is None:
        return DEFAULT_COMPLEX_STEPS
    if np.isscalar(step):
        return (float(step),)
    return tuple(float(s) for s in step)


def _im_ok(im):
    return np.isfinite(im) & (np.abs(im) >= _IM_FULL_PRECISION)


def _require_complex(val):
    if not np.iscomplexobj(val):
        raise TypeError(
            "reference='complex' needs an f that accepts complex input and returns complex "
            "output (got a real result); use the forms in astra_np.check.gradcheck.complex_forms, "
            "or reference='fd'"
        )


def _complex_partials(f, inputs, j, steps):
    """Complex-step partials and their absolute uncertainty (from gradual underflow)."""
    base = np.asarray(inputs[j], dtype=np.float64)
    out = unc = todo = None
    for k, h in enumerate(steps):
        val = np.asarray(f(*_replace(inputs, j, base + 1j * h)))
        _require_complex(val)
        est = val.imag / h
        ok = _im_ok(val.imag)
        if out is None:
            out = np.array(est, dtype=np.float64)
            unc = np.where(ok, 0.0, _IM_FULL_PRECISION / h)
            todo = ~ok
        else:
            est, ok = np.broadcast_to(est, out.shape), np.broadcast_to(ok, out.shape)
            take = todo & (ok | (k == len(steps) - 1))
            out[take] = est[take]
            unc[take] = np.where(ok[take], 0.0, _IM_FULL_PRECISION / h)
            todo = todo & ~take
        if not np.any(todo):
            break
    return out, unc


def _complex_elementwise(f, inputs, j, cot, steps):
    base = np.asarray(inputs[j], dtype=np.float64)
    out = np.empty(base.shape)
    unc = np.zeros(base.shape)
    for idx in np.ndindex(base.shape):
        for k, h in enumerate(steps):
            z = base.astype(np.complex128)
            z[idx] += 1j * h
            val = _objective(f, _replace(inputs, j, z), cot)
            _require_complex(np.asarray(val))
            out[idx] = np.imag(val) / h
            ok = bool(_im_ok(np.imag(val)))
            if ok or k == len(steps) - 1:
                unc[idx] = 0.0 if ok else _IM_FULL_PRECISION / h
                break
    return out, unc


def _ridders(quotient, h0, n_tab=14, con=2.0):
    r"""Ridders' extrapolation of central differences, elementwise.

    ``quotient(h)`` returns the central-difference quotient for step ``h`` (array,
    elementwise). Returns the extrapolated estimate with the smallest error
    estimate over the Neville tableau (Numerical Recipes' ``dfridr``, vectorised).
    """
    con2 = con * con
    h = np.asarray(h0, dtype=np.float64)
    prev = [np.asarray(quotient(h), dtype=np.float64)]
    best = prev[0].copy()
    err = np.full(best.shape, np.inf)
    for _ in range(1, n_tab):
        h = h / con
        cur = [np.asarray(quotient(h), dtype=np.float64)]
        fac = con2
        for m in range(1, len(prev) + 1):
            cur.append((cur[m - 1] * fac - prev[m - 1]) / (fac - 1.0))
            fac *= con2
            e = np.maximum(np.abs(cur[m] - cur[m - 1]), np.abs(cur[m] - prev[m - 1]))
            better = e <= err
            best = np.where(better, cur[m], best)
            err = np.where(better, e, err)
        prev = cur
    return best, err


def _fd_h0(base, step):
    if step is not None:
        return np.asarray(step, dtype=np.float64)
    return 0.1 * np.maximum(np.abs(base), 1.0)


def _fd_partials(f, inputs, j, step):
    base = np.asarray(inputs[j], dtype=np.float64)

    def quotient(h):
        hp = (base + h) - base
        hm = base - (base - h)
        fp = np.asarray(f(*_replace(inputs, j, base + hp)), dtype=np.float64)
        fm = np.asarray(f(*_replace(inputs, j, base - hm)), dtype=np.float64)
        return (fp - fm) / (hp + hm)

    est, _ = _ridders(quotient, _fd_h0(base, step))
    return est


def _fd_elementwise(f, inputs, j, cot, step):
    base = np.asarray(inputs[j], dtype=np.float64)
    h0 = np.broadcast_to(_fd_h0(base, step), base.shape)
    out = np.empty(base.shape)
    for idx in np.ndindex(base.shape):
        x0 = base[idx]

        def quotient(h, idx=idx, x0=x0):
            hp = (x0 + h) - x0
            hm = x0 - (x0 - h)
            zp = base.copy()
            zp[idx] = x0 + hp
            zm = base.copy()
            zm[idx] = x0 - hm
            fp = float(_objective(f, _replace(inputs, j, zp), cot))
            fm = float(_objective(f, _replace(inputs, j, zm), cot))
            return (fp - fm) / (hp + hm)

        out[idx], _ = _ridders(quotient, h0[idx])
    return out


def _to_mp(mp, a):
    a = np.asarray(a)
    if a.dtype.kind == "f":
        out = np.empty(a.shape, dtype=object)
        for idx in np.ndindex(a.shape):
            out[idx] = mp.mpf(float(a[idx]))
        return out
    return a


def _mp_scalar(mp, v):
    if isinstance(v, np.ndarray):
        v = v.reshape(-1)[0] if v.size == 1 else v
    return mp.mpf(v)


def _mp_diff(mp, phi, x0):
    """``mpmath.diff`` with a step that stays inside the domain for tiny ``|x0|``.

    The default absolute step ``2**-(prec+10)`` would leave the domain at, e.g.,
    ``p = 1e-300``; for ``|x0| < 1`` the step is ``|x0| 2**-(prec+10)`` instead, with
    the working precision raised by ``log2(1/|x0|)`` bits so that functions varying on
    an absolute scale are still resolved.
    """
    mag = int(mp.mag(x0)) if x0 != 0 else 0
    if mag >= 0:
        return mp.diff(phi, x0)
    return mp.diff(phi, x0, h=mp.ldexp(1, mag - mp.mp.prec - 10), addprec=10 - mag)


def _mpmath_partials(f, inputs, j, shape, dps):
    mp = import_mpmath()
    out = np.empty(shape)
    with mp.workdps(dps):
        bcast = [np.broadcast_to(_to_mp(mp, a), shape) for a in inputs]
        for idx in np.ndindex(shape):
            args = [b[idx] for b in bcast]

            def phi(t, args=args):
                return _mp_scalar(mp, f(*_replace(args, j, t)))

            out[idx] = float(_mp_diff(mp, phi, args[j]))
    return out


def _mpmath_elementwise(f, inputs, j, cot, dps):
    mp = import_mpmath()
    base = np.asarray(inputs[j], dtype=np.float64)
    out = np.empty(base.shape)
    with mp.workdps(dps):
        args = [_to_mp(mp, a) for a in inputs]
        cot_mp = None if cot is None else _to_mp(mp, cot)
        for idx in np.ndindex(base.shape):

            def phi(t, idx=idx):
                z = args[j].copy()
                z[idx] = t
                val = np.asarray(f(*_replace(args, j, z)), dtype=object)
                if cot_mp is None:
                    return _mp_scalar(mp, val)
                return mp.fsum((cot_mp * val).ravel().tolist())

            out[idx] = float(_mp_diff(mp, phi, args[j][idx]))
    return out


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def check_gradient(
    f,
    grad,
    inputs,
    reference="complex",
    *,
    mode="partials",
    wrt=None,
    rtol=None,
    atol=0.0,
    cotangent=None,
    step=None,
    mp_dps=50,
    argnames=None,
    name="",
    seed=0,
):
    r"""Compare analytic derivatives of a NumPy-array function with a reference.

    Parameters
    ----------
    f : callable or None
        The forward function ``f(*inputs) -> ndarray`` that the reference
        differentiates. For ``reference="complex"`` it must accept complex input (see
        ``complex_forms``); for ``"mpmath"`` it must accept ``mpmath.mpf``
        numbers; for ``"fd"`` it is an ordinary float64 function. Unused (may be
        ``None``) when ``reference`` is a callable, except to infer the output shape
        for a default cotangent.
    grad : callable
        The derivatives under test. Its call and return value depend on ``mode``:

        ``"partials"`` (elementwise ``f``)
            ``grad(*inputs)`` returns, for each argument in ``wrt``, the elementwise
            partial ``d f[k] / d input_j`` broadcast to the output's shape (like
            :func:`astra_np.astra_partials`). A scalar or broadcast argument (a shared
            ``b``) gets the derivative of each output element with respect to it.
        ``"gradient"`` (scalar ``f``)
            ``grad(*inputs)`` returns, for each argument in ``wrt``, the gradient with
            the argument's shape (like :func:`astra_np.bce_grad`).
        ``"vjp"``
            ``grad(cotangent, *inputs)`` returns, for each argument in ``wrt``,
            :math:`J_j^T g` with the argument's shape (like
            :func:`astra_np.astra_vjp`).

        It may return one array per ``wrt`` entry (a bare array when there is one),
        one per input, or one per floating-point input (extra entries are ignored).
    inputs : sequence of array_like
        Positional arguments of ``f`` and ``grad``. Non-differentiated ones (labels,
        say) are passed through unchanged.
    reference : {"complex", "fd", "mpmath"} or callable, default "complex"
        How the reference derivatives are computed (see the module docstring). A
        callable is called like ``grad`` and trusted.
    mode : {"partials", "gradient", "vjp"}, default "partials"
        What ``grad`` returns (above). ``"gradient"`` and ``"vjp"`` perturb one input
        element at a time (cost: one evaluation of ``f`` per element and step).
    wrt : int, str or sequence, optional
        Arguments to differentiate, by position or name. Default: every input with a
        floating-point dtype.
    rtol : float, optional
        Relative tolerance. Default ``1e-10``, or ``1e-6`` for ``reference="fd"``.
    atol : float or array_like, default 0.0
        Absolute tolerance (needed where a derivative changes sign, where the
        relative error of any floating-point evaluation is unbounded). An array is
        broadcast against each derivative array.
    cotangent : array_like, optional
        ``mode="vjp"`` only: the vector ``g``. Default: standard normal with
        ``f``'s output shape, from ``numpy.random.default_rng(seed)``.
    step : float or sequence of float, optional
        ``"complex"``: the step(s) ``h``; default :data:`DEFAULT_COMPLEX_STEPS`, where
        per entry the first step whose imaginary part has not underflowed is used
        (so derivatives down to ~1e-276 are resolved; see Notes). ``"fd"``: initial step of
        Ridders' extrapolation (absolute; default ``0.1 max(|x|, 1)``), halved 13
        times.
    mp_dps : int, default 50
        Working precision (decimal digits) of ``reference="mpmath"``.
    argnames : sequence of str, optional
        Names of the inputs for reports; default: ``f``'s (or ``grad``'s) parameter
        names.
    name : str, optional
        Label stored in the result.
    seed : int, default 0
        Seed of the default cotangent.

    Returns
    -------
    GradcheckResult
        Errors, the worst entry (argument, index, input values, both derivative
        values), the number of compared values and ``passed``.

    Raises
    ------
    ValueError
        On an unknown ``mode``/``reference``, a bad ``wrt``, or derivative arrays of
        the wrong number or shape.
    TypeError
        If ``reference="complex"`` and ``f`` returns real values for complex input.

    See Also
    --------
    assert_gradient : the same, raising ``AssertionError`` on failure.
    scipy.optimize.check_grad : a finite-difference check of a scalar gradient.

    Notes
    -----
    Entries where both values are below the smallest normal float64 (``2.2e-308``)
    count as agreeing: gradual underflow leaves them no relative precision. With the
    complex step, an entry whose imaginary part ``h f'`` is still below ``1e-292`` at
    the last step ``h`` of the ladder gets the extra absolute tolerance ``1e-292 / h``
    (with the default ladder, derivatives below ~1e-276 in magnitude are compared
    absolutely at that level).

    Finite differences (``"fd"``) cannot see derivatives in saturated tails: where
    ``f`` is constant to rounding over the step, the quotient is noise or zero, and
    where ``f`` varies on a scale much smaller than the initial step, the
    extrapolation may lock onto a wrong value with a small error estimate. The
    complex step has neither problem; it needs an analytic, complex-safe ``f``.

    Examples
    --------
    A PyTorch gradient (or any other) is checked by wrapping it so that it maps NumPy
    arrays to NumPy arrays; here a hand-written NumPy one:

    >>> import numpy as np
    >>> f = lambda x: np.exp(-x) / 3
    >>> g = lambda x: -np.exp(-x) / 3
    >>> r = check_gradient(f, g, (np.array([0.5, 2.0]),), rtol=1e-13)
    >>> r.passed, r.n_points, r.reference
    (True, 2, 'complex step')
    """
    ref_kind, rtol, atol_arr = _check_options(f, reference, mode, rtol, atol)
    inputs = _as_inputs(inputs)
    names = _arg_names(f, grad, len(inputs), argnames)
    wrt = _resolve_wrt(wrt, inputs, names)
    out_shape = _output_shape(f, inputs, mode, ref_kind, cotangent)
    cot = _cotangent(mode, cotangent, out_shape, seed)

    call_args = ([cot] if mode == "vjp" else []) + list(inputs)
    analytic = _select(grad(*call_args), wrt, inputs, "grad")
    refs, uncertainty, ref_desc = _reference_derivatives(
        ref_kind, reference, f, inputs, wrt, mode, cot, call_args, out_shape, step, mp_dps
    )
    _broadcast_to_targets(analytic, refs, wrt, inputs, names, mode, out_shape)
    return _compare(
        analytic, refs, uncertainty, wrt, inputs, names, mode, out_shape, rtol, atol_arr, ref_desc, name
    )


def _check_options(f, reference, mode, rtol, atol):
    """Validate ``mode``, ``reference``, ``rtol`` and ``atol``: ``(ref_kind, rtol, atol array)``."""
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    if isinstance(reference, str):
        if reference not in ("complex", "fd", "mpmath"):
            raise ValueError(f"reference must be 'complex', 'fd', 'mpmath' or a callable, got {reference!r}")
        ref_kind = reference
        if f is None:
            raise ValueError(f"reference={reference!r} needs the forward function f")
    elif callable(reference):
        ref_kind = "callable"
    else:
        raise ValueError(f"reference must be 'complex', 'fd', 'mpmath' or a callable, got {reference!r}")
    if rtol is None:
        rtol = _DEFAULT_RTOL[ref_kind]
    rtol = float(rtol)
    if not rtol >= 0:
        raise ValueError(f"rtol must be >= 0, got {rtol!r}")
    atol_arr = np.asarray(atol, dtype=np.float64)
    if np.any(~(atol_arr >= 0)):
        raise ValueError(f"atol must be >= 0, got {atol!r}")
    return ref_kind, rtol, atol_arr


def _output_shape(f, inputs, mode, ref_kind, cotangent):
    """Shape of ``f``'s output where it is needed (partials; a default cotangent), else None."""
    if not (mode == "partials" or (mode == "vjp" and cotangent is None)):
        return None
    if f is None:
        if mode == "vjp":
            raise ValueError("mode='vjp' without f needs an explicit cotangent")
        return np.broadcast_shapes(*[a.shape for a in inputs])
    if ref_kind != "mpmath":
        return np.shape(f(*inputs))
    if mode == "partials":  # f takes mpf scalars
        return np.broadcast_shapes(*[a.shape for a in inputs])
    mp = import_mpmath()  # f takes object arrays of mpf
    return np.shape(np.asarray(f(*[_to_mp(mp, a) for a in inputs]), dtype=object))


def _cotangent(mode, cotangent, out_shape, seed):
    """The vector ``g`` of ``mode="vjp"`` (standard normal by default); None otherwise."""
    if mode != "vjp":
        return None
    if cotangent is None:
        return np.random.default_rng(seed).standard_normal(out_shape)
    return np.asarray(cotangent, dtype=np.float64)


_REF_DESC = {
    "complex": "complex step",
    "fd": "central differences + Richardson (Ridders)",
}


def _reference_derivatives(ref_kind, reference, f, inputs, wrt, mode, cot, call_args, out_shape, step, mp_dps):
    """The reference derivatives, one array per ``wrt`` entry: ``(refs, uncertainty, description)``."""
    if ref_kind == "callable":
        refs = _select(reference(*call_args), wrt, inputs, "reference")
        return refs, [0.0] * len(wrt), f"callable {getattr(reference, '__name__', 'callable')}"
    refs, uncertainty = [], []
    for j in wrt:
        r, u = _reference_one(ref_kind, f, inputs, j, mode, cot, out_shape, step, mp_dps)
        refs.append(np.asarray(r, dtype=np.float64))
        uncertainty.append(u)
    return refs, uncertainty, _REF_DESC.get(ref_kind, f"mpmath.diff at {mp_dps} digits")


def _reference_one(ref_kind, f, inputs, j, mode, cot, out_shape, step, mp_dps):
    """Reference derivative with respect to input ``j`` and its absolute uncertainty."""
    partials = mode == "partials"
    if ref_kind == "complex":
        if partials:
            return _complex_partials(f, inputs, j, _steps(step))
        return _complex_elementwise(f, inputs, j, cot, _steps(step))
    if ref_kind == "fd":
        return (_fd_partials(f, inputs, j, step) if partials else _fd_elementwise(f, inputs, j, cot, step)), 0.0
    if partials:
        return _mpmath_partials(f, inputs, j, out_shape, mp_dps), 0.0
    return _mpmath_elementwise(f, inputs, j, cot, mp_dps), 0.0


def _broadcast_to_targets(analytic, refs, wrt, inputs, names, mode, out_shape):
    """In place: each derivative array broadcast to its target shape (ValueError if it cannot be)."""
    for k, j in enumerate(wrt):
        target = out_shape if mode == "partials" else inputs[j].shape
        for label, arrs in (("grad", analytic), ("reference", refs)):
            a = arrs[k]
            try:
                arrs[k] = np.array(np.broadcast_to(a, target), dtype=np.float64)
            except ValueError:
                raise ValueError(
                    f"{label} returned shape {a.shape} for d/d{names[j]}; expected {target}"
                ) from None


def _compare(analytic, refs, uncertainty, wrt, inputs, names, mode, out_shape, rtol, atol_arr, ref_desc, name):
    n_points = 0
    max_abs = 0.0
    max_rel = 0.0
    worst = (-1.0, None, None)
    any_fail = False
    with np.errstate(all="ignore"):
        for k in range(len(wrt)):
            a, r = analytic[k], refs[k]
            n_points += a.size
            if a.size == 0:
                continue
            at = np.broadcast_to(atol_arr, a.shape) + np.broadcast_to(uncertainty[k], a.shape)
            # equal values (including equal infinities) and pairs of values that are both
            # below the normal range (no relative precision left) count as agreeing
            both_tiny = (np.abs(a) < _TINY) & (np.abs(r) < _TINY)
            diff = np.where((a == r) | both_tiny, 0.0, np.abs(a - r))
            diff = np.where(np.isnan(diff), np.inf, diff)
            tol = at + rtol * np.abs(np.where(np.isfinite(r), r, 0.0))
            ratio = np.where(diff == 0, 0.0, np.where(tol > 0, diff / np.where(tol > 0, tol, 1.0), np.inf))
            rel = np.where(diff == 0, 0.0, np.where(r != 0, diff / np.abs(np.where(r != 0, r, 1.0)), np.inf))
            rel = np.where(np.isnan(rel), np.inf, rel)
            # relative error is reported where the relative criterion governs
            rel = np.where(rtol * np.abs(r) >= at, rel, 0.0) if rtol > 0 else rel
            any_fail = any_fail or bool(np.any(ratio > 1))
            max_abs = max(max_abs, float(np.max(diff)))
            max_rel = max(max_rel, float(np.max(rel)))
            i = int(np.argmax(ratio))
            if ratio.flat[i] > worst[0]:
                worst = (float(ratio.flat[i]), k, np.unravel_index(i, a.shape))
    w_ratio, k, idx = worst
    if k is None:
        return GradcheckResult(
            passed=True, max_abs_error=0.0, max_rel_error=0.0, worst_ratio=0.0, worst_argument="",
            worst_index=(), worst_input={}, analytic=float("nan"), reference_value=float("nan"),
            n_points=0, reference=ref_desc, mode=mode, rtol=rtol, atol=float(np.max(atol_arr, initial=0.0)),
            name=name,
        )
    j = wrt[k]
    idx = tuple(int(i) for i in idx)
    if mode == "partials":
        worst_input = {}
        for nm, a in zip(names, inputs):
            v = np.broadcast_to(a, out_shape)[idx] if out_shape is not None else a
            worst_input[nm] = v.item() if hasattr(v, "item") else v
    else:
        v = inputs[j][idx]
        worst_input = {f"{names[j]}{list(idx) if idx else ''}": v.item() if hasattr(v, "item") else v}
    return GradcheckResult(
        passed=not any_fail,
        max_abs_error=max_abs,
        max_rel_error=max_rel,
        worst_ratio=w_ratio,
        worst_argument=names[j],
        worst_index=idx,
        worst_input=worst_input,
        analytic=float(analytic[k][idx]),
        reference_value=float(refs[k][idx]),
        n_points=n_points,
        reference=ref_desc,
        mode=mode,
        rtol=rtol,
        atol=float(np.max(atol_arr, initial=0.0)),
        name=name,
    )


def assert_gradient(f, grad, inputs, reference="complex", **kwargs):
    r"""Like :func:`check_gradient`, but raise ``AssertionError`` (with the report) on failure.

    Returns the :class:`GradcheckResult` when the check passes, so it can be used
    directly in a test.

    >>> import numpy as np
    >>> r = assert_gradient(np.sin, np.cos, (np.array([0.1, 1.0]),), rtol=1e-14)
    """
    res = check_gradient(f, grad, inputs, reference, **kwargs)
    if not res.passed:
        raise AssertionError(str(res))
    return res


def combine(results, name=""):
    r"""Merge several :class:`GradcheckResult` of the same check (e.g. several draws)."""
    results = list(results)
    if not results:
        raise ValueError("results must not be empty")
    worst = max(results, key=lambda r: r.worst_ratio)
    return dataclasses.replace(
        worst,
        passed=all(r.passed for r in results),
        max_abs_error=max(r.max_abs_error for r in results),
        max_rel_error=max(r.max_rel_error for r in results),
        n_points=sum(r.n_points for r in results),
        name=name or worst.name,
    )
