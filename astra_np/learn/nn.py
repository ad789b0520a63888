r"""The multilayer perceptron of Section 4.2: forward and hand-written backward.

Architecture (Section 4.2): inputs -> hidden layers of Leaky ReLU units (negative
slope 0.3; one layer of :math:`n_h = \lceil (n_x + n_y)/2 \rceil` units by default,
:math:`n_y = 1`) -> one output unit whose pre-activation ``x`` goes through the
output head of :func:`astra_np.core.losses.head_loss` (ASTra, Eq. 4, with the learnable
slope :math:`b = b(\beta)` of Eq. 7, then the z-transform of Eq. 6, then BCE or the
GMN loss of Eq. 9; or the plain sigmoid).

Everything here is a plain function of a :class:`MLPParams` value and arrays. The
forward pass returns its intermediate values explicitly (a :class:`ForwardCache`)
and the backward pass takes them as an argument: nothing is stored between the two
calls, so the code reads as the chain rule, line by line::

    a_0 = X                                   (n, n_x)
    z_l = a_{l-1} W_l^T + c_l                 hidden pre-activations, l = 1..L
    a_l = leaky_relu(z_l)
    x   = a_L w_out^T + c_out                 output pre-activation, shape (n,)

    backward, from g = dJ/dx (head_loss):
    dW_out = g^T a_L,  dc_out = sum(g),  da_L = g w_out
    dz_l = da_l * leaky_relu'(z_l),  dW_l = dz_l^T a_{l-1},  dc_l = sum_rows(dz_l),
    da_{l-1} = dz_l W_l

Weights follow the ``(n_out, n_in)`` convention of ``torch.nn.Linear``.
:mod:`astra_np.learn.kernel` computes the same loss and gradients with a fused kernel for
speed; its tests compare it with the functions here.
"""
import math
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np

from ..core._validation import SIZE_LIMITS, check_features, check_features_and_labels, check_size, is_integer
from ..core.activation import beta_from_slope, slope_for_threshold
from ..core.count_losses import log_counts
from ..core.losses import head_logits, head_loss
from ..core.registry import DEFAULT_METHOD, get_method

__all__ = [
    "LEAKY_SLOPE",
    "MLPParams",
    "ForwardCache",
    "default_hidden_sizes",
    "initial_beta",
    "init_params",
    "leaky_relu",
    "leaky_relu_grad",
    "forward",
    "backward",
    "loss_and_grad",
    "method_flags",
    "ApproxCounts",
    "log_e_ratio_from_counts",
    "EpochTerms",
    "TrainingPath",
    "ReferencePath",
]

#: Negative slope of the hidden Leaky ReLU units (Section 4.2).
LEAKY_SLOPE = 0.3


def method_flags(method):
    r"""The :func:`~astra_np.core.losses.head_loss` keywords of ``method`` (a new dict).

    From :func:`astra_np.core.registry.get_method`, which raises ``ValueError`` naming
    the method and the valid names when it is unknown.
    """
    return get_method(method).head_kwargs()


@dataclass(frozen=True, eq=False)
class MLPParams:
    r"""Parameters of the network: weights, biases and the ASTra parameter beta.

    Attributes
    ----------
    weights : tuple of ndarray
        ``weights[l]`` has shape ``(n_out, n_in)``; the last one is the output layer,
        shape ``(1, n_h)``.
    biases : tuple of ndarray
        ``biases[l]`` has shape ``(n_out,)``.
    beta : float
        Unconstrained slope parameter of the output (Eq. 7, :math:`b = b(\beta)`).
        Unused (and not trained) by the plain-sigmoid methods ``"bce"`` and ``"gmn"``.

    The same type holds gradients (``beta`` then is :math:`\partial J/\partial\beta`).
    The value is immutable; the arrays are not copied, so treat them as read-only
    or use :meth:`copy`.
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    beta: float

    @property
    def layer_sizes(self):
        r"""``(n_x, n_h1, ..., 1)``: the width of every layer, inputs first."""
        return (self.weights[0].shape[1],) + tuple(W.shape[0] for W in self.weights)

    @property
    def size(self):
        r"""Total number of scalars, beta included."""
        return sum(W.size + c.size for W, c in zip(self.weights, self.biases)) + 1

    def copy(self):
        r"""A deep copy (new arrays)."""
        return MLPParams(
            tuple(W.copy() for W in self.weights), tuple(c.copy() for c in self.biases), float(self.beta)
        )

    def to_vector(self):
        r"""Flatten to one float64 vector: for each layer ``[W | c]`` row by row, then beta.

        Each layer is stored as its augmented matrix ``[W, c[:, None]]`` (bias as the last
        column) in C order; this is the layout of :mod:`astra_np.learn.kernel` and of saved models.
        """
        parts = [np.concatenate([W, c[:, None]], axis=1).ravel() for W, c in zip(self.weights, self.biases)]
        parts.append(np.array([self.beta], dtype=np.float64))
        return np.concatenate(parts).astype(np.float64, copy=False)

    @classmethod
    def from_vector(cls, vector, layer_sizes):
        r"""Inverse of :meth:`to_vector` for the given ``layer_sizes`` (``(n_x, ..., 1)``)."""
        vector = np.asarray(vector, dtype=np.float64)
        sizes = tuple(int(s) for s in layer_sizes)
        need = sum((sizes[i] + 1) * sizes[i + 1] for i in range(len(sizes) - 1)) + 1
        if vector.ndim != 1 or vector.size != need:
            raise ValueError(
                f"vector must be 1-D with {need} entries for layer_sizes {sizes}, got shape {vector.shape}"
            )
        weights, biases, k = [], [], 0
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            block = vector[k:k + n_out * (n_in + 1)].reshape(n_out, n_in + 1)
            weights.append(block[:, :n_in].copy())
            biases.append(block[:, n_in].copy())
            k += n_out * (n_in + 1)
        return cls(tuple(weights), tuple(biases), float(vector[k]))

    def allclose(self, other, rtol, atol):
        r"""True when every array and beta agree with ``other`` within ``rtol``/``atol``."""
        return (
            len(self.weights) == len(other.weights)
            and all(np.allclose(a, b, rtol=rtol, atol=atol) for a, b in zip(self.weights, other.weights))
            and all(np.allclose(a, b, rtol=rtol, atol=atol) for a, b in zip(self.biases, other.biases))
            and bool(np.isclose(self.beta, other.beta, rtol=rtol, atol=atol))
        )


class ForwardCache(NamedTuple):
    r"""Intermediate values of :func:`forward`, passed explicitly to :func:`backward`.

    ``inputs[l]`` is the input of layer ``l`` (``inputs[0] = X``), ``preacts[l]`` the
    pre-activation of hidden layer ``l``.
    """

    inputs: tuple[np.ndarray, ...]
    preacts: tuple[np.ndarray, ...]


def default_hidden_sizes(n_features):
    r"""The paper's hidden layer: one layer of :math:`\lceil (n_x + 1)/2 \rceil` units.

    Section 4.2, :math:`n_h = \lceil (n_x + n_y)/2 \rceil` with :math:`n_y = 1`.

    >>> default_hidden_sizes(8), default_hidden_sizes(3), default_hidden_sizes(22)
    ((5,), (2,), (12,))
    """
    n_features = int(n_features)
    if n_features < 1:
        raise ValueError(f"n_features must be >= 1, got {n_features}")
    return (int(math.ceil((n_features + 1) / 2)),)


def initial_beta(tau_init=0.25):
    r"""The beta whose slope has threshold ``tau_init``: ``beta_from_slope(slope_for_threshold(tau_init))``.

    For the paper's :math:`\tau_{init} = 0.25`, :math:`b = 7.3963\ldots` and
    :math:`\beta = b - 2` (the linear branch of Eq. 7, which the paper recommends
    starting in so that the threshold can move quickly). ``tau_init`` must lie in
    ``(0, 0.5)``; thresholds above :math:`\tau(2) = 1 - 3^{-1/2} \approx 0.4226` start
    in the exponential branch :math:`\beta = \log(b - 1)`.

    >>> round(initial_beta(0.25), 10)
    5.3963487604
    """
    tau = float(tau_init)
    if not (0.0 < tau < 0.5):
        raise ValueError(f"tau_init must be in (0, 0.5) (b > 1), got {tau_init!r}")
    b = float(slope_for_threshold(tau))
    return float(beta_from_slope(b))


def _check_sizes(hidden_layer_sizes, n_features):
    if hidden_layer_sizes is None:
        return default_hidden_sizes(n_features)
    if is_integer(hidden_layer_sizes):
        hidden_layer_sizes = (hidden_layer_sizes,)
    try:
        sizes = tuple(hidden_layer_sizes)
    except TypeError:
        raise ValueError(
            f"hidden_layer_sizes must be None, an int or a sequence of ints, got {hidden_layer_sizes!r}"
        ) from None
    if len(sizes) == 0 or any(
        not is_integer(s) or s < 1 for s in sizes
    ):
        raise ValueError(f"hidden_layer_sizes must be positive integers, got {hidden_layer_sizes!r}")
    if len(sizes) > SIZE_LIMITS["hidden_layers"]:
        raise ValueError(f"hidden_layer_sizes: at most {SIZE_LIMITS['hidden_layers']} hidden layers, "
                         f"got {len(sizes)}")
    return tuple(check_size("hidden_layer_sizes", s, "hidden_units") for s in sizes)


def check_network_size(n_rows, n_features, hidden_layer_sizes):
    r"""Refuse, before anything is allocated, a network whose training needs more than
    ``SIZE_LIMITS["network_entries"]`` float64 entries (rows x hidden units + parameters)."""
    sizes = (n_features,) + _check_sizes(hidden_layer_sizes, n_features) + (1,)
    n_params = sum((n_in + 1) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    entries = n_rows * sum(sizes[1:]) + n_params
    limit = SIZE_LIMITS["network_entries"]
    if entries > limit:
        raise ValueError(f"hidden_layer_sizes={sizes[1:-1]!r}: training {n_rows} rows of {n_features} "
                         f"features needs {entries} float64 entries (rows x units + parameters), more "
                         f"than the limit {limit}; use fewer hidden units")


def init_params(n_features, hidden_layer_sizes=None, tau_init=0.25, random_state=None):
    r"""Initial parameters: He (hidden layers), Glorot (output), zero biases (Section 4.2).

    * hidden layer ``l``: :math:`W_l \sim \mathcal N(0, 2/n_{in})` (He et al., 2015,
      normal form);
    * output layer: :math:`W \sim \mathcal U(-r, r)`, :math:`r = \sqrt{6/(n_{in} + 1)}`
      (Glorot and Bengio, 2010, uniform form: the Keras default);
    * biases 0; ``beta = initial_beta(tau_init)`` (:math:`\tau_{init} = 0.25`, Section 3.1).

    The draws come from ``np.random.default_rng(random_state)``, layer by layer, so a
    seed fixes every bit.

    Parameters
    ----------
    n_features : int
    hidden_layer_sizes : None, int or sequence of int
        ``None``: :func:`default_hidden_sizes`.
    tau_init : float
        Initial threshold, in ``(0, 0.5)``.
    random_state : None, int or numpy.random.Generator
    """
    n_features = int(n_features)
    if n_features < 1:
        raise ValueError(f"n_features must be >= 1, got {n_features}")
    sizes = (n_features,) + _check_sizes(hidden_layer_sizes, n_features) + (1,)
    beta = initial_beta(tau_init)
    rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
    weights, biases = [], []
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
        weights.append(rng.standard_normal((n_out, n_in)) * math.sqrt(2.0 / n_in))
        biases.append(np.zeros(n_out))
    n_in = sizes[-2]
    r = math.sqrt(6.0 / (n_in + 1))
    weights.append(rng.uniform(-r, r, size=(1, n_in)))
    biases.append(np.zeros(1))
    return MLPParams(tuple(weights), tuple(biases), beta)


def leaky_relu(z, slope=LEAKY_SLOPE):
    r"""Leaky ReLU: ``z`` for ``z > 0``, ``slope * z`` otherwise."""
    z = np.asarray(z, dtype=np.float64)
    return np.where(z > 0, z, slope * z)


def leaky_relu_grad(z, slope=LEAKY_SLOPE):
    r"""Derivative of :func:`leaky_relu`: 1 for ``z > 0``, ``slope`` otherwise (``slope`` at 0)."""
    z = np.asarray(z, dtype=np.float64)
    return np.where(z > 0, 1.0, slope)


def _check_params(params):
    if not isinstance(params, MLPParams):
        raise ValueError(f"params must be an MLPParams, got {type(params).__name__}")


def _check_X(X, n_features):
    return check_features("X", X, n_features)


def forward(params, X):
    r"""Output pre-activations ``x`` (shape ``(n,)``) and the :class:`ForwardCache`.

    The head (ASTra, z, loss) is not applied here: see :func:`astra_np.core.losses.head_loss`
    and :func:`astra_np.core.losses.head_logits`.
    """
    _check_params(params)
    return _forward(params, _check_X(X, params.layer_sizes[0]))


def _forward(params, X):
    r""":func:`forward` of checked parameters and rows (float64 ``X`` of the right width)."""
    inputs, preacts = [X], []
    a = X
    for W, c in zip(params.weights[:-1], params.biases[:-1]):
        z = a @ W.T + c
        preacts.append(z)
        a = leaky_relu(z)
        inputs.append(a)
    x = a @ params.weights[-1][0] + params.biases[-1][0]
    return x, ForwardCache(tuple(inputs), tuple(preacts))


def backward(params, cache, dL_dx, dL_dbeta=0.0):
    r"""Gradients of the loss in every parameter, from ``dL_dx`` (shape ``(n,)``).

    ``dL_dbeta`` (from :func:`~astra_np.core.losses.head_loss`) is passed through into the
    ``beta`` field of the returned :class:`MLPParams`.
    """
    _check_params(params)
    g = np.asarray(dL_dx, dtype=np.float64)
    a = cache.inputs[-1]
    if g.shape != (a.shape[0],):
        raise ValueError(f"dL_dx must have shape ({a.shape[0]},), got {g.shape}")
    gW = [None] * len(params.weights)
    gc = [None] * len(params.weights)
    gW[-1] = (g @ a)[None, :]
    gc[-1] = np.array([g.sum()])
    da = np.outer(g, params.weights[-1][0])
    for l in range(len(params.weights) - 2, -1, -1):
        dz = da * leaky_relu_grad(cache.preacts[l])
        gW[l] = dz.T @ cache.inputs[l]
        gc[l] = dz.sum(axis=0)
        if l > 0:
            da = dz @ params.weights[l]
    return MLPParams(tuple(gW), tuple(gc), float(dL_dbeta))


def loss_and_grad(params, X, y, method=DEFAULT_METHOD):
    r"""Total loss of the network on ``(X, y)`` and its gradient in every parameter.

    The reference path: :func:`forward`, :func:`astra_np.core.losses.head_loss` for the
    method's head (:data:`astra_np.core.losses.METHODS`), then :func:`backward`. For the
    plain-sigmoid methods the ``beta`` gradient is 0.

    Returns
    -------
    loss : float
    grads : MLPParams
    """
    flags = method_flags(method)
    x, cache = forward(params, X)
    loss, g_x, g_beta = head_loss(x, params.beta, y, **flags)
    return loss, backward(params, cache, g_x, g_beta)


# ---------------------------------------------------------------------------
# The training path: one epoch's loss, gradient and approximated counts
# ---------------------------------------------------------------------------


class ApproxCounts(tuple):
    r"""``(TN, FP, FN, TP, m0, m1)`` of the approximated confusion matrix (Eq. 8)."""

    __slots__ = ()

    def __new__(cls, tn, fp, fn, tp, m0, m1):
        return tuple.__new__(cls, (tn, fp, fn, tp, m0, m1))

    @classmethod
    def from_logits(cls, logit, pos):
        r"""The counts of Eq. 8 from the logits of the loss's input and a boolean positive mask.

        Each count is ``exp`` of :func:`astra_np.core.count_losses.log_counts`: finite when every output
        saturates; an empty class gives 0.
        """
        log_tn, log_fp, log_fn, log_tp = log_counts(logit, pos)
        m1 = int(np.count_nonzero(pos))
        return cls(math.exp(log_tn), math.exp(log_fp), math.exp(log_fn), math.exp(log_tp), pos.size - m1, m1)

    def fnr(self):
        r""":math:`FNR_{apx} = FN_{apx}/m_1`."""
        return self[2] / self[5]

    def mcc(self):
        r"""Approximated MCC (Eq. 2 on Eq. 8); 0 when a marginal is empty."""
        tn, fp, fn, tp = self[:4]
        den = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
        if not den > 0:
            return 0.0
        return (tp * tn - fp * fn) / math.sqrt(den)

    def g_mean(self):
        r"""Approximated G-Mean (Eq. 3 on Eq. 8)."""
        tn, fp, fn, tp, m0, m1 = self
        return math.sqrt(max(tn, 0.0) / m0) * math.sqrt(max(tp, 0.0) / m1)


def log_e_ratio_from_counts(log_fn, log_fp, m1, m0):
    r"""Natural log of the e-ratio (Eq. 11), :math:`\log(FN_{apx}/m_1) - \log(FP_{apx}/m_0)`.

    NaN when both counts are 0 (the e-ratio is 0/0; Eq. 10 then keeps :math:`\eta_b`).
    """
    if math.isinf(log_fn) and math.isinf(log_fp):
        return math.nan
    return (log_fn - math.log(m1)) - (log_fp - math.log(m0))


class EpochTerms(NamedTuple):
    r"""What one evaluation of a :class:`TrainingPath` returns besides the gradient.

    Attributes
    ----------
    loss : float
        The method's loss on the rows.
    log_fn, log_fp : float
        Natural logs of :math:`FN_{apx}` and :math:`FP_{apx}` (Eq. 8) of the same
        forward pass, in the path's ``metrics_on`` space (``-inf`` for 0).
    fallback : bool
        True when the fused kernel handed this evaluation to the reference path
        (:class:`astra_np.learn.kernel.EpochKernel` names the one case).
    """

    loss: float
    log_fn: float
    log_fp: float
    fallback: bool = False


class TrainingPath(Protocol):
    r"""The interface between the trainer and the forward/backward of one set of rows.

    Implemented by :class:`ReferencePath` (readable) and
    :class:`astra_np.learn.kernel.EpochKernel` (fused); both hold fixed rows and a
    method, and keep nothing between calls that a caller could read.
    """

    def loss_and_grad(self, theta, grad) -> EpochTerms:
        r"""Loss at the flat parameter vector ``theta``; writes its gradient into ``grad``."""

    def counts(self, theta) -> ApproxCounts:
        r"""Approximated confusion counts (Eq. 8) of the rows at ``theta``."""


class ReferencePath:
    r"""The :class:`TrainingPath` of the reference functions: :func:`loss_and_grad` and
    :func:`astra_np.core.losses.head_logits`.

    Parameters
    ----------
    X, y : arrays
        The rows (checked by :func:`forward` and :func:`astra_np.core.losses.head_loss`).
    layer_sizes : tuple of int
    method : str
    metrics_on : {"z", "output"}
        Space of the counts, as in :func:`astra_np.learn.train.train`.
    """

    def __init__(self, X, y, layer_sizes, method=DEFAULT_METHOD, metrics_on="z"):
        X, y = check_features_and_labels("X", X, "y", y)
        entry = get_method(method)
        if metrics_on not in ("z", "output"):
            raise ValueError(f"metrics_on must be 'z' or 'output', got {metrics_on!r}")
        self._build(X, y, layer_sizes, entry, metrics_on)

    @classmethod
    def from_checked(cls, X, y, layer_sizes, method, metrics_on="z"):
        r"""The path of rows and options checked by the caller (the trainer checks them once).

        ``X`` float64, finite, shape ``(n, n_x)``; ``y`` 0/1 of shape ``(n,)``; ``method`` a
        registry :class:`astra_np.core.registry.Method`. Nothing of them is checked again.
        """
        path = cls.__new__(cls)
        path._build(X, y, layer_sizes, method, metrics_on)
        return path

    def _build(self, X, y, layer_sizes, entry, metrics_on):
        self.X, self.y = X, np.asarray(y, dtype=np.float64)
        self.pos = self.y == 1
        self.layer_sizes, self.method = tuple(layer_sizes), entry
        self.astra = entry.astra
        self.metrics_z = entry.z and metrics_on == "z"
        self.head_kwargs = entry.head_kwargs()
        if self.layer_sizes[0] != X.shape[1]:
            raise ValueError(f"layer_sizes {self.layer_sizes} do not fit X of shape {X.shape}")

    def _logits(self, params, x=None):
        r"""The logits the metrics see, from the output pre-activations ``x`` (computed
        here when not given)."""
        if x is None:
            x, _ = _forward(params, self.X)
        return head_logits(x, params.beta, astra=self.astra, z=self.metrics_z)

    def loss_and_grad(self, theta, grad):
        r""":func:`loss_and_grad` (:func:`forward`, :func:`astra_np.core.losses.head_loss`,
        :func:`backward`) at ``theta``, with the method resolved once."""
        params = MLPParams.from_vector(theta, self.layer_sizes)
        x, cache = _forward(params, self.X)
        loss, g_x, g_beta = head_loss(x, params.beta, self.y, **self.head_kwargs)
        grad[:] = backward(params, cache, g_x, g_beta).to_vector()
        _, log_fp, log_fn, _ = log_counts(self._logits(params, x), self.pos)
        return EpochTerms(loss, log_fn, log_fp)

    def counts(self, theta):
        return ApproxCounts.from_logits(self._logits(MLPParams.from_vector(theta, self.layer_sizes)), self.pos)
