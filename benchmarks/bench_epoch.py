r"""Per-epoch training time of astra_np over a whole fit, against PyTorch, JAX and a NumPy floor.

The paper's network for cod-rna (n_x = 8, one hidden layer of n_h = 5 Leaky ReLU units,
one output) is trained full batch on 12,000 rows with a 4,000-row validation set, on
heavy-tailed built-in data (``make_imbalanced(..., heavy_tails=0.02)``, standardised: the
largest |feature| is about 100, as on real sensor and count data), for every registered
method. Every contender does the same work per epoch: forward pass, loss, backward pass,
Adam step (weights at 0.001, beta at eta_b), the train-set e-ratio and the eta_b rule
(Eq. 10, 11), and the validation monitor FNR_apx (positive validation rows only) with
best-on-validation bookkeeping.

Columns (milliseconds per epoch):

* ``first``, ``last`` -- :func:`astra_np.learn.train.train` (fused kernel), one complete
  fit of ``--epochs`` (10,000) epochs, timed epoch by epoch: the mean of the first and
  of the last 1,000 epochs (late training is where pre-activations grow);
* ``off`` -- epochs of that fit the fused kernel handed to the reference path;
* ``torch`` -- PyTorch eager float64 (autograd, ``torch.optim.Adam``, one thread), a
  count-based loss written once for all through its ``J(counts)`` (a
  ``torch.autograd.Function`` around the registry's counts function);
* ``jax`` -- the same epoch jit-compiled by JAX in float64 (``jax.value_and_grad``, Adam
  by hand), a count-based loss through ``jax.pure_callback`` to the same counts function;
  skipped with a note when JAX is not installed;
* ``fixed`` -- the same fit on the positives and the first 100 negatives of the training
  rows (same validation rows), timed over ``--window`` epochs: the part of an epoch that
  does not grow with the rows (the interpreter and the small arrays: parameters, Adam,
  positives, the validation monitor, bookkeeping); ``fix/l`` is its share of the full
  epoch (``fixed/last``);
* ``floor`` -- bare NumPy operations of an epoch: the four matrix products of forward
  and backward, the validation product and the transcendental passes of the head, with
  ``out=`` into preallocated arrays (not the hidden layer's Leaky ReLU, nor the head's
  other passes: a floor no implementation reaches);
* ``net`` -- the floor with the network's own passes over the rows that every
  implementation of this network makes, in their cheapest NumPy form known (the fused
  kernel's): the hidden layer's Leaky ReLU forward (the sign mask, the slopes from it
  in a copy and an add, ``Z S``: four passes) and backward (the slopes times the output
  cotangent, one pass; the output weights fold into the small matrices). ``l/net``
  (``last/net``) compares like with like; ``l/floor`` is kept for comparison with
  earlier measurements.

PyTorch, JAX and the floor do the same operations in every epoch (their cost does not
depend on the state of training), so they are timed over ``--window`` epochs. Ratios
are formed in one process: ``torch/last`` (target >= 4), ``last/net`` and ``last/floor``
and ``last/first`` (target <= 1.3). Cores shared with other work make every
column noisy: run ``--repeats`` times and read the minima.

Run: ``python benchmarks/bench_epoch.py [--epochs 10000] [--window 1000] [--repeats 1]``.
``--only-astra --data FILE`` times only astra_np on saved data (``--save-data FILE``
writes it), so that another version of the package can be measured on the same rows.
"""
import argparse
import math
import os
import platform
import time

import numpy as np

import astra_np

if os.path.isdir(os.path.join(os.path.dirname(astra_np.__file__), "core")):
    from astra_np.core import registry
    from astra_np.learn import kernel as kernel_module
    from astra_np.learn import nn
    from astra_np.learn.train import train
else:  # the flat layout of earlier versions, for before/after comparisons (never mixed with another install)
    registry = None
    from astra_np import _fast as kernel_module
    from astra_np import nn
    from astra_np.train import train

EpochKernel = kernel_module.EpochKernel
LEAKY_SLOPE = getattr(nn, "LEAKY_SLOPE", 0.3)


def methods():
    r"""``[(name, astra, fused family, counts function or None)]`` of every registered method."""
    if registry is not None:
        return [(m.name, m.astra, m.loss.fused, m.loss.function("counts") if m.loss.fused == "counts" else None)
                for m in registry.methods()]
    from astra_np.losses import METHODS  # earlier versions: a dict of flags
    family = {"bce": "cross-entropy", "gmn": "counts"}
    return [(name, f["astra"], family[f["loss"]], None) for name, f in METHODS.items()]


def make_data(seed=0, heavy_tails=0.02):
    r"""16,000 rows, 8 features, 21 positives (IR ~ 761, like cod-763), heavy-tailed; 12,000/4,000."""
    from astra_np.study.datasets import make_imbalanced

    X, y = make_imbalanced(n_samples=16000, n_features=8, n_positives=21, random_state=seed,
                           heavy_tails=heavy_tails)
    rng = np.random.default_rng(seed)
    pos, neg = rng.permutation(np.flatnonzero(y == 1)), rng.permutation(np.flatnonzero(y == 0))
    val = np.concatenate([pos[:5], neg[:3995]])
    tr = np.setdiff1d(np.arange(y.size), val)
    mean, std = X[tr].mean(axis=0), X[tr].std(axis=0)
    X = (X - mean) / std
    return X[tr], y[tr], X[val], y[val]


def blas_one_thread():
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


# ---------------------------------------------------------------------------- astra_np


def time_fit(data, method, epochs, window):
    r"""One complete fit, timed epoch by epoch: ``(first, last, off)`` in seconds per epoch."""
    X, y, Xv, yv = data
    stamps, fallbacks = [], [0]
    step, reference = EpochKernel.loss_and_grad, EpochKernel._reference

    def stamped(self, theta, grad):
        stamps.append(time.perf_counter())
        return step(self, theta, grad)

    def counted(self, *args):
        fallbacks[0] += 1
        return reference(self, *args)

    train(X, y, Xv, yv, method=method, epochs=5, random_state=0)  # warm up
    EpochKernel.loss_and_grad, EpochKernel._reference = stamped, counted
    try:
        result = train(X, y, Xv, yv, method=method, epochs=epochs, random_state=0)
        stamps.append(time.perf_counter())
    finally:
        EpochKernel.loss_and_grad, EpochKernel._reference = step, reference
    off = getattr(result, "epochs_off_fused_path", fallbacks[0])
    w = min(window, epochs)
    return (stamps[w] - stamps[0]) / w, (stamps[-1] - stamps[-1 - w]) / w, off


def few_rows(data, negatives=100):
    r"""The training rows cut to their positives and the first ``negatives`` negatives."""
    X, y, Xv, yv = data
    keep = np.concatenate([np.flatnonzero(y == 1), np.flatnonzero(y == 0)[:negatives]])
    return X[keep], y[keep], Xv, yv


# ---------------------------------------------------------------------------- floor


def floor_epoch(data, astra, cross_entropy, network=False):
    r"""The unavoidable NumPy work of one epoch, with preallocated outputs; ``network=True``
    adds the passes of the hidden layer's Leaky ReLU forward and backward."""
    X, y, Xv, yv = data
    n, d = X.shape
    h = math.ceil((d + 1) / 2)
    rng = np.random.default_rng(0)
    Xa = np.vstack([X.T, np.ones((1, n))])
    Xpos = np.vstack([Xv[yv == 1].T, np.ones((1, int(yv.sum())))])
    W1, w2 = rng.standard_normal((h, d + 1)) * 0.3, rng.standard_normal((1, h + 1)) * 0.3
    Z, A, x, g = np.empty((h, n)), np.ones((h + 1, n)), np.empty((1, n)), np.full((1, n), 0.1)
    dW1, dw2, Zv = np.empty((h, d + 1)), np.empty((1, h + 1)), np.empty((h, Xpos.shape[1]))
    S, mask = np.empty((h, n)), np.empty((h, n), dtype=bool)
    u, v = 0.5 * rng.standard_normal(n), np.empty(n)
    A_hidden = A[:h]

    def epoch():
        np.matmul(W1, Xa, out=A_hidden if network else Z)
        if network:   # A = Z S with S = 1 or the leaky slope, kept for the backward pass
            np.greater(A_hidden, 0.0, out=mask)
            np.copyto(S, mask)
            np.add(S, LEAKY_SLOPE, out=S)
            np.multiply(A_hidden, S, out=A_hidden)
        np.matmul(w2, A, out=x)
        np.exp(u, out=v)
        if astra:
            np.log1p(v, out=v)
            np.expm1(v, out=v)
        if cross_entropy:
            np.log1p(v, out=v)
        np.matmul(g, A.T, out=dw2)
        if network:   # dZ = S (w g): S g over the rows, w folded into the small product
            np.multiply(S, g, out=S)
            np.matmul(S, Xa.T, out=dW1)
        else:
            np.matmul(Z, Xa.T, out=dW1)
        np.matmul(W1, Xpos, out=Zv)

    return epoch


def seconds_per_epoch(epoch, epochs, warmup=5):
    for _ in range(warmup):
        epoch()
    t = time.perf_counter()
    for _ in range(epochs):
        epoch()
    return (time.perf_counter() - t) / epochs


# ---------------------------------------------------------------------------- torch


def _counts_or_flat(counts, tn, fp, fn, tp, m0, m1):
    r"""The counts function's ``(J, k_neg, k_pos)``; where it has no value (GMN with a count
    underflowed to 0, which the float64 logits of these loops reach where astra_np's log-space
    forms do not) a flat step ``(NaN, 0, 0)``: the epoch's work is the same."""
    out = counts(tn, fp, fn, tp, m0, m1)
    return (math.nan, 0.0, 0.0) if out is None else out


def _torch_count_loss(torch, counts, m0, m1):
    class CountLoss(torch.autograd.Function):
        r"""J(TN, FP, FN, TP) of the registry's counts function; dJ/dFP = k_neg, dJ/dTP = k_pos
        (TN = m0 - FP and FN = m1 - TP)."""

        @staticmethod
        def forward(ctx, fp, tp, tn, fn):
            J, k_neg, k_pos = _counts_or_flat(counts, float(tn), float(fp), float(fn), float(tp), m0, m1)
            ctx.k = (k_neg, k_pos)
            return fp.new_tensor(J)

        @staticmethod
        def backward(ctx, g):
            return g * ctx.k[0], g * ctx.k[1], None, None

    return CountLoss.apply


def torch_epoch(data, astra, counts):
    import torch

    X, y, Xv, yv = data
    p = nn.init_params(X.shape[1], random_state=0)
    params = []
    for W, c in zip(p.weights, p.biases):
        params += [torch.nn.Parameter(torch.tensor(W)), torch.nn.Parameter(torch.tensor(c))]
    beta = torch.nn.Parameter(torch.tensor(p.beta, dtype=torch.float64))
    opt = torch.optim.Adam([{"params": params, "lr": 1e-3}] + ([{"params": [beta], "lr": 0.01}] if astra else []))
    Xt, yt = torch.tensor(X), torch.tensor(y, dtype=torch.float64)
    pos_t = yt == 1
    m1 = int(pos_t.sum())
    m0 = yt.numel() - m1
    Xvp = torch.tensor(Xv[yv == 1])
    zero = torch.zeros((), dtype=torch.float64)
    count_loss = _torch_count_loss(torch, counts, m0, m1) if counts is not None else None

    def logits(Xin):
        a = torch.nn.functional.leaky_relu(Xin @ params[0].T + params[1], 0.3)
        x = (a @ params[2].T + params[3])[:, 0]
        if not astra:
            return x
        b = torch.where(beta > 0, 2.0 + beta, 1.0 + torch.exp(torch.clamp(beta, max=0.0)))
        s = torch.logaddexp(zero, b * x + torch.log(b)) / b
        return torch.log(torch.expm1(s)) - torch.log(torch.expm1(torch.log1p(b) / b))

    state = {"eta": 0.01, "best": math.inf}

    def epoch():
        opt.zero_grad(set_to_none=True)
        logit = logits(Xt)
        if count_loss is None:
            loss = torch.mean(yt * torch.logaddexp(zero, -logit) + (1 - yt) * torch.logaddexp(zero, logit))
        else:
            pz = torch.sigmoid(logit)
            loss = count_loss(pz[~pos_t].sum(), pz[pos_t].sum(), torch.sigmoid(-logit[~pos_t]).sum().detach(),
                              torch.sigmoid(-logit[pos_t]).sum().detach())
        loss.backward()
        opt.step()
        with torch.no_grad():
            lg = logit.detach()
            ratio = float((torch.sigmoid(-lg[pos_t]).sum() / m1) / (torch.sigmoid(lg[~pos_t]).sum() / m0))
            if astra:
                eta = state["eta"]
                state["eta"] = min(1.1 * eta, 0.5) if ratio > 1 else max(0.99 * eta, 0.01) if ratio < 1 else eta
                opt.param_groups[1]["lr"] = state["eta"]
            fnr = float(torch.sigmoid(-logits(Xvp)).mean())
            if fnr < state["best"]:
                state["best"] = fnr
                state["best_params"] = [q.detach().clone() for q in params + [beta]]

    return epoch


# ---------------------------------------------------------------------------- jax


def jax_epoch(data, astra, counts):
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    X, y, Xv, yv = data
    p = nn.init_params(X.shape[1], random_state=0)
    params = [jnp.asarray(a) for W, c in zip(p.weights, p.biases) for a in (W, c)] + [jnp.float64(p.beta)]
    Xj, yj, Xvp = jnp.asarray(X), jnp.asarray(y, dtype=jnp.float64), jnp.asarray(Xv[yv == 1])
    m1 = float(y.sum())
    m0 = y.size - m1
    count_loss = _jax_count_loss(jax, jnp, counts, m0, m1) if counts is not None else None

    def logits(ps, Xin):
        a = jax.nn.leaky_relu(Xin @ ps[0].T + ps[1], 0.3)
        x = (a @ ps[2].T + ps[3])[:, 0]
        if not astra:
            return x
        bb = jnp.where(ps[4] > 0, 2.0 + ps[4], 1.0 + jnp.exp(jnp.minimum(ps[4], 0.0)))
        s = jnp.logaddexp(0.0, bb * x + jnp.log(bb)) / bb
        return jnp.log(jnp.expm1(s)) - jnp.log(jnp.expm1(jnp.log1p(bb) / bb))

    def loss_fn(ps):
        lg = logits(ps, Xj)
        if count_loss is None:
            return jnp.mean(yj * jnp.logaddexp(0.0, -lg) + (1 - yj) * jnp.logaddexp(0.0, lg)), lg
        pz, qz = jax.nn.sigmoid(lg), jax.nn.sigmoid(-lg)
        return count_loss(jnp.sum(pz * (1 - yj)), jnp.sum(pz * yj), jnp.sum(qz * (1 - yj)), jnp.sum(qz * yj)), lg

    @jax.jit
    def step(state):
        ps, m, v, t, eta, best, best_ps = state
        (_, lg), g = jax.value_and_grad(loss_fn, has_aux=True)(ps)
        t = t + 1
        lrs = [1e-3] * 4 + [eta if astra else 0.0]
        m = [0.9 * mi + 0.1 * gi for mi, gi in zip(m, g)]
        v = [0.999 * vi + 0.001 * gi * gi for vi, gi in zip(v, g)]
        ps = [pi - lr / (1 - 0.9 ** t) * mi / (jnp.sqrt(vi / (1 - 0.999 ** t)) + 1e-8)
              for pi, mi, vi, lr in zip(ps, m, v, lrs)]
        ratio = (jnp.sum(jax.nn.sigmoid(-lg) * yj) / m1) / (jnp.sum(jax.nn.sigmoid(lg) * (1 - yj)) / m0)
        eta = jnp.where(ratio > 1, jnp.minimum(1.1 * eta, 0.5), jnp.where(ratio < 1, jnp.maximum(0.99 * eta, 0.01), eta))
        fnr = jnp.mean(jax.nn.sigmoid(-logits(ps, Xvp)))
        better = fnr < best
        best_ps = [jnp.where(better, a, b) for a, b in zip(ps, best_ps)]
        return ps, m, v, t, eta, jnp.minimum(fnr, best), best_ps

    zeros = [jnp.zeros_like(a) for a in params]
    state = [(params, zeros, zeros, 0.0, 0.01, jnp.inf, params)]

    def epoch():
        state[0] = step(state[0])
        state[0][5].block_until_ready()

    return epoch


def _jax_count_loss(jax, jnp, counts, m0, m1):
    r"""J(counts) through ``jax.pure_callback`` to the registry's counts function, with its
    gradient (dJ/dFP, dJ/dTP) = (k_neg, k_pos)."""
    out = jax.ShapeDtypeStruct((3,), jnp.float64)

    def host(tn, fp, fn, tp):
        return np.asarray(_counts_or_flat(counts, float(tn), float(fp), float(fn), float(tp), m0, m1),
                          dtype=np.float64)

    @jax.custom_vjp
    def J(fp, tp, tn, fn):
        return jax.pure_callback(host, out, tn, fp, fn, tp)[0]

    def fwd(fp, tp, tn, fn):
        r = jax.pure_callback(host, out, tn, fp, fn, tp)
        return r[0], (r[1], r[2])

    def bwd(k, g):
        return g * k[0], g * k[1], 0.0 * g, 0.0 * g

    J.defvjp(fwd, bwd)
    return J


# ---------------------------------------------------------------------------- main


def _row(name, first, last, off, fixed, torch_t, jax_t, floor, net):
    ms = [1e3 * v for v in (first, last, fixed, torch_t, jax_t, floor, net)]
    return (f"{name:<10} {ms[0]:7.3f} {ms[1]:7.3f} {off:5d} {ms[2]:7.3f} {ms[3]:7.3f} {ms[4]:7.3f} {ms[5]:7.3f} "
            f"{ms[6]:7.3f} | {torch_t / first:7.2f} {torch_t / last:7.2f} {jax_t / last:7.2f} {first / floor:7.2f} "
            f"{last / floor:7.2f} {last / net:7.2f} {last / first:7.2f} {fixed / last:7.2f}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=10000, help="epochs of the astra_np fit")
    ap.add_argument("--window", type=int, default=1000, help="epochs of each timed window")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--heavy-tails", type=float, default=0.02)
    ap.add_argument("--only-astra", action="store_true", help="astra_np and the floor only")
    ap.add_argument("--methods", nargs="*", help="a subset of the registered methods")
    ap.add_argument("--data", help="load (X, y, X_val, y_val) from this .npz instead of generating")
    ap.add_argument("--save-data", help="write the generated data to this .npz and exit")
    args = ap.parse_args(argv)
    if args.data:
        f = np.load(args.data)
        data = (f["X"], f["y"], f["X_val"], f["y_val"])
    else:
        data = make_data(heavy_tails=args.heavy_tails)
    if args.save_data:
        np.savez(args.save_data, X=data[0], y=data[1], X_val=data[2], y_val=data[3])
        return 0
    torch = jax = None
    if not args.only_astra:
        import torch

        torch.set_num_threads(1)
        try:
            import jax
        except ImportError:
            print("jax is not installed: the jax column is skipped (NaN)")
    E, W, R = args.epochs, args.window, args.repeats
    load = os.getloadavg()
    print(f"astra_np {os.path.dirname(astra_np.__file__)}")
    print(f"astra_np epoch benchmark: n_x=8, n_h=5, {data[0].shape[0]} train rows ({int(data[1].sum())} positive), "
          f"{data[2].shape[0]} validation rows, largest |feature| {np.max(np.abs(data[0])):.0f}; "
          f"fit of {E} epochs, windows of {W}, best of {R}")
    print(f"python {platform.python_version()}, numpy {np.__version__}"
          + (f", torch {torch.__version__} (1 thread)" if torch else "") + (f", jax {jax.__version__}" if jax else "")
          + f"; {os.cpu_count()} CPUs, load average {load[0]:.2f}")
    header = (f"{'method':<10} {'first':>7} {'last':>7} {'off':>5} {'fixed':>7} {'torch':>7} {'jax':>7} "
              f"{'floor':>7} {'net':>7} | {'t/first':>7} {'t/last':>7} {'jax/last':>8} {'f/floor':>7} {'l/floor':>7} "
              f"{'l/net':>7} "
              f"{'l/first':>7} {'fix/l':>7}")
    print(header)
    print("-" * len(header))
    with blas_one_thread():
        for name, astra, family, counts in methods():
            if args.methods and name not in args.methods:
                continue
            fits = [time_fit(data, name, E, W) for _ in range(R)]
            first, last, off = min(f[0] for f in fits), min(f[1] for f in fits), max(f[2] for f in fits)
            fixed = min(time_fit(few_rows(data), name, W, W)[0] for _ in range(R))
            ce = family == "cross-entropy"
            floor = min(seconds_per_epoch(floor_epoch(data, astra, ce), W) for _ in range(R))
            net = min(seconds_per_epoch(floor_epoch(data, astra, ce, network=True), W) for _ in range(R))
            tt = min(seconds_per_epoch(torch_epoch(data, astra, counts), W) for _ in range(R)) if torch else math.nan
            jt = min(seconds_per_epoch(jax_epoch(data, astra, counts), W) for _ in range(R)) if jax else math.nan
            print(_row(name, first, last, off, fixed, tt, jt, floor, net), flush=True)
    print("ms per epoch; first/last: the first and last windows of one complete astra_np fit; off: its epochs "
          "off the fused path; fixed: an epoch on the positives and 100 negatives; net: the floor with the "
          "Leaky ReLU's passes; "
          "t = torch eager float64, f/l = first/last")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
