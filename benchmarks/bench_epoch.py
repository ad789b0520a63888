r"""Per-epoch training time of astra_np against PyTorch eager float64 and a NumPy floor.

The paper's network for cod-rna (n_x = 8, one hidden layer of n_h = 5 Leaky ReLU units,
one output) is trained full batch on 12,000 rows with a 4,000-row validation set, for
each of the four methods. Every contender does the same work per epoch: forward pass,
loss, backward pass, Adam step (weights at 0.001, beta at eta_b), the train-set
e-ratio and the eta_b rule (Eq. 10, 11), and the validation monitor FNR_apx with
best-on-validation bookkeeping. FNR_apx depends on the positive validation rows only,
and both astra_np and the PyTorch loop evaluate just those.

Columns (milliseconds per epoch, best of ``--repeats`` runs):

* ``astra_np``  -- :func:`astra_np.learn.train.train` (fused kernel, the default);
* ``reference`` -- the same trainer on the readable reference path (``fast=False``);
* ``torch``     -- PyTorch eager float64 with autograd and ``torch.optim.Adam``, at its
  default intra-op thread count, and again with one thread;
* ``sklearn``   -- scikit-learn's ``MLPClassifier`` (logistic units, log-loss, Adam,
  full batch), the nearest thing it offers (no Leaky ReLU, no ASTra, no validation);
* ``floor``     -- the bare NumPy operations an epoch cannot avoid: the four matrix
  products of forward and backward, the validation product, and the transcendental
  passes of the head (``exp``, ``log1p``, ``expm1`` for ASTra, ``log1p`` for the BCE
  loss), all with ``out=`` into preallocated arrays.

Ratios: ``torch/astra_np`` (PyTorch at its default threads; target >= 3),
``best-torch/ours`` (the faster of the two PyTorch runs) and ``astra_np/floor``
(target <= 2). Run on a quiet machine: shared cores make every column noisy.

Run: ``python benchmarks/bench_epoch.py [--epochs 300] [--repeats 3]``. astra_np trains
with one BLAS thread (its default, see :func:`astra_np.learn.train.train`); the floor is
measured the same way.
"""
import argparse
import contextlib
import math
import os
import platform
import time
import warnings

import numpy as np

from astra_np.learn import nn
from astra_np.study.datasets import make_imbalanced
from astra_np.core.losses import METHODS
from astra_np.learn.train import train

METHOD_NAMES = ["bce", "gmn", "bce-astra", "gmn-astra"]


def make_data(seed=0):
    r"""16,000 rows, 8 features, 21 positives (IR ~ 761, like cod-763); stratified 12,000/4,000."""
    X, y = make_imbalanced(n_samples=16000, n_features=8, n_positives=21, random_state=seed)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    rng = np.random.default_rng(seed)
    pos, neg = rng.permutation(np.flatnonzero(y == 1)), rng.permutation(np.flatnonzero(y == 0))
    val = np.concatenate([pos[:5], neg[:3995]])
    tr = np.setdiff1d(np.arange(y.size), val)
    return X[tr], y[tr], X[val], y[val]


def best_of(fn, repeats):
    return min(fn() for _ in range(repeats))


def seconds_per_call(fn, calls, warmup=5):
    """Mean wall time of ``fn()`` over ``calls`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    t = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t) / calls


def blas_one_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


# ---------------------------------------------------------------------------- astra_np


def time_astra_np(data, method, epochs, fast=True):
    X, y, Xv, yv = data
    train(X, y, Xv, yv, method=method, epochs=5, random_state=0, fast=fast)  # warm up
    t = time.perf_counter()
    train(X, y, Xv, yv, method=method, epochs=epochs, random_state=0, fast=fast)
    return (time.perf_counter() - t) / epochs


# ---------------------------------------------------------------------------- floor


def time_floor(data, method, epochs):
    r"""The unavoidable NumPy work of one epoch, with preallocated outputs."""
    X, y, Xv, yv = data
    n, d = X.shape
    h = nn.default_hidden_sizes(d)[0]
    rng = np.random.default_rng(0)
    Xa = np.vstack([X.T, np.ones((1, n))])
    Xpos = np.vstack([Xv[yv == 1].T, np.ones((1, int(yv.sum())))])
    W1 = rng.standard_normal((h, d + 1)) * 0.3
    w2 = rng.standard_normal((1, h + 1)) * 0.3
    Z = np.empty((h, n))
    A = np.ones((h + 1, n))
    x = np.empty((1, n))
    g = np.empty((1, n))
    dW1 = np.empty((h, d + 1))
    dw2 = np.empty((1, h + 1))
    Zv = np.empty((h, Xpos.shape[1]))
    u = np.empty(n)
    v = np.empty(n)
    astra = METHODS[method]["astra"]
    bce = METHODS[method]["loss"] == "bce"
    np.multiply(rng.standard_normal(n), 0.5, out=u)

    def epoch():
        np.matmul(W1, Xa, out=Z)
        np.matmul(w2, A, out=x)
        np.exp(u, out=v)
        if astra:
            np.log1p(v, out=v)
            np.expm1(v, out=v)
        if bce:
            np.log1p(v, out=v)
        np.matmul(g, A.T, out=dw2)
        np.matmul(Z, Xa.T, out=dW1)
        np.matmul(W1, Xpos, out=Zv)

    g[:] = 0.1
    with blas_one_thread():
        return seconds_per_call(epoch, epochs)


# ---------------------------------------------------------------------------- torch


def time_torch(data, method, epochs, threads=None):
    import torch

    X, y, Xv, yv = data
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        flags = METHODS[method]
        p = nn.init_params(X.shape[1], random_state=0)
        params = []
        for W, c in zip(p.weights, p.biases):
            params += [torch.nn.Parameter(torch.tensor(W)), torch.nn.Parameter(torch.tensor(c))]
        beta = torch.nn.Parameter(torch.tensor(p.beta, dtype=torch.float64))
        groups = [{"params": params, "lr": 1e-3}]
        if flags["astra"]:
            groups.append({"params": [beta], "lr": 0.01})
        opt = torch.optim.Adam(groups)
        Xt, yt = torch.tensor(X), torch.tensor(y, dtype=torch.float64)
        pos_t = yt == 1
        m1 = float(pos_t.sum())
        m0 = yt.numel() - m1
        Xvp = torch.tensor(Xv[yv == 1])
        zero = torch.zeros((), dtype=torch.float64)

        def logits(Xin):
            z = Xin @ params[0].T + params[1]
            a = torch.nn.functional.leaky_relu(z, 0.3)
            x = (a @ params[2].T + params[3])[:, 0]
            if not flags["astra"]:
                return x
            b = torch.where(beta > 0, 2.0 + beta, 1.0 + torch.exp(torch.clamp(beta, max=0.0)))
            s = torch.logaddexp(zero, b * x + torch.log(b)) / b
            return torch.log(torch.expm1(s)) - torch.log(torch.expm1(torch.log1p(b) / b))

        state = {"eta": 0.01, "best": math.inf, "best_params": None}

        def epoch():
            opt.zero_grad(set_to_none=True)
            logit = logits(Xt)
            if flags["loss"] == "bce":
                loss = torch.mean(yt * torch.logaddexp(zero, -logit) + (1 - yt) * torch.logaddexp(zero, logit))
            else:
                pz = torch.sigmoid(logit)
                tn = torch.sum((1 - pz) * (1 - yt))
                tp = torch.sum(pz * yt)
                loss = 1 - torch.sqrt(tn * tp / (m0 * m1))
            loss.backward()
            opt.step()
            with torch.no_grad():
                lg = logit.detach()
                fn = torch.sigmoid(-lg[pos_t]).sum() / m1
                fp = torch.sigmoid(lg[~pos_t]).sum() / m0
                ratio = float(fn / fp)
                if flags["astra"]:
                    eta = state["eta"]
                    eta = min(1.1 * eta, 0.5) if ratio > 1 else max(0.99 * eta, 0.01) if ratio < 1 else eta
                    state["eta"] = eta
                    opt.param_groups[1]["lr"] = eta
                fnr = float(torch.sigmoid(-logits(Xvp)).mean())
                if fnr < state["best"]:
                    state["best"] = fnr
                    state["best_params"] = [q.detach().clone() for q in params + [beta]]

        return seconds_per_call(epoch, epochs)
    finally:
        torch.set_num_threads(old)


# ---------------------------------------------------------------------------- sklearn


def time_sklearn(data, epochs):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    X, y, _, _ = data
    clf = MLPClassifier(hidden_layer_sizes=(5,), activation="logistic", solver="adam", learning_rate_init=1e-3,
                        batch_size=X.shape[0], max_iter=epochs, tol=0.0, n_iter_no_change=epochs + 1,
                        shuffle=False, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t = time.perf_counter()
        clf.fit(X, y)
        return (time.perf_counter() - t) / clf.n_iter_


# ---------------------------------------------------------------------------- main


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--no-sklearn", action="store_true")
    ap.add_argument("--no-reference", action="store_true")
    args = ap.parse_args(argv)
    data = make_data()
    E, R = args.epochs, args.repeats
    try:
        import torch
    except ImportError:
        torch = None
    if args.no_torch:
        torch = None
    try:
        import sklearn
    except ImportError:
        sklearn = None
    if args.no_sklearn:
        sklearn = None
    print(f"astra_np epoch benchmark: n_x=8, n_h=5, {data[0].shape[0]} train rows ({int(data[1].sum())} positive), "
          f"{data[2].shape[0]} validation rows; {E} epochs, best of {R}")
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    print(f"python {platform.python_version()}, numpy {np.__version__}"
          + (f", torch {torch.__version__} ({torch.get_num_threads()} threads)" if torch else "")
          + (f", scikit-learn {sklearn.__version__}" if sklearn else "")
          + f"; {os.cpu_count()} CPUs, load average {load[0]}")
    sk = best_of(lambda: time_sklearn(data, E), R) * 1e3 if sklearn else math.nan
    header = (f"{'method':<10} {'astra_np':>9} {'reference':>9} {'torch':>8} {'torch-1t':>8} {'sklearn':>8} "
              f"{'floor':>7} | {'torch/astra_np':>14} {'best-torch/ours':>15} {'astra_np/floor':>14}")
    print(header)
    print("-" * len(header))
    for method in METHOD_NAMES:
        ours = best_of(lambda: time_astra_np(data, method, E), R) * 1e3
        ref = math.nan if args.no_reference else best_of(lambda: time_astra_np(data, method, max(E // 5, 20),
                                                                               fast=False), R) * 1e3
        tt = best_of(lambda: time_torch(data, method, E), R) * 1e3 if torch else math.nan
        t1 = best_of(lambda: time_torch(data, method, E, threads=1), R) * 1e3 if torch else math.nan
        floor = best_of(lambda: time_floor(data, method, E), R) * 1e3
        print(f"{method:<10} {ours:9.3f} {ref:9.3f} {tt:8.3f} {t1:8.3f} {sk:8.3f} {floor:7.3f} | "
              f"{tt / ours:14.2f} {min(tt, t1) / ours:15.2f} {ours / floor:14.2f}")
    print("times in ms per epoch; sklearn: MLPClassifier(logistic, log-loss, Adam, full batch), same for all rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
