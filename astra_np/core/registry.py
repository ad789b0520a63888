r"""The one registry of losses and training methods.

A **loss** is defined once, here, by a :class:`Loss` entry: its logit-space value and
gradient (the core function the network trains through), its complex-safe form (for the
complex step, :mod:`astra_np.check._complex`), its 60-digit mpmath form
(:mod:`astra_np.check.reference`), its fused-kernel terms (:mod:`astra_np.learn.kernel`),
its display label and its order. A **method** (Section 4.2) is a loss times an output:
the plain sigmoid, or ASTra (Eq. 4) followed by the z-transform (Eq. 6). Every list of
methods in astra_np (``METHODS``, the CLI choices, the protocol's order, the report's
columns and labels, the figures' styles, the reference vectors, the gradcheck rows) is
derived from :func:`methods`; an unknown name is a ``ValueError`` everywhere.

Confusion-matrix losses (GMN, Eq. 9, and the others built on the approximated matrix
of Eq. 8) share the chain from the counts to the logits. With
:math:`TP = \sum_{y_i=1} z_i`, :math:`FN = \sum_{y_i=1} (1 - z_i)` and likewise
:math:`FP`, :math:`TN` over the negatives, and :math:`dz_i/d\ell_i = z_i(1 - z_i)`,

.. math::

    \frac{\partial J}{\partial \ell_i} = k_+\, z_i(1-z_i)\ (y_i = 1),\qquad
    k_-\, z_i(1-z_i)\ (y_i = 0),\qquad
    k_+ = \frac{\partial J}{\partial TP} - \frac{\partial J}{\partial FN},\quad
    k_- = \frac{\partial J}{\partial FP} - \frac{\partial J}{\partial TN},

so such a loss gives the fused kernel only :math:`J` and :math:`(k_-, k_+)` from the four
counts (its ``counts`` function).

Adding a loss: write its core function (value and gradient in the logits), its
complex-safe and mpmath forms and, for a count-based loss, its counts function; add one
:class:`Loss` entry to ``_LOSSES`` below; add its derivation. Nothing else dispatches on
loss or method names.
"""
from dataclasses import dataclass, field
from importlib import import_module

__all__ = [
    "Loss",
    "Method",
    "FUSED_TERMS",
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
    value_and_grad : str
        ``"module:function"`` of the core function ``f(logit, y) -> (J, dJ/dlogit)``.
    complex_form : str
        ``"module:function"`` of the complex-step-safe value ``f(logit, y) -> J``.
    mpmath_form : str
        ``"module:function"`` of the mpmath head terms
        ``f(l, ys) -> (J, dJ/dl list, extra)`` on lists of ``mpf``.
    fused : str
        The family of fused-kernel terms (one of :data:`FUSED_TERMS`).
    counts : str or None
        For ``fused="counts"``: ``"module:function"`` of
        ``f(tn, fp, fn, tp, m0, m1) -> (J, k_neg, k_pos)`` or ``None`` where the loss or
        its gradient is not finite (the kernel then uses the reference path).
    needs_both_classes : bool
        The loss is defined only when both classes are present (count-based losses).
    in_paper : bool
        One of the paper's compared losses: its methods are the protocol's default.
    derivation : str
        The derivation file in ``derivations/``.
    description : str
        The formula's name in one phrase (the reference vectors' function table).
    """

    name: str
    label: str
    value_and_grad: str
    complex_form: str
    mpmath_form: str
    fused: str
    counts: str | None = None
    needs_both_classes: bool = False
    in_paper: bool = True
    derivation: str = ""
    description: str = ""
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    def function(self, role):
        r"""The callable behind ``role`` (``"value_and_grad"``, ``"complex_form"``,
        ``"mpmath_form"`` or ``"counts"``), imported on first use."""
        if role not in self._cache:
            qualified = getattr(self, role)
            if qualified is None:
                raise ValueError(f"loss {self.name!r} has no {role} function")
            self._cache[role] = _resolve(qualified)
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


_CORE = "astra_np.core.losses"
_COUNT = "astra_np.core.count_losses"
_COMPLEX = "astra_np.check._complex"
_MP = "astra_np.check.reference"

#: The losses, in display order: the paper's (BCE, GMN), then the soft F1 ([12] in the
#: paper's references) and soft MCC ([16]) losses on the same approximated matrix.
_LOSSES = (
    Loss(
        name="bce",
        label="BCE",
        value_and_grad=f"{_CORE}:bce_with_logits_value_and_grad",
        complex_form=f"{_COMPLEX}:bce_with_logits",
        mpmath_form=f"{_MP}:bce_head_terms",
        fused="cross-entropy",
        derivation="bce.md",
        description="mean binary cross-entropy",
    ),
    Loss(
        name="gmn",
        label="GMN",
        value_and_grad=f"{_CORE}:gmn_with_logits_value_and_grad",
        complex_form=f"{_COMPLEX}:gmn_from_logits",
        mpmath_form=f"{_MP}:gmn_head_terms",
        fused="counts",
        counts=f"{_CORE}:gmn_from_counts",
        needs_both_classes=True,
        derivation="gmn.md",
        description="GMN loss (Eqs. 8-9)",
    ),
    Loss(
        name="f1",
        label="soft-F1",
        value_and_grad=f"{_COUNT}:f1_with_logits_value_and_grad",
        complex_form=f"{_COMPLEX}:f1_from_logits",
        mpmath_form=f"{_MP}:f1_head_terms",
        fused="counts",
        counts=f"{_COUNT}:f1_from_counts",
        needs_both_classes=True,
        in_paper=False,
        derivation="f1.md",
        description="soft-F1 loss, 1 - F1 of the approximated matrix (Eq. 8)",
    ),
    Loss(
        name="mcc",
        label="soft-MCC",
        value_and_grad=f"{_COUNT}:mcc_with_logits_value_and_grad",
        complex_form=f"{_COMPLEX}:mcc_from_logits",
        mpmath_form=f"{_MP}:mcc_head_terms",
        fused="counts",
        counts=f"{_COUNT}:mcc_from_counts",
        needs_both_classes=True,
        in_paper=False,
        derivation="mcc.md",
        description="soft-MCC loss, 1 - MCC of the approximated matrix (Eq. 8)",
    ),
)

#: The default loss of :func:`astra_np.core.losses.head_loss` (the mean BCE).
DEFAULT_LOSS = "bce"
#: The default training method: the paper's proposal, GMN on ASTra with the z-transform.
DEFAULT_METHOD = "gmn-astra"

_BY_NAME = {loss.name: loss for loss in _LOSSES}
# Sigmoid methods first, then ASTra, each in loss order: the paper's column order
# (BCE, GMN without ASTra; BCE, GMN with ASTra).
_METHODS = tuple(Method(loss, astra) for astra in (False, True) for loss in _LOSSES)
_METHOD_BY_NAME = {m.name: m for m in _METHODS}


def losses():
    r"""Every registered :class:`Loss`, in display order."""
    return _LOSSES


def get_loss(name):
    r"""The :class:`Loss` called ``name``; ``ValueError`` naming the valid names otherwise."""
    if isinstance(name, str) and name in _BY_NAME:
        return _BY_NAME[name]
    raise ValueError(f"loss must be one of {list(_BY_NAME)}, got {name!r}")


def methods():
    r"""Every :class:`Method`, in column order (sigmoid methods, then ASTra methods)."""
    return _METHODS


def get_method(name):
    r"""The :class:`Method` called ``name``; ``ValueError`` naming the valid names otherwise."""
    if isinstance(name, str) and name in _METHOD_BY_NAME:
        return _METHOD_BY_NAME[name]
    raise ValueError(f"method must be one of {list(_METHOD_BY_NAME)}, got {name!r}")


def method_names():
    r"""Names of every method, in column order."""
    return [m.name for m in _METHODS]


def paper_method_names():
    r"""Names of the paper's methods (losses with ``in_paper``), in column order."""
    return [m.name for m in _METHODS if m.loss.in_paper]
