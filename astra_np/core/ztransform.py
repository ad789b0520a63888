r"""The z-transform of Eq. 6, which moves the crossing of a 0.5-pivoted loss to tau.

.. math::

    z(\hat y, \tau) = \frac{\hat y (1-\tau)}{\hat y (1-\tau) + (1-\hat y)\tau},
    \qquad \operatorname{logit} z = \operatorname{logit}\hat y - \operatorname{logit}\tau.

The logit form is what :func:`astra_np.core.losses.head_loss` uses; the functions here
work on the probability ``p`` = ``y_hat`` (the ASTra output) in ``[0, 1]``. Numerator and denominator are sums
and products of non-negative terms, so Eq. 6 evaluated as written has no cancellation:
its relative error is a few ulps for every ``p`` in ``[0, 1]`` (``z(0) = 0``,
``z(1) = 1``, ``z(tau) = 1/2``). See ``derivations/z_transform.md``.
"""
import numpy as np

from ._stable import unbroadcast
from ._validation import broadcast_pair, check_finite, check_probability, check_tau, finish

__all__ = ["z_transform", "z_transform_complement", "z_transform_partials", "z_transform_vjp"]


def _prepare(p, tau):
    p = check_probability(p)
    tau = check_tau(tau)
    p, tau = broadcast_pair("p", p, "tau", tau)
    a = p * (1.0 - tau)  # weight of the positive class
    c = (1.0 - p) * tau  # weight of the negative class
    return p, tau, a, c, a + c


def z_transform(p, tau):
    r"""Eq. 6: :math:`z = \hat y(1-\tau) / (\hat y(1-\tau) + (1-\hat y)\tau)`.

    Parameters
    ----------
    p : array_like
        ASTra output :math:`\hat y` in ``[0, 1]``.
    tau : array_like
        Threshold in ``(0, 0.5]`` (Eq. 5), broadcast against ``p``.

    Returns
    -------
    z : ndarray
        ``z`` and ``1 - z`` cross at ``p = tau`` (Fig. 3).

    Examples
    --------
    >>> float(z_transform(0.25, 0.25))
    0.5
    """
    _, _, a, _, d = _prepare(p, tau)
    return finish(a / d)


def z_transform_complement(p, tau):
    r""":math:`1 - z = (1-\hat y)\tau / D`, accurate when ``z`` is close to 1 (Eq. 6)."""
    _, _, _, c, d = _prepare(p, tau)
    return finish(c / d)


def z_transform_partials(p, tau):
    r"""Partials of Eq. 6: ``(dz_dp, dz_dtau)``.

    .. math::

        \frac{\partial z}{\partial \hat y} = \frac{\tau(1-\tau)}{D^2}, \qquad
        \frac{\partial z}{\partial \tau} = -\frac{\hat y(1-\hat y)}{D^2}, \qquad
        D = \hat y(1-\tau) + (1-\hat y)\tau .

    ``D >= min(tau, 1 - tau) > 0``, so both are finite; they are formed as
    ``(tau/D) * ((1-tau)/D)`` to avoid squaring a small ``D``. See
    ``derivations/z_transform.md``.
    """
    p, tau, _, _, d = _prepare(p, tau)
    dz_dp = (tau / d) * ((1.0 - tau) / d)
    dz_dtau = -(p / d) * ((1.0 - p) / d)
    return finish(dz_dp), finish(dz_dtau)


def z_transform_vjp(g, p, tau):
    r"""VJP of Eq. 6: ``(g * dz_dp, sum-to-shape(tau) of g * dz_dtau)``.

    ``tau`` may be a scalar broadcast against ``p``; its cotangent is summed back to
    ``tau``'s shape.
    """
    tau_shape = np.shape(tau)
    dz_dp, dz_dtau = z_transform_partials(p, tau)
    g = check_finite("g", g)
    if g.shape != np.shape(dz_dp):
        raise ValueError(f"g must have the output's shape {np.shape(dz_dp)}, got {g.shape}")
    return finish(g * dz_dp), finish(unbroadcast(g * dz_dtau, tau_shape))
