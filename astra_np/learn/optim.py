r"""Optimisers: Adam (the ``torch.optim.Adam`` variant) and the eta_b rule of Eq. 10.

Adam
----
Section 4.2 trains every model with Adam, :math:`\eta = 0.001` for the weights. The
variant implemented is PyTorch's ``torch.optim.Adam`` (no weight decay, no AMSGrad):
with gradient :math:`g_t` at step :math:`t = 1, 2, \ldots`,

.. math::

    m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\qquad
    v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,

    \theta_t = \theta_{t-1} - \frac{\eta}{1-\beta_1^t}\,
        \frac{m_t}{\sqrt{v_t}/\sqrt{1-\beta_2^t} + \epsilon},

that is :math:`\hat m_t/(\sqrt{\hat v_t} + \epsilon)` with the bias-corrected moments
and :math:`\epsilon` added *after* the square root and the bias correction (Keras
instead adds an :math:`\hat\epsilon` to :math:`\sqrt{v_t}` before the correction).
Defaults :math:`\beta_1 = 0.9`, :math:`\beta_2 = 0.999`, :math:`\epsilon = 10^{-8}`.
The operations are ordered as in PyTorch (``lerp`` for :math:`m`, ``addcmul`` for
:math:`v`, ``addcdiv`` for the step), so the two agree to a few ulps.

eta_b (Eq. 10)
--------------
The learning rate of the ASTra slope follows the train-set e-ratio
:math:`= FNR_{apx}/FPR_{apx}` (Eq. 11) once per epoch:

.. math::

    \eta_b \leftarrow \begin{cases}
        \min(k_{mult}\,\eta_b, \eta_{bmax}) & e\text{-ratio} > 1\\
        \max(k_{dec}\,\eta_b, \eta_{bmin}) & e\text{-ratio} < 1\\
        \eta_b & \text{otherwise}\end{cases}

with the paper's :math:`\eta_b = \eta_{bmin} = 0.01`, :math:`\eta_{bmax} = 0.5`,
:math:`k_{mult} = 1.1`, :math:`k_{dec} = 0.99` (:class:`EtaBRule`).
"""
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Adam", "adam_update", "EtaBRule", "eta_b_update"]


def _check_hyper(lr, betas, eps):
    beta1, beta2 = betas
    for name, v in (("beta1", beta1), ("beta2", beta2)):
        if not (isinstance(v, (int, float, np.floating)) and 0.0 <= float(v) < 1.0):
            raise ValueError(f"{name} must be in [0, 1), got {v!r}")
    if not (isinstance(eps, (int, float, np.floating)) and math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
    lr_arr = np.asarray(lr, dtype=np.float64)
    if not np.all(np.isfinite(lr_arr)) or np.any(lr_arr < 0):
        raise ValueError(f"lr must be finite and >= 0, got {lr!r}")
    return float(beta1), float(beta2), float(eps)


def adam_update(param, grad, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    r"""One Adam step as a pure function: returns ``(new_param, new_m, new_v)``.

    ``t`` is the 1-based number of this step; ``m`` and ``v`` are the moments after
    step ``t - 1`` (zeros before the first step). ``lr`` may be a scalar or an array
    broadcastable to ``param`` (one learning rate per entry). The readable reference
    for :class:`Adam`, which does the same in place with preallocated buffers.

    On the first step (``m = v = 0``, ``t = 1``) the update is
    :math:`-\eta\, g/(|g| + \epsilon)`:

    >>> p, m, v = adam_update(np.array([1.0, 1.0]), np.array([0.5, -2.0]), 0.0, 0.0, 1, lr=0.1)
    >>> np.round(p, 6).tolist()
    [0.9, 1.1]
    """
    beta1, beta2, eps = _check_hyper(lr, betas, eps)
    if int(t) < 1:
        raise ValueError(f"t must be >= 1, got {t!r}")
    param = np.asarray(param, dtype=np.float64)
    grad = np.asarray(grad, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    m = m + (1.0 - beta1) * (grad - m)  # torch: exp_avg.lerp_(grad, 1 - beta1)
    v = v * beta2 + ((1.0 - beta2) * grad) * grad  # exp_avg_sq.mul_(beta2).addcmul_(g, g, 1 - beta2)
    bias_correction1 = 1.0 - beta1 ** int(t)
    bias_correction2 = 1.0 - beta2 ** int(t)
    step_size = np.asarray(lr, dtype=np.float64) / bias_correction1
    denom = np.sqrt(v) / bias_correction2 ** 0.5 + eps
    return param - step_size * m / denom, m, v


class Adam:
    r"""Adam (``torch.optim.Adam`` variant, see the module docstring) for one flat vector.

    The state (moments ``m``, ``v`` and the step count ``t``) lives on the object;
    :meth:`step` updates the parameter vector in place using preallocated buffers
    (no temporaries per call). Several parameter groups with different learning
    rates, as the weights (:math:`\eta`) and beta (:math:`\eta_b`) of Section 4.2, are
    one vector with a per-entry ``lr`` array.

    Parameters
    ----------
    size : int
        Length of the parameter vector.
    lr : float or ndarray
        Default learning rate(s) (scalar or shape ``(size,)``).
    betas : (float, float)
    eps : float

    Examples
    --------
    >>> opt = Adam(2, lr=0.1)
    >>> p = np.array([1.0, 1.0])
    >>> opt.step(p, np.array([0.5, -2.0]))
    >>> np.round(p, 6).tolist()
    [0.9, 1.1]
    """

    def __init__(self, size, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        size = int(size)
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self.beta1, self.beta2, self.eps = _check_hyper(lr, betas, eps)
        self.lr = lr
        self.size = size
        self.m = np.zeros(size)
        self.v = np.zeros(size)
        self.t = 0
        self._a = np.empty(size)
        self._b = np.empty(size)

    def state(self):
        r"""Copy of the state: ``dict(m=..., v=..., t=...)``."""
        return {"m": self.m.copy(), "v": self.v.copy(), "t": self.t}

    def step(self, param, grad, lr=None):
        r"""One Adam step on ``param`` (float64 vector of length ``size``), in place.

        ``lr`` overrides the default learning rate(s) for this step.
        """
        lr = self.lr if lr is None else lr
        a, b = self._a, self._b
        self.t += 1
        t = self.t
        # m <- m + (1 - beta1) (g - m)
        np.subtract(grad, self.m, out=a)
        a *= 1.0 - self.beta1
        self.m += a
        # v <- beta2 v + ((1 - beta2) g) g
        self.v *= self.beta2
        np.multiply(grad, 1.0 - self.beta2, out=a)
        a *= grad
        self.v += a
        bias_correction1 = 1.0 - self.beta1 ** t
        bias_correction2_sqrt = (1.0 - self.beta2 ** t) ** 0.5
        # denom = sqrt(v) / sqrt(bc2) + eps
        np.sqrt(self.v, out=b)
        b /= bias_correction2_sqrt
        b += self.eps
        # param <- param - (lr / bc1) m / denom
        if np.ndim(lr) == 0:
            np.multiply(self.m, float(lr) / bias_correction1, out=a)
        else:
            np.divide(lr, bias_correction1, out=a)
            a *= self.m
        a /= b
        param -= a


@dataclass(frozen=True)
class EtaBRule:
    r"""The adaptive learning rate of beta, Eq. 10, with the paper's constants as defaults.

    Parameters
    ----------
    init : float
        Starting :math:`\eta_b` (paper: :math:`\eta_{bmin} = 0.01`).
    min, max : float
        Bounds :math:`\eta_{bmin} = 0.01`, :math:`\eta_{bmax} = 0.5`.
    k_mult, k_dec : float
        Growth factor when e-ratio > 1 (1.1) and decay factor when e-ratio < 1 (0.99).
    adaptive : bool
        ``False`` keeps :math:`\eta_b = ` ``init`` for the whole run (a fixed rate).
    """

    init: float = 0.01
    min: float = 0.01
    max: float = 0.5
    k_mult: float = 1.1
    k_dec: float = 0.99
    adaptive: bool = True

    def __post_init__(self):
        for name in ("init", "min", "max", "k_mult", "k_dec"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or not math.isfinite(v):
                raise ValueError(f"eta_b {name} must be a finite number, got {v!r}")
        if not self.min > 0:
            raise ValueError(f"eta_b min must be > 0, got {self.min!r}")
        if not self.min <= self.max:
            raise ValueError(f"eta_b min must be <= max, got min={self.min!r}, max={self.max!r}")
        if self.adaptive and not self.min <= self.init <= self.max:
            raise ValueError(
                f"eta_b init must lie in [min, max] = [{self.min!r}, {self.max!r}], got {self.init!r}"
            )
        if not self.init >= 0:
            raise ValueError(f"eta_b init must be >= 0, got {self.init!r}")
        if not self.k_mult >= 1:
            raise ValueError(f"k_mult must be >= 1, got {self.k_mult!r}")
        if not 0 < self.k_dec <= 1:
            raise ValueError(f"k_dec must be in (0, 1], got {self.k_dec!r}")

    @classmethod
    def fixed(cls, rate):
        r"""The rule that keeps :math:`\eta_b` = ``rate`` (>= 0) for the whole run."""
        bound = max(float(rate), 1e-300)
        return cls(init=float(rate), min=bound, max=bound, adaptive=False)

    def update(self, eta_b, log_e_ratio):
        r"""Next :math:`\eta_b` from the current one and :math:`\log(e\text{-ratio})` (Eq. 10).

        The log is used so that an e-ratio of 0 or inf (``-inf``/``inf``) is handled;
        NaN (e-ratio undefined) leaves :math:`\eta_b` unchanged, as does ``adaptive=False``.

        >>> rule = EtaBRule()
        >>> rule.update(0.01, 2.0), rule.update(0.01, -2.0), rule.update(0.5, 1.0)
        (0.011000000000000001, 0.01, 0.5)
        """
        if not self.adaptive:
            return float(eta_b)
        return _eq10(eta_b, log_e_ratio, 0.0, self.min, self.max, self.k_mult, self.k_dec)


def eta_b_update(eta_b, e_ratio, eta_b_min=0.01, eta_b_max=0.5, k_mult=1.1, k_dec=0.99):
    r"""Eq. 10 written as in the paper, on the e-ratio itself (not its log).

    >>> eta_b_update(0.01, 3.0), eta_b_update(0.02, 0.5), eta_b_update(0.02, 1.0)
    (0.011000000000000001, 0.0198, 0.02)
    """
    return _eq10(eta_b, e_ratio, 1.0, eta_b_min, eta_b_max, k_mult, k_dec)


def _eq10(eta_b, e, one, eta_b_min, eta_b_max, k_mult, k_dec):
    r"""Eq. 10, the one implementation: ``e`` is the e-ratio (``one = 1``) or its log
    (``one = 0``); NaN (undefined) leaves :math:`\eta_b` unchanged."""
    if e > one:
        return min(k_mult * eta_b, eta_b_max)
    if e < one:
        return max(k_dec * eta_b, eta_b_min)
    return float(eta_b)
