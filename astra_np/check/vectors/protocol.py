r"""The call protocol: how a case's inputs reach an implementation and its results come back.

Every function of :data:`~astra_np.check.vectors.spec.FUNCTIONS` lists its ``calls``:
callables an implementation provides under astra_np's names, each called as
``call(*args in order, **kwargs)`` and returning the quantities in ``returns``
(``value``, ``gradient.<arg>``), several of them as a tuple.
"""
from collections.abc import Mapping

import numpy as np

from .spec import FUNCTIONS


class ProtocolError(ValueError):
    """A call returned something other than the results its ``returns`` list describes."""


def call_names():
    """Every callable name the document's functions use, in table order (no repeats)."""
    names = []
    for spec in FUNCTIONS.values():
        for call in spec["calls"]:
            if call["name"] not in names:
                names.append(call["name"])
    return names


def _package_impl():
    """astra_np's float64 functions under the names of the call protocol."""
    from ...core import activation, losses, ztransform

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


def _split_results(call, res):
    """The results of one call as a tuple with one entry per quantity of ``returns``."""
    n = len(call["returns"])
    if n == 1:
        return (res,)
    if not isinstance(res, (tuple, list)):
        shape = getattr(res, "shape", None)
        what = f"one array of shape {tuple(shape)}" if shape is not None else type(res).__name__
        raise ProtocolError(f"{call['name']} returned {what}, expected a tuple of {n} results "
                            f"({', '.join(call['returns'])})")
    if len(res) != n:
        raise ProtocolError(f"{call['name']} returned {len(res)} results, expected {n} "
                            f"({', '.join(call['returns'])})")
    return tuple(res)


def _call(spec, lookup, inputs):
    """Evaluate one case through the call protocol.

    Returns ``(outputs, missing)``: a dict from quantity ('value', 'gradient.x', ...) to
    the arrays returned (``np.asarray`` of each result, dtype and shape as returned), and
    the names of calls the implementation does not provide.

    Raises
    ------
    ProtocolError
        If a call with several returns does not return a tuple of that many results.
    """
    outputs, missing = {}, []
    args = [inputs[a["name"]] for a in spec["args"]]
    for call in spec["calls"]:
        f = lookup(call["name"])
        if f is None:
            missing.append(call["name"])
            continue
        res = _split_results(call, f(*args, **spec["kwargs"]))
        for key, r in zip(call["returns"], res):
            outputs[key] = np.asarray(r)
    return outputs, missing
