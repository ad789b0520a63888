r"""Building the implementation :func:`validate` expects from forward functions alone.

A framework with automatic differentiation needs to write only the forward functions
(Eqs. 4-9 and the output head); :func:`implementation_from_forward` adds every gradient
call of the protocol (``astra_partials``, ``bce_grad``, the gradients returned by
``head_loss``, ...) from the framework's gradient operator, following the function
table: elementwise partials are the gradient of the sum over the broadcast arguments,
reduction gradients the gradient of the scalar. astra_np imports no framework; the
operator is passed in (``jax.grad`` or ``jax.vjp`` directly, a few lines for PyTorch,
see ``examples/``).
"""
import difflib
import inspect

import numpy as np

from .spec import FUNCTIONS


def forward_names():
    r"""Names of the forward functions :func:`implementation_from_forward` uses, in table
    order: the call of each function that returns its value."""
    names = []
    for spec in FUNCTIONS.values():
        name = spec["calls"][0]["name"]
        if name not in names:
            names.append(name)
    return names


def _check_forward(forward, grad, vjp):
    if (grad is None) == (vjp is None):
        raise ValueError("give exactly one of grad= (like jax.grad) and vjp= (like jax.vjp)")
    op = grad if grad is not None else vjp
    if not callable(op):
        raise ValueError(f"{'grad' if grad is not None else 'vjp'} must be callable, got {op!r}")
    known = forward_names()
    for name, f in forward.items():
        if name not in known:
            hint = difflib.get_close_matches(str(name), known, n=1, cutoff=0.5)
            raise ValueError(f"forward: unknown name {name!r}"
                             + (f" (did you mean {hint[0]!r}?)" if hint else "")
                             + f"; known: {known}")
        if not callable(f):
            raise ValueError(f"forward[{name!r}] must be callable, got {f!r}")


class _Gradient:
    """d f / d (differentiable args) through a framework's grad or vjp operator."""

    def __init__(self, f, spec, grad, vjp, asarray, to_numpy):
        self.f, self.grad, self.vjp = f, grad, vjp
        self.asarray, self.to_numpy = asarray, to_numpy
        self.diff = [i for i, a in enumerate(spec["args"]) if a["differentiable"]]
        self.elementwise = spec["gradient_kind"] == "elementwise"

    def __call__(self, *args, **kwargs):
        if self.elementwise:   # d value[i] / d arg[i] of the broadcast arguments
            args = [np.array(a) for a in np.broadcast_arrays(*args)]
        full = [self.asarray(a) for a in args]
        primals = [full[i] for i in self.diff]

        def fun(*diff_args):
            call_args = list(full)
            for i, v in zip(self.diff, diff_args):
                call_args[i] = v
            return self.f(*call_args, **kwargs)

        if self.grad is not None:
            summed = (lambda *d: fun(*d).sum()) if self.elementwise else fun
            grads = self.grad(summed, argnums=tuple(range(len(primals))))(*primals)
        else:
            out, pullback = self.vjp(fun, *primals)
            grads = pullback(self.asarray(np.ones(np.shape(out), dtype=np.float64)))
        return tuple(np.zeros(np.shape(args[i])) if g is None else self.to_numpy(g)
                     for i, g in zip(self.diff, grads))


#: Keywords of the protocol a forward function may take under another name, so that a
#: parameter does not hide a forward function of the same name in the user's module:
#: ``head_loss(x, beta, y, loss, use_astra, z)`` can call its own ``astra(x, b)``.
KEYWORD_ALIASES = {"astra": "use_astra"}


def _renamed_keywords(f):
    r"""``f`` taking the protocol's keywords under the names its signature uses
    (:data:`KEYWORD_ALIASES`); ``f`` itself when it takes them as they are."""
    try:
        params = inspect.signature(f).parameters
    except (TypeError, ValueError):   # a builtin without a signature: as it is
        return f
    rename = {k: v for k, v in KEYWORD_ALIASES.items() if k not in params and v in params}
    if not rename:
        return f

    def call(*args, **kwargs):
        return f(*args, **{rename.get(k, k): v for k, v in kwargs.items()})
    return call


def _value(f, asarray, to_numpy):
    def call(*args, **kwargs):
        return to_numpy(f(*[asarray(a) for a in args], **kwargs))
    return call


def _gradient_call(gradient, n_returns):
    """A gradient call of the protocol: one array for one return, else the tuple."""
    if n_returns > 1:
        return gradient

    def call(*args, **kwargs):
        (g,) = gradient(*args, **kwargs)
        return g
    return call


def _value_and_gradient(f, gradient, asarray, to_numpy):
    def call(*args, **kwargs):
        value = to_numpy(f(*[asarray(a) for a in args], **kwargs))
        return (value,) + gradient(*args, **kwargs)
    return call


def implementation_from_forward(forward, *, grad=None, vjp=None, asarray=None, to_numpy=None):
    r"""The mapping :func:`validate` expects, built from forward functions and a gradient operator.

    Parameters
    ----------
    forward : mapping of str to callable
        Forward functions under the names of :func:`forward_names`: ``astra(x, b)`` (Eq. 4),
        ``astra_logit(x, b)``, ``threshold(b)`` (Eq. 5), ``slope_for_threshold(tau)``,
        ``slope_from_beta(beta)`` (Eq. 7), ``z_transform(p, tau)`` (Eq. 6), ``bce(p, y)``,
        ``gmn(p, y)`` (Eqs. 8-9) and ``head_loss(x, beta, y, loss=, astra=, z=)`` returning
        the scalar loss. Each takes and returns the framework's arrays. Names left out
        are missing in the result (and reported by :func:`validate`). The head may name
        its ``astra`` keyword ``use_astra`` (:data:`KEYWORD_ALIASES`), so that the flag
        does not hide the forward function ``astra`` inside it.
    grad : callable, optional
        Like ``jax.grad``: ``grad(fun, argnums=(0, 1, ...))`` returns a function of
        ``fun``'s arguments giving the tuple of gradients of the scalar ``fun``.
    vjp : callable, optional
        Like ``jax.vjp``: ``vjp(fun, *primals)`` returns ``(out, pullback)`` and
        ``pullback(cotangent)`` the tuple of vector-Jacobian products. Give exactly
        one of ``grad`` and ``vjp``.
    asarray : callable, optional
        NumPy array -> framework array (``jnp.asarray``, ``torch.from_numpy``, ...);
        default: pass NumPy arrays as they are.
    to_numpy : callable, optional
        Framework array -> NumPy array; default ``np.asarray``. Results are not cast:
        a float32 result stays float32 and :func:`validate` names it.

    Returns
    -------
    dict
        Every call of the protocol whose forward function was given: ``astra`` and
        ``astra_partials``, ..., ``gmn`` and ``gmn_grad``, ``head_loss`` (value and
        gradients). Elementwise partials are the gradient of ``sum(f)`` over the
        arguments broadcast to the case's shape (the document's ``gradients`` field);
        reduction gradients the gradient of the scalar in each differentiable argument.

    Raises
    ------
    ValueError
        If both or neither of ``grad`` and ``vjp`` are given, or ``forward`` has a name
        that no function uses (the closest one is suggested).

    Examples
    --------
    With JAX (float64 enabled)::

        impl = implementation_from_forward(
            {"astra": astra, "astra_logit": astra_logit, ...}, grad=jax.grad)
        validate(impl)
    """
    forward = dict(forward)
    _check_forward(forward, grad, vjp)
    asarray = (lambda a: a) if asarray is None else asarray
    to_numpy = np.asarray if to_numpy is None else to_numpy
    impl = {}
    for spec in FUNCTIONS.values():
        value_call, *grad_calls = spec["calls"]
        f = forward.get(value_call["name"])
        if f is None or value_call["name"] in impl:
            continue
        f = _renamed_keywords(f)
        gradient = _Gradient(f, spec, grad, vjp, asarray, to_numpy)
        if len(value_call["returns"]) > 1:      # one call: value and gradients
            impl[value_call["name"]] = _value_and_gradient(f, gradient, asarray, to_numpy)
        else:
            impl[value_call["name"]] = _value(f, asarray, to_numpy)
            for call in grad_calls:
                impl[call["name"]] = _gradient_call(gradient, len(call["returns"]))
    return impl
