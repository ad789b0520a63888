r"""astra_np: reference NumPy implementation of ASTra and the GMN loss (and, on the same
approximated confusion matrix, soft F1 and soft MCC losses).

ASTra (Asymmetric Sigmoid Transfer, Eq. 4 of the paper) is a learnable output
activation whose threshold tau(b) (Eq. 5) moves below 0.5 so that a rare positive
class gets more of the output range; the GMN loss (Eq. 9) is one minus the G-Mean of
the approximated confusion matrix (Eq. 8). Every value and gradient here is derived
by hand (see ``derivations/``) and computed in logit/log space so that it is finite
and accurate in the tails.

Layers
------
core    the formulas: :mod:`astra_np.core.activation` (Eq. 4, 5, 7),
        :mod:`astra_np.core.ztransform` (Eq. 6), :mod:`astra_np.core.losses` (Eq. 8, 9),
        :mod:`astra_np.core.metrics` (Eq. 1-3, 11) and :mod:`astra_np.core.registry`
        (every loss and method; :func:`register_count_loss` adds your own loss on the
        approximated matrix, checked against its definition)
learn   the MLP, Adam, the eta_b rule (Eq. 10), the fused kernel, the trainer,
        ``ASTraClassifier``
study   data, splits, the results store, the protocol runner, the report, the figures
check   the mpmath reference, complex-step forms, the gradient checker, the reference
        vectors and ``validate``
cli     ``python -m astra_np COMMAND``

Every public function and class is importable from ``astra_np`` itself.
"""
from ._version import __version__
from .check.gradcheck import GradcheckResult, assert_gradient, check_gradient
from .check.vectors import validate
from .core.activation import (
    astra,
    astra_complement,
    astra_logit,
    astra_logit_partials,
    astra_partials,
    astra_vjp,
    beta_from_slope,
    slope_for_threshold,
    slope_for_threshold_grad,
    slope_from_beta,
    slope_from_beta_grad,
    threshold,
    threshold_grad,
    threshold_logit,
    threshold_logit_grad,
)
from .core.count_losses import (
    LogCounts,
    count_loss_with_logits,
    f1_definition,
    f1_from_counts,
    f1_log_form,
    f1_with_logits_value_and_grad,
    gmn_definition,
    gmn_log_form,
    log_counts_from_logits,
    mcc_definition,
    mcc_from_counts,
    mcc_log_form,
    mcc_with_logits_value_and_grad,
)
from .core.losses import (
    METHODS,
    approx_confusion,
    bce,
    bce_grad,
    bce_with_logits,
    bce_with_logits_grad,
    bce_with_logits_value_and_grad,
    gmn,
    gmn_from_counts,
    gmn_grad,
    gmn_with_logits,
    gmn_with_logits_value_and_grad,
    head_logits,
    head_loss,
)
from .core.metrics import (
    approx_fnr_from_logits,
    approx_g_mean,
    approx_mcc,
    approx_metrics_from_logits,
    approx_rates,
    confusion_matrix,
    e_ratio,
    g_mean,
    log_approx_confusion,
    log_e_ratio,
    mcc,
    rates,
)
from .core.plugins import load_entry_points, load_plugins
from .core.registry import Loss, Method, get_loss, get_method, losses, method_names, methods, register_count_loss
from .core.ztransform import z_transform, z_transform_complement, z_transform_partials, z_transform_vjp
from .learn.estimator import ASTraClassifier, NotFittedError, TrainingStoppedWarning
from .learn.nn import MLPParams, backward, default_hidden_sizes, forward, init_params, loss_and_grad
from .learn.optim import Adam, EtaBRule, adam_update
from .learn.train import TrainResult, train
from .study.data import load_dataset, undersample_minority
from .study.datasets import make_imbalanced
from .study.protocol import run_experiment
from .study.report import summarize, write_report
from .study.selection import select_architecture
from .study.splits import CVSplits, load_splits, make_splits
from .study.store import ResultsStore

__all__ = [name for name in dir() if not name.startswith("_")]
