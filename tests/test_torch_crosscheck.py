"""Cross-check against PyTorch autograd and torch.optim.Adam (skipped without torch).

The torch side is written independently from the formulas of the paper (Eq. 4-7, 9, and
the soft F1 / MCC losses on Eq. 8),
in their stable forms (softplus as logaddexp, expm1/log1p), and differentiated by
autograd; the NumPy side is the hand-written backward (reference and fused kernel).
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from astra_np.core.losses import METHODS  # noqa: E402
from astra_np.learn import nn  # noqa: E402
from astra_np.learn.kernel import fast_loss_and_grad  # noqa: E402
from astra_np.learn.optim import Adam  # noqa: E402

METHOD_NAMES = sorted(METHODS)


def _torch_loss(tensors, beta, X, y, method, slope=0.3):
    flags = METHODS[method]
    a = X
    n_layers = len(tensors) // 2
    for i in range(n_layers):
        W, c = tensors[2 * i], tensors[2 * i + 1]
        z = a @ W.T + c
        a = torch.where(z > 0, z, slope * z) if i < n_layers - 1 else z
    x = a[:, 0]
    zero = torch.zeros((), dtype=torch.float64)
    if flags["astra"]:
        b = torch.where(beta > 0, 2.0 + beta, 1.0 + torch.exp(torch.clamp(beta, max=0.0)))  # Eq. 7
        log_b = torch.log(b)
        s = torch.logaddexp(zero, b * x + log_b) / b  # log(1 + b e^{bx}) / b, Eq. 4: 1 - y = e^-s
        s0 = torch.log1p(b) / b  # Eq. 5 at x = 0
        logit = torch.log(torch.expm1(s)) - torch.log(torch.expm1(s0))  # logit z, Eq. 6
    else:
        logit = x
    if flags["loss"] == "bce":
        return torch.mean(y * torch.logaddexp(zero, -logit) + (1 - y) * torch.logaddexp(zero, logit))
    p = torch.sigmoid(logit)
    counts = (torch.sum((1 - p) * (1 - y)), torch.sum(p * (1 - y)), torch.sum((1 - p) * y), torch.sum(p * y))
    return _TORCH_COUNT_LOSSES[flags["loss"]](*counts, y.numel() - torch.sum(y), torch.sum(y))


def _gmn(tn, fp, fn, tp, m0, m1):
    return 1 - torch.sqrt(tn * tp / (m0 * m1))  # Eq. 9


def _f1(tn, fp, fn, tp, m0, m1):
    return 1 - 2 * tp / (2 * tp + fp + fn)


def _mcc(tn, fp, fn, tp, m0, m1):
    return 1 - (tp * tn - fp * fn) / torch.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))  # Eq. 2


#: The count-based losses, written from their definitions (Eq. 8 counts).
_TORCH_COUNT_LOSSES = {"gmn": _gmn, "f1": _f1, "mcc": _mcc}


def _case(seed, hidden):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((64, 5))
    y = np.zeros(64)
    y[rng.choice(64, 6, replace=False)] = 1
    p0 = nn.init_params(5, hidden, random_state=seed)
    p = nn.MLPParams(p0.weights, tuple(0.2 * rng.standard_normal(c.shape) for c in p0.biases), 3.1)
    return X, y, p


@pytest.mark.parametrize("method", METHOD_NAMES)
@pytest.mark.parametrize("hidden", [(3,), (4, 3)])
def test_gradients_agree_with_autograd(method, hidden):
    X, y, p = _case(4, hidden)
    tensors = []
    for W, c in zip(p.weights, p.biases):
        tensors += [torch.tensor(W, dtype=torch.float64, requires_grad=True),
                    torch.tensor(c, dtype=torch.float64, requires_grad=True)]
    beta = torch.tensor(p.beta, dtype=torch.float64, requires_grad=True)
    loss = _torch_loss(tensors, beta, torch.tensor(X), torch.tensor(y), method)
    loss.backward()
    torch_grads = [t.grad.numpy() for t in tensors]
    torch_beta = 0.0 if beta.grad is None else float(beta.grad)
    for L, g in (nn.loss_and_grad(p, X, y, method), fast_loss_and_grad(p, X, y, method)):
        # 1e-10 relative (the required agreement); the torch formulas are accurate for these
        # moderate pre-activations (|b x| < 30). Arrays are compared relative to their
        # largest entry (sums of per-row terms of both signs).
        assert L == pytest.approx(loss.item(), rel=1e-12, abs=0)
        ours = [a for pair in zip(g.weights, g.biases) for a in pair]
        for a, t in zip(ours, torch_grads):
            np.testing.assert_allclose(a, t, rtol=1e-10, atol=1e-10 * np.max(np.abs(t)))
        assert g.beta == pytest.approx(torch_beta, rel=1e-10, abs=1e-14)


def _torch_adam_run(p0, grads, lr_w, lr_b, n_w):
    w = torch.tensor(p0[:n_w].copy(), dtype=torch.float64, requires_grad=True)
    b = torch.tensor(p0[n_w:].copy(), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([{"params": [w], "lr": lr_w}, {"params": [b], "lr": lr_b}], foreach=False)
    out = []
    for g in grads:
        w.grad = torch.tensor(g[:n_w], dtype=torch.float64)
        b.grad = torch.tensor(g[n_w:], dtype=torch.float64)
        opt.step()
        out.append(np.concatenate([w.detach().numpy(), b.detach().numpy()]))
    return out


def test_adam_steps_agree_with_torch():
    rng = np.random.default_rng(0)
    n_w = 7
    p0 = rng.standard_normal(n_w + 1)
    grads = [rng.standard_normal(n_w + 1) * 10.0 ** rng.integers(-4, 2) for _ in range(30)]
    ref = _torch_adam_run(p0, grads, 1e-3, 0.2, n_w)
    lr = np.full(n_w + 1, 1e-3)
    lr[-1] = 0.2  # beta's group, eta_b
    opt = Adam(n_w + 1)
    p = p0.copy()
    for k, (g, r) in enumerate(zip(grads, ref)):
        opt.step(p, g, lr)
        if k == 0:
            # one step: same operations in the same order as torch's single-tensor Adam
            np.testing.assert_allclose(p, r, rtol=2e-16, atol=0)
        # 30 steps: a few ulps per step at most
        np.testing.assert_allclose(p, r, rtol=1e-14, atol=1e-15)


def test_one_training_step_agrees_with_torch():
    # gradient from our backward, one Adam step each, same weights afterwards
    X, y, p = _case(1, (3,))
    _, g = nn.loss_and_grad(p, X, y, "gmn-astra")
    theta = p.to_vector()
    grad = g.to_vector()
    ref = _torch_adam_run(theta, [grad], 1e-3, 0.01, theta.size - 1)[0]
    lr = np.full(theta.size, 1e-3)
    lr[-1] = 0.01
    Adam(theta.size).step(theta, grad, lr)
    np.testing.assert_allclose(theta, ref, rtol=2e-16, atol=0)  # identical operation order
