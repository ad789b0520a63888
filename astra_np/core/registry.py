r"""The one registry of losses and training methods, and the call that adds a loss.

A **loss** is defined once, by a :class:`Loss` entry: its logit-space value and gradient
(the core function the network trains through), its family of fused-kernel terms
(:mod:`astra_np.learn.kernel`), its display label and its order. A **method** (Section
4.2) is a loss times an output: the plain sigmoid, or ASTra (Eq. 4) followed by the
z-transform (Eq. 6). Every list of methods in astra_np (``METHODS``, the CLI choices,
the protocol's order, the report's columns and labels, the figures' styles, the
reference vectors, the gradcheck rows) is derived from :func:`methods`; an unknown name
is a ``ValueError`` everywhere.

Confusion-matrix losses (GMN, Eq. 9, and the others built on the approximated matrix
of Eq. 8) share the chain from the counts to the logits. With
:math:`TP = \sum_{y_i=1} p_i`, :math:`FN = \sum_{y_i=1} (1 - p_i)` and likewise
:math:`FP`, :math:`TN` over the negatives, and :math:`dp_i/d\ell_i = p_i(1 - p_i)` (:math:`p_i = \sigma(\ell_i)`: :math:`z_i` with
the z-transform, :math:`\hat y_i` without),

.. math::

    \frac{\partial J}{\partial \ell_i} = k_+\, p_i(1-p_i)\ (y_i = 1),\qquad
    k_-\, z_i(1-z_i)\ (y_i = 0),\qquad
    k_+ = \frac{\partial J}{\partial TP} - \frac{\partial J}{\partial FN},\quad
    k_- = \frac{\partial J}{\partial FP} - \frac{\partial J}{\partial TN},

so such a loss is given by two functions (:func:`register_count_loss`): its
**definition** ``definition(tn, fp, fn, tp, xp)``, the loss written plainly, and its
**log form** ``log_form(lc, m0, m1) -> (J, log k_neg, log(-k_pos))``, the hand-derived
stable form the network trains through (:mod:`astra_np.core.count_losses`). The log
form gives the core value and gradient on logits and the fused kernel's terms; the
checking tools (:mod:`astra_np.check`) derive the complex-step form and the 60-digit
reference from the definition. Registration compares the two at fixed counts
(:data:`CHECK_POINTS`) and refuses a log form that disagrees.

The built-in losses are registered by the same call: BCE here (the cross-entropy
family), GMN, soft F1 and soft MCC in :mod:`astra_np.core.count_losses`. Nothing else
dispatches on loss or method names.
"""
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from importlib import import_module

from ._count_chain import count_loss_with_logits, counts_from_log_form
from ._extended import EXTENDED, Extended

__all__ = [
    "Loss",
    "Method",
    "MethodTable",
    "FUSED_TERMS",
    "CHECK_POINTS",
    "CHECK_RTOL",
    "register_count_loss",
    "losses",
    "get_loss",
    "methods",
    "get_method",
    "method_names",
    "paper_method_names",
    "DEFAULT_LOSS",
    "DEFAULT_METHOD",
]

#: The families of fused-kernel terms :mod:`astra_np.learn.kernel` implements:
#: ``"cross-entropy"`` (per-row terms of the mean BCE) and ``"counts"`` (a function
#: of the approximated confusion counts, through the loss's ``counts`` function).
FUSED_TERMS = ("cross-entropy", "counts")


def _resolve(qualified):
    """``"package.module:function"`` -> the function (imported on first use)."""
    module, _, name = qualified.partition(":")
    return getattr(import_module(module), name)


@dataclass(frozen=True)
class Loss:
    r"""A loss on the transformed output, defined once.

    Attributes
    ----------
    name : str
        The key used everywhere (``"bce"``, ``"gmn"``); method names derive from it.
    label : str
        Display label (report columns, figure legends).
    value_and_grad : callable or str
        The core function ``f(logit, y) -> (J, dJ/dlogit)`` (or its ``"module:function"``).
    fused : str
        The family of fused-kernel terms (one of :data:`FUSED_TERMS`).
    counts : callable or None
        For ``fused="counts"``: ``f(tn, fp, fn, tp, m0, m1) -> (J, k_neg, k_pos)`` or
        ``None`` where the loss or its gradient is not finite (the kernel then uses the
        reference path).
    definition : callable or None
        For ``fused="counts"``: ``definition(tn, fp, fn, tp, xp)``, the loss written
        plainly (:func:`register_count_loss`); the checking tools derive its complex-step
        and 60-digit forms from it.
    log_form : callable or None
        For ``fused="counts"``: ``log_form(lc, m0, m1) -> (J, log k_neg, log(-k_pos))``.
    needs_both_classes : bool
        The loss is defined only when both classes are present (count-based losses).
    in_paper : bool
        One of the paper's compared losses: its methods are the protocol's default.
    derivation : str
        The derivation file (in ``derivations/`` for the built-in losses).
    description : str
        The formula's name in one phrase (the reference vectors' function table).
    module : str
        The module that registered the loss (``astra_np...`` for the built-in losses).
    """

    name: str
    label: str
    value_and_grad: object
    fused: str
    counts: object = None
    definition: object = None
    log_form: object = None
    needs_both_classes: bool = False
    in_paper: bool = True
    derivation: str = ""
    description: str = ""
    module: str = "astra_np"
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def builtin(self):
        """True for the losses astra_np registers itself."""
        return self.module == "astra_np" or self.module.startswith("astra_np.")

    def function(self, role):
        r"""The callable behind ``role`` (``"value_and_grad"`` or ``"counts"``)."""
        if role not in ("value_and_grad", "counts"):
            raise ValueError(f"role must be 'value_and_grad' or 'counts', got {role!r}")
        if role not in self._cache:
            target = getattr(self, role)
            if target is None:
                raise ValueError(f"loss {self.name!r} has no {role} function")
            self._cache[role] = _resolve(target) if isinstance(target, str) else target
        return self._cache[role]


@dataclass(frozen=True)
class Method:
    r"""A training method (Section 4.2): a :class:`Loss` on the sigmoid or on ASTra + z.

    ``astra=True`` trains ASTra's slope (Eq. 4, 7) and applies the z-transform (Eq. 6)
    before the loss, as the paper does; ``astra=False`` is the plain sigmoid (``b = 1``,
    ``tau = 0.5``).
    """

    loss: Loss
    astra: bool

    @property
    def name(self):
        return f"{self.loss.name}-astra" if self.astra else self.loss.name

    @property
    def label(self):
        return f"{self.loss.label}-ASTra" if self.astra else self.loss.label

    @property
    def z(self):
        """The z-transform is applied exactly with ASTra (the paper's methods)."""
        return self.astra

    @property
    def output(self):
        """``"astra"`` or ``"sigmoid"``."""
        return "astra" if self.astra else "sigmoid"

    def head_kwargs(self):
        r"""The keyword set of :func:`astra_np.core.losses.head_loss` for this method."""
        return dict(loss=self.loss.name, astra=self.astra, z=self.z)


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------

_LOSSES = []  # display order: the paper's (BCE, GMN), then the others as registered
_METHOD_CACHE = {}  # (loss name, astra) -> Method, so that each method is one object

#: The default loss of :func:`astra_np.core.losses.head_loss` (the mean BCE).
DEFAULT_LOSS = "bce"
#: The default training method: the paper's proposal, GMN on ASTra with the z-transform.
DEFAULT_METHOD = "gmn-astra"
#: Words that are not loss names: ``experiment --methods all`` means every method.
_RESERVED = frozenset({"all"})
_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


def losses():
    r"""Every registered :class:`Loss`, in display order."""
    return tuple(_LOSSES)


def get_loss(name):
    r"""The :class:`Loss` called ``name``; ``ValueError`` naming the valid names otherwise."""
    for loss in _LOSSES:
        if loss.name == name and isinstance(name, str):
            return loss
    raise ValueError(f"loss must be one of {[l.name for l in _LOSSES]}, got {name!r}")


def methods():
    r"""Every :class:`Method`, in column order (sigmoid methods, then ASTra methods)."""
    out = []
    for astra in (False, True):
        for loss in _LOSSES:
            key = (loss.name, astra)
            if key not in _METHOD_CACHE:
                _METHOD_CACHE[key] = Method(loss, astra)
            out.append(_METHOD_CACHE[key])
    return tuple(out)


def get_method(name):
    r"""The :class:`Method` called ``name``; ``ValueError`` naming the valid names otherwise."""
    for m in methods():
        if isinstance(name, str) and m.name == name:
            return m
    raise ValueError(f"method must be one of {method_names()}, got {name!r}")


def method_names():
    r"""Names of every method, in column order."""
    return [m.name for m in methods()]


def paper_method_names():
    r"""Names of the paper's methods (losses with ``in_paper``), in column order."""
    return [m.name for m in methods() if m.loss.in_paper]


class MethodTable(Mapping):
    r"""A read-only mapping ``method name -> value(method)`` that follows the registry.

    ``METHODS`` (:mod:`astra_np.core.losses`), the report's labels and the figures'
    names are such views, so a loss registered later appears in each of them.
    """

    def __init__(self, value):
        self._value = value

    def __getitem__(self, name):
        for m in methods():
            if m.name == name and isinstance(name, str):
                return self._value(m)
        raise KeyError(name)

    def __iter__(self):
        return iter(method_names())

    def __len__(self):
        return len(_LOSSES) * 2

    def __repr__(self):
        return repr(dict(self))


# ---------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------

#: Counts ``(TN, FP, FN, TP, m0, m1)`` at which a log form is checked against its
#: definition: ordinary counts, one count tiny (TP, then FP, of order 1e-211), counts in
#: the thousands and a nearly perfect classifier.
CHECK_POINTS = (
    (3.0, 1.0, 1.0, 1.0, 4, 2),
    (7.25, 2.75, 0.5, 1.5, 10, 2),
    (2.5, 1.5, 3.0, 2.0 ** -700, 4, 3),
    (4.0, 2.0 ** -700, 1.25, 0.75, 4, 2),
    (3500.25, 499.75, 120.5, 79.5, 4000, 200),
    (1999.5, 0.5, 0.25, 2999.75, 2000, 3000),
)
#: Relative tolerance of that check (the complex step is exact to rounding: a log form
#: wrong by a factor 1.000001 fails by three orders of magnitude).
CHECK_RTOL = 1e-9
_STEP = 2.0 ** -60  # the complex step, relative to the smaller perturbed count


def _check_name(name):
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"name must be lowercase letters, digits and '_', starting with a letter "
                         f"(it becomes a method name and a CLI choice), got {name!r}")
    if name in _RESERVED:
        raise ValueError(f"name {name!r} is reserved (experiment --methods {name})")
    taken = {l.name for l in _LOSSES} | set(method_names())
    if name in taken:
        raise ValueError(f"name {name!r} clashes with a registered loss or method; registered: "
                         f"{[l.name for l in _LOSSES]}")


def _check_text(argument, value):
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{argument} must be a string or None, got {value!r}")


def _definition_at(name, definition, counts, perturb=None):
    r"""The definition on :class:`Extended` counts, ``perturb = (i, j)`` moving count i by
    ``-ih`` and count j by ``+ih``; returns ``(J, h)``."""
    values = [Extended(c) for c in counts]
    h = None
    if perturb is not None:
        i, j = perturb
        h = Extended(min(counts[i], counts[j]) * _STEP)
        step = Extended(1j) * h
        values[i] = values[i] - step
        values[j] = values[j] + step
    try:
        out = definition(*values, EXTENDED)
    except (ArithmeticError, TypeError, ValueError) as exc:
        raise ValueError(f"definition of loss {name!r} failed at counts (TN, FP, FN, TP) = "
                         f"{tuple(counts)}: {type(exc).__name__}: {exc}") from None
    return Extended(complex(out)) if not isinstance(out, Extended) else out, h


def definition_partials(name, definition, counts):
    r"""``(J, k_neg, k_pos)`` of ``definition`` at linear ``counts = (tn, fp, fn, tp)``, by
    the complex step along :math:`(-1, +1)` in (TN, FP) and in (FN, TP), on
    :class:`Extended` numbers (exact to rounding, underflow-free)."""
    value, _ = _definition_at(name, definition, counts)
    ks = []
    for pair in ((0, 1), (2, 3)):
        out, h = _definition_at(name, definition, counts, pair)
        ks.append(out.imag_over(h))
    return float(value), ks[0], ks[1]


def _disagrees(form, ref, atol=0.0):
    return not (math.isfinite(form) and abs(form - ref) <= atol + CHECK_RTOL * abs(ref))


def check_count_loss(name, definition, counts):
    r"""Check a counts function ``(J, k_neg, k_pos)`` against ``definition`` at :data:`CHECK_POINTS`.

    Raises ``ValueError`` naming the loss, the quantity (J, k_neg or k_pos), the counts
    and both values when they differ by more than :data:`CHECK_RTOL` (J also by
    ``1e-12`` absolute: a loss near 0 is compared with the scale of 1), or when the
    definition's k has the wrong sign (a measure that does not improve with TP or TN).
    """
    for tn, fp, fn, tp, m0, m1 in CHECK_POINTS:
        at = f"(TN, FP, FN, TP) = ({tn!r}, {fp!r}, {fn!r}, {tp!r})"
        ref = definition_partials(name, definition, (tn, fp, fn, tp))
        if not all(math.isfinite(v) for v in ref):
            raise ValueError(f"loss {name!r}: the definition is not finite at {at}: (J, k_neg, k_pos) = {ref}")
        if ref[1] < 0:
            raise ValueError(f"loss {name!r}: k_neg = dJ/dFP - dJ/dTN = {ref[1]!r} < 0 at {at}: the loss must not "
                             "fall when a negative's output rises (a measure that improves with FP)")
        if ref[2] > 0:
            raise ValueError(f"loss {name!r}: k_pos = dJ/dTP - dJ/dFN = {ref[2]!r} > 0 at {at}: the loss must not "
                             "rise when a positive's output rises (a measure that does not improve with TP)")
        got = counts(tn, fp, fn, tp, m0, m1)
        if got is None:
            raise ValueError(f"loss {name!r}: log_form gives no value at {at}")
        for quantity, form, want, atol in zip(("J", "k_neg", "k_pos"), got, ref, (1e-12, 0.0, 0.0)):
            if _disagrees(float(form), want, atol):
                raise ValueError(f"loss {name!r}: log_form's {quantity} = {float(form)!r} but the definition gives "
                                 f"{want!r} at {at} (relative tolerance {CHECK_RTOL:g})")


def _register(loss):
    _LOSSES.append(loss)


def _unregister(name):
    r"""Remove a loss added by :func:`register_count_loss` (the built-in losses stay)."""
    loss = get_loss(name)
    if loss.builtin:
        raise ValueError(f"loss {name!r} is built in and cannot be removed")
    _LOSSES.remove(loss)
    for astra in (False, True):
        _METHOD_CACHE.pop((name, astra), None)


def _register_count_loss(name, *, definition, log_form, label=None, description=None, derivation=None,
                         in_paper=False, value_and_grad=None, counts=None):
    r""":func:`register_count_loss`, with the built-in GMN's paper flag and its own logit
    and counts functions (kept bit for bit; checked against the definition like a log form)."""
    _check_name(name)
    for argument, fn in (("definition", definition), ("log_form", log_form)):
        if not callable(fn):
            raise ValueError(f"{argument} must be callable, got {fn!r}")
    for argument, text in (("label", label), ("description", description), ("derivation", derivation)):
        _check_text(argument, text)
    chained = partial(counts_from_log_form, log_form)
    check_count_loss(name, definition, chained)
    if counts is not None:
        check_count_loss(name, definition, counts)
    _register(Loss(
        name=name,
        label=label or name,
        value_and_grad=value_and_grad or partial(count_loss_with_logits, log_form=log_form),
        fused="counts",
        counts=counts or chained,
        definition=definition,
        log_form=log_form,
        needs_both_classes=True,
        in_paper=in_paper,
        derivation=derivation or "",
        description=description or f"{label or name} loss on the approximated matrix (Eq. 8)",
        module=getattr(definition, "__module__", None) or "__main__",
    ))
    return get_loss(name)


def register_count_loss(name, *, definition, log_form, label=None, description=None, derivation=None):
    r"""Add a loss on the approximated confusion counts (Eq. 8), checked against its definition.

    Registers the methods ``name`` (sigmoid) and ``name-astra`` (ASTra + z-transform)
    everywhere a method is accepted: :func:`~astra_np.core.losses.head_loss`,
    :class:`~astra_np.learn.estimator.ASTraClassifier`, ``train``, the protocol, its
    report and figures, the gradcheck rows, the reference vectors and ``validate``, and
    the fused kernel.

    Parameters
    ----------
    name : str
        Lowercase letters, digits and ``_``, starting with a letter; not a registered
        loss or method name, not ``"all"``.
    definition : callable
        ``definition(tn, fp, fn, tp, xp) -> J``: the loss written plainly, with the math
        functions of ``xp`` (``sqrt``, ``log``, ``exp``, ``log1p``, ``expm1``) and
        arithmetic. It is called with float64, complex :class:`~astra_np.core._extended.Extended`
        numbers (complex step) and mpmath ``mpf`` (60 digits); the class sizes are
        ``m0 = tn + fp`` and ``m1 = fn + tp``.
    log_form : callable
        ``log_form(lc, m0, m1) -> (J, log k_neg, log(-k_pos))`` or ``None`` where the
        loss is undefined; ``lc`` holds the natural logs of the counts (``lc.tn``,
        ``lc.fp``, ``lc.fn``, ``lc.tp``), :math:`k_+ = \partial J/\partial TP -
        \partial J/\partial FN \le 0` and :math:`k_- = \partial J/\partial FP -
        \partial J/\partial TN \ge 0` (``derivations/count_loss_template.md``).
    label, description, derivation : str, optional
        Display label (default ``name``), the formula's name in one phrase, and the
        file that derives the log form.

    Returns
    -------
    Loss
        The registered entry.

    Raises
    ------
    ValueError
        For a bad name or argument, or when at one of :data:`CHECK_POINTS` the log
        form's J, k_neg or k_pos differs from the definition's (complex step) by more
        than :data:`CHECK_RTOL`, or the definition's k has the wrong sign: the message
        names the loss, the quantity, the counts and both values.
    """
    return _register_count_loss(name, definition=definition, log_form=log_form, label=label,
                                description=description, derivation=derivation)


_register(Loss(
    name="bce",
    label="BCE",
    value_and_grad="astra_np.core.losses:bce_with_logits_value_and_grad",
    fused="cross-entropy",
    derivation="bce.md",
    description="mean binary cross-entropy",
))

from . import count_losses as _count_losses  # noqa: E402,F401  (registers GMN, soft F1, soft MCC)
