"""Run examples/jax_astra.py in a fresh process and print what tests/test_jax_example.py checks.

JAX starts threads when it initialises; a test process that later forks (the protocol
tests run workers) must not have imported it. ``python tests/jax_example_probe.py
EXAMPLE VECTORS`` prints the example's own output, then one line ``PROBE {json}``.
"""
import contextlib
import importlib.util
import io
import json
import math
import sys


def _failures(res):
    return [{"case": f.case, "function": f.function, "quantity": f.quantity,
             "cause": f.cause, "explanation": f.explanation, "message": f.message,
             "got": f.got, "expected": f.expected} for f in res.failures]


def _summary(res):
    return {"status": res.status, "checked": res.checked, "excluded": res.excluded,
            "failed_cases": res.failed_cases(), "failures": _failures(res),
            "reports": {r.function: r.status for r in res.reports}}


#: Heads the vectors do not hold: a vanishing predicted marginal (every output -> 0, every
#: output -> 1; soft MCC is 0/0 there in linear counts), one positive far below the
#: negatives (2TP << FP + FN: soft F1's negatives' gradient is 1e-21) and a perfect
#: separation (J ~ 1e-18: 1 - F1 and 1 - MCC round to 0).
OFF_VECTOR_HEADS = {
    "every output -> 0": ([-700.0, -700.5, -701.0, -699.0], [1, 0, 0, 1]),
    "every output -> 1": ([700.0, 700.5, 701.0, 699.0], [1, 0, 0, 1]),
    "one positive far below": ([-45.0, 1.0, -1.0, 2.0], [1, 0, 0, 0]),
    "perfect separation": ([40.0, -40.0, 35.0, -38.0], [1, 0, 1, 0]),
}


def _off_vector_heads(stable):
    """Per method and input: the stable head (value, dx, dbeta) against astra_np's head_loss."""
    import numpy as np

    from astra_np import METHODS
    from astra_np.check.vectors import TINY
    from astra_np.core.losses import head_loss

    out = {}
    for method, kwargs in METHODS.items():
        for where, (x, y) in OFF_VECTOR_HEADS.items():
            x, y = np.array(x), np.array(y)
            beta = np.float64(-1.0 if kwargs["astra"] else 0.0)
            got = stable["head_loss"](x, beta, y, **kwargs)
            expected = head_loss(x, beta, y, **kwargs)
            out[f"{method}: {where}"] = {
                "finite": all(bool(np.all(np.isfinite(g))) for g in got),
                "close": all(bool(np.allclose(g, e, rtol=1e-12, atol=TINY))
                             for g, e in zip(got, expected))}
    return out


def _load(path):
    spec = importlib.util.spec_from_file_location("jax_astra_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _extra_checks(ex, doc):
    """The pitfalls and the other gradient operator, on the example's functions."""
    import jax
    import jax.numpy as jnp

    from astra_np.check.vectors import implementation_from_forward, validate

    def astra_plain_expm1(x, b):   # the stable forward of derivations/astra.md, no rule
        s, _ = ex._s(x, b)
        return -jnp.expm1(-s)

    def astra32(x, b):
        return ex.stable_astra(x, b).astype(jnp.float32)

    def impl(forward, **op):
        return implementation_from_forward(forward, asarray=jnp.asarray, **op)

    fns = ["astra", "z_transform", "bce", "head_loss[gmn-astra]"]
    return {
        "x64": str(jnp.zeros(()).dtype),
        "grad_expm1_at_-40": float(jax.grad(jnp.expm1)(-40.0)),
        "grad_one_minus_exp_at_-40": float(jax.grad(ex.one_minus_exp)(-40.0)),
        "exact_at_-40": -math.exp(-40.0),
        "grad_exp_minimum_at_0": float(jax.grad(lambda b: jnp.exp(jnp.minimum(b, 0.0)))(0.0)),
        "grad_stable_slope_from_beta_at_0": float(jax.grad(ex.stable_slope_from_beta)(0.0)),
        "plain_expm1": _summary(validate(impl({"astra": astra_plain_expm1}, grad=jax.grad),
                                         doc, functions=["astra"], verbose=False)),
        "vjp": _summary(validate(impl(ex.STABLE_FORWARD, vjp=jax.vjp), doc, functions=fns,
                                 exclude=("subnormal",), verbose=False)),
        "off_vectors": _off_vector_heads(ex.STABLE),
        "float32": _summary(validate(impl({"astra": astra32}, grad=jax.grad), doc,
                                     functions=["astra"], cases="default", verbose=False)),
    }


def main(example_path, vectors):
    from astra_np.check.vectors import load

    ex = _load(example_path)
    results = []
    run = ex.run
    ex.run = lambda v: results.append(run(v, out=sys.stdout)) or results[-1]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = ex.main([vectors])
    text = buf.getvalue()
    print(text)
    naive, naive_default, stable = results[0]
    probe = {"exit_code": code, "output": text, "naive": _summary(naive),
             "naive_default": _summary(naive_default), "stable": _summary(stable)}
    probe.update(_extra_checks(ex, load(vectors)))
    print("PROBE " + json.dumps(probe))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
