r"""Write ``tests/golden/core_golden.json``: 60-digit reference values for the core.

Usage (from the repository root; needs mpmath)::

    python tests/golden/make_golden.py            # rewrite the JSON
    python tests/golden/make_golden.py --check    # recompute and compare, no write

The output is deterministic (fixed seed, fixed grids, no timestamps): running
the script twice gives byte-identical files.  Inputs are float64 numbers stored
twice, as ``repr`` (shortest round-trip decimal) and ``float.hex`` (exact);
readers should use the hex form.  Reference outputs are computed by
:mod:`astra_np.check.reference` (60 significant digits, adaptive working precision)
and stored as decimal strings with :data:`DIGITS` significant digits, far more
than float64's 17, so a test can measure errors well below one ulp.

Sections of the JSON file
-------------------------
``astra``           Eq. 4 on a grid of x (both tails and the bulk: 0, +-|x| log-spaced
                    over [1e-8, 1e4], +-t/b for |b x| = t up to 700, the Fig. 2 band
                    edge, random points) for every b in ``B_VALUES``: y, 1 - y, logit
                    and the x- and b-partials of y and of the logit, plus the term
                    scales of the b-partials (see astra_np.check.reference).
``threshold``       Eq. 5 and its b-derivative, for b in ``B_VALUES`` and beyond.
``slope_for_threshold``  the inverse of Eq. 5 and its relative condition number
                    ``tau / (b |dtau/db|)``.
``slope_from_beta`` Eq. 7 and its derivative; ``beta_from_slope`` its inverse.
``band_edge``       x* = log((2^b - 1)/b)/b of Fig. 2.
``z_transform``     Eq. 6, 1 - z and both partials, p in [0, 1] (0, 1, subnormal, tiny,
                    1 - tiny) times a set of tau.
``prob_cases``      mean BCE, its gradient, the approximated confusion matrix
                    (Eq. 8), GMN (Eq. 9) and its gradient on probability vectors.
``logit_cases``     mean BCE from logits and its gradient.
``head_cases``      ``head_loss`` (loss, dL/dx, dL/dbeta and the term scale of
                    dL/dbeta) for BCE and GMN, with/without ASTra and the
                    z-transform, over several beta; includes every positive at
                    x = -1e4 (z underflows in float64), every positive's output
                    below 1e-308 with normal-range GMN gradients, and m1 = 1,
                    m0 = 4000.
``count_head_cases``  ``head_loss`` of the soft F1 and soft MCC methods (losses on the
                    approximated counts, Eq. 8; not the paper's): the same fields as
                    ``head_cases``, on the tails, every positive at x = -1e4, every
                    negative saturating at 1, a vanishing predicted marginal (every
                    output near 0, or near 1), a nearly perfect classifier, and m1 = 1,
                    m0 = 4000. Drawn from its own seed (``SEED + 1``): the sections
                    before it are unchanged by its presence.
"""
import argparse
import json
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from astra_np.check import reference as R  # noqa: E402
from astra_np.core import registry  # noqa: E402

OUT = os.path.join(HERE, "core_golden.json")
SEED = 20240607
DIGITS = 30
DPS = 60

B_025 = 7.396348760419537  # float64 nearest to slope_for_threshold(0.25)
B_VALUES_FIXED = [1.0, 1.5, 2.0, B_025, math.e, 30.0, 87.37, 1000.0]


def num(v):
    """Decimal string of an mpf with DIGITS significant digits."""
    import mpmath

    return mpmath.nstr(v, DIGITS, min_fixed=1, max_fixed=0)


def fin(v):
    """The input float as repr and hex."""
    v = float(v)
    return repr(v), v.hex()


def inputs(name, v):
    r, h = fin(v)
    return {name: r, name + "_hex": h}


def b_values(rng):
    return B_VALUES_FIXED + [float(v) for v in rng.uniform(1.0, 1000.0, 3)]


def x_grid(b, rng):
    xs = [0.0]
    mags = np.logspace(-8, 4, 37)
    xs += [float(m) for m in mags] + [float(-m) for m in mags]
    for t in [1e-3, 0.1, 0.5, 1, 2, 5, 10, 20, 36.7, 50, 100, 300, 650, 699.9, 700]:
        xs += [t / b, -t / b]
    xe = float(R.band_edge(b))
    xs += [xe, xe * (1 - 1e-3), xe * (1 + 1e-3)]
    xs += [float(v) for v in rng.normal(0.0, 3.0 / b, 4)]
    xs += [float(v) / b for v in rng.uniform(-700.0, 700.0, 4)]
    out = []
    for v in xs:
        if v not in out:
            out.append(v)
    return out


def section_astra(rng, bs):
    rows = []
    for b in bs:
        for x in x_grid(b, rng):
            d = R.astra_all(x, b, dps=DPS)
            row = {**inputs("x", x), **inputs("b", b)}
            for k in ["y", "yc", "logit", "dy_dx", "dy_db", "dy_db_scale", "dl_dx", "dl_db", "dl_db_scale"]:
                row[k] = num(d[k])
            rows.append(row)
    return rows


def section_threshold(bs):
    rows = []
    for b in bs + [1e-6, 1e-3, 0.1, 0.5, 0.9, 1.0 + 2.0 ** -40, 1e4, 1e6, 1e9, 1e12]:
        rows.append({**inputs("b", b), "tau": num(R.threshold(b, dps=DPS)),
                     "dtau_db": num(R.threshold_grad(b, dps=DPS))})
    return rows


def section_slope_for_threshold(rng):
    taus = [0.5, 0.5 - 2.0 ** -30, 0.49999999, 0.4, 0.3, 0.25, 0.2, 0.1, 0.05, 0.01,
            1e-3, 1e-4, 1e-6, 1e-9, 1e-12]
    taus += [float(v) for v in rng.uniform(0.05, 0.5, 4)]
    rows = []
    import mpmath

    for t in taus:
        b = R.slope_for_threshold(t, dps=DPS)
        with mpmath.mp.workdps(DPS):
            g = R.threshold_grad(float(b), dps=DPS)
            cond = mpmath.mpf(t) / (b * abs(g))
        rows.append({**inputs("tau", t), "b": num(b), "cond": mpmath.nstr(cond, 6)})
    return rows


def section_beta(b_list):
    betas = [-700.0, -50.0, -20.0, -1.0, -1e-8, -1e-300, -5e-324, 0.0, 5e-324, 1e-300, 1e-8,
             0.5, 1.0, B_025 - 2.0, 85.37, 998.0, 1e6, math.log(0.5)]
    rows = []
    for be in betas:
        rows.append({**inputs("beta", be), "b": num(R.slope_from_beta(be, dps=DPS)),
                     "db_dbeta": num(R.slope_from_beta_grad(be, dps=DPS))})
    inv = []
    for b in [1.0 + 2.0 ** -40, 1.0 + 1e-8, 1.25, 1.5, 2.0 - 2.0 ** -40, 2.0, 2.0 + 2.0 ** -40,
              2.5, B_025, 87.37, 1000.0, 1e6]:
        inv.append({**inputs("b", b), "beta": num(R.beta_from_slope(b, dps=DPS))})
    edge = [{**inputs("b", b), "x_star": num(R.band_edge(b, dps=DPS))} for b in b_list]
    return rows, inv, edge


def section_z(rng):
    ps = [0.0, 5e-324, 1e-300, 1e-100, 1e-17, 1e-8, 0.01, 0.05, 0.25, 0.3, 0.5, 0.7, 0.99,
          1.0 - 1e-8, 1.0 - 2.0 ** -52, 1.0 - 2.0 ** -53, 1.0]
    ps += [float(v) for v in rng.uniform(0.0, 1.0, 3)]
    taus = [0.5, 0.25, float(R.threshold(B_025)), 0.05, 0.01, 1e-6, 1e-12]
    taus += [float(v) for v in rng.uniform(0.01, 0.5, 2)]
    rows = []
    for p in ps:
        for t in taus:
            dzdp, dzdt = R.z_transform_partials(p, t, dps=DPS)
            rows.append({**inputs("p", p), **inputs("tau", t), "z": num(R.z_transform(p, t, dps=DPS)),
                         "zc": num(R.z_transform_complement(p, t, dps=DPS)),
                         "dz_dp": num(dzdp), "dz_dtau": num(dzdt)})
    return rows


def arr(name, values):
    values = [float(v) for v in values]
    return {name: [repr(v) for v in values], name + "_hex": [v.hex() for v in values]}


def section_prob(rng):
    cases = []
    specs = []
    p = rng.uniform(0.0, 1.0, 12)
    y = np.array([1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0])
    specs.append(("uniform_12", p, y))
    p = np.concatenate([rng.uniform(1e-6, 0.2, 40), [0.9, 0.3]])
    y = np.array([0] * 40 + [1, 1])
    specs.append(("imbalanced_40_2", p, y))
    p = np.array([1e-300, 1e-17, 5e-324, 0.0, 1e-8, 1.0 - 2.0 ** -53, 1.0, 1.0 - 1e-12, 0.5, 1e-12])
    y = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    specs.append(("extremes", p, y))
    p = np.array([1e-200, 1e-250, 0.2, 0.1, 0.05, 0.3])
    y = np.array([1, 1, 0, 0, 0, 0])
    specs.append(("tiny_tp", p, y))
    p = np.concatenate([rng.uniform(0.0, 0.1, 200), [0.6]])
    y = np.array([0] * 200 + [1])
    specs.append(("m1_1_m0_200", p, y))
    for name, p, y in specs:
        c = {"name": name, **arr("p", p), "y": [int(v) for v in y]}
        c["bce"] = num(R.bce(p, y, dps=DPS))
        c["bce_grad"] = [num(v) for v in R.bce_grad(p, y, dps=DPS)]
        c["approx_confusion"] = [num(v) for v in R.approx_confusion(p, y, dps=DPS)]
        c["gmn"] = num(R.gmn(p, y, dps=DPS))
        c["gmn_grad"] = [num(v) for v in R.gmn_grad(p, y, dps=DPS)]
        cases.append(c)
    return cases


def section_logit(rng):
    cases = []
    l = np.array([-800.0, -40.0, -1.0, -1e-10, 0.0, 1e-10, 1.0, 40.0, 800.0, 1e4])
    for name, y in [("labels_a", [0, 1, 0, 1, 0, 1, 0, 1, 0, 1]), ("labels_b", [1, 0, 1, 0, 1, 0, 1, 0, 1, 0])]:
        cases.append({"name": name, **arr("logit", l), "y": y,
                      "bce": num(R.bce_with_logits(l, y, dps=DPS)),
                      "bce_grad": [num(v) for v in R.bce_with_logits_grad(l, y, dps=DPS)]})
    l = rng.normal(0.0, 5.0, 20)
    y = [int(v) for v in rng.integers(0, 2, 20)]
    cases.append({"name": "random_20", **arr("logit", l), "y": y,
                  "bce": num(R.bce_with_logits(l, y, dps=DPS)),
                  "bce_grad": [num(v) for v in R.bce_with_logits_grad(l, y, dps=DPS)]})
    return cases


BETAS = [math.log(0.5), 0.0, B_025 - 2.0, 85.37, 998.0, -20.0, 1.0]


def head_case(name, x, y, betas, configs):
    c = {"name": name, **arr("x", x), "y": [int(v) for v in y], "results": []}
    for loss, astra, z in configs:
        for beta in (betas if astra else [0.0]):
            d = R.head_loss_details(x, beta, y, loss=loss, astra=astra, z=z, dps=DPS)
            c["results"].append({
                "loss": loss, "astra": astra, "z": z, **inputs("beta", beta),
                "value": num(d["loss"]),
                "dL_dx": [num(v) for v in d["dL_dx"]],
                "dL_dbeta": num(d["dL_dbeta"]),
                "dL_dbeta_scale": num(d["dL_dbeta_scale"]),
            })
    return c


#: The paper's losses (BCE, GMN) and the other built-in losses (on the counts), from the registry.
PAPER_LOSSES = [loss.name for loss in registry.losses() if loss.in_paper]
OTHER_BUILTIN_LOSSES = [loss.name for loss in registry.losses() if loss.builtin and not loss.in_paper]
ALL_CONFIGS = [(loss, astra, z) for loss in PAPER_LOSSES for astra in (False, True) for z in (False, True)]
METHOD_CONFIGS = [(loss, astra, astra) for astra in (False, True) for loss in PAPER_LOSSES]


def section_head(rng):
    cases = []
    x = rng.normal(0.0, 2.0, 16)
    x[:3] = [1e-8, -1e-8, 0.0]
    y = np.zeros(16, dtype=int)
    y[[0, 4, 7, 11, 15]] = 1
    cases.append(head_case("mixed_16", x, y, BETAS, ALL_CONFIGS))

    x = np.array([-1e4, -300.0, -50.0, -8.0, -1.0, 1.0, 8.0, 50.0, 300.0, 1e4, -20.0, 20.0])
    y = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1])
    cases.append(head_case("tails_12", x, y, BETAS, ALL_CONFIGS))

    x = np.concatenate([[-1e4] * 3, rng.normal(-2.0, 1.0, 40)])
    y = np.array([1] * 3 + [0] * 40)
    cases.append(head_case("positives_at_minus_1e4", x, y, BETAS, ALL_CONFIGS))

    x = np.concatenate([[-800.0, -110.0, -100.0], rng.normal(-3.0, 1.0, 30)])
    y = np.array([1] * 3 + [0] * 30)
    cases.append(head_case("positives_deep_tail", x, y, BETAS, ALL_CONFIGS))

    x = np.concatenate([[30.0, 40.0, 800.0], rng.normal(1.0, 1.0, 6), [2.0, 3.0]])
    y = np.array([0] * 9 + [1, 1])
    cases.append(head_case("negatives_saturated_high", x, y, BETAS, ALL_CONFIGS))

    x = np.concatenate([rng.normal(-3.0, 1.5, 4000), [0.7]])
    y = np.array([0] * 4000 + [1])
    cases.append(head_case("m1_1_m0_4000", x, y, [B_025 - 2.0], METHOD_CONFIGS))

    # Every positive's output underflows in float64 (TP_apx < 1e-308) while the
    # G-Mean, ~sqrt(TP_apx), and so the GMN gradients are still normal numbers:
    # only a log-space TP_apx gets them right.
    x = np.concatenate([[-100.0, -105.0, -110.0], rng.normal(-3.0, 1.0, 30)])
    y = np.array([1] * 3 + [0] * 30)
    cases.append(head_case("positives_all_underflow_astra", x, y, [B_025 - 2.0, 0.0, math.log(0.5)], ALL_CONFIGS))
    x = np.concatenate([[-800.0, -820.0, -840.0], rng.normal(-3.0, 1.0, 30)])
    y = np.array([1] * 3 + [0] * 30)
    cases.append(head_case("positives_all_underflow_sigmoid", x, y, [B_025 - 2.0], ALL_CONFIGS))
    return cases


COUNT_CONFIGS = [(loss, astra, astra) for loss in OTHER_BUILTIN_LOSSES for astra in (False, True)]
COUNT_BETAS = [B_025 - 2.0, 85.37, -20.0]


def section_count_head():
    rng = np.random.default_rng(SEED + 1)
    cases = []
    x = rng.normal(0.0, 2.0, 16)
    y = np.zeros(16, dtype=int)
    y[[0, 4, 7, 11, 15]] = 1
    cases.append(head_case("mixed_16", x, y, COUNT_BETAS, COUNT_CONFIGS))

    x = np.array([-1e4, -300.0, -50.0, -8.0, -1.0, 1.0, 8.0, 50.0, 300.0, 1e4, -20.0, 20.0])
    y = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1])
    cases.append(head_case("tails_12", x, y, COUNT_BETAS, COUNT_CONFIGS))

    x = np.concatenate([-1e4 - rng.uniform(0.0, 1.0, 3), rng.normal(-2.0, 1.0, 40)])
    y = np.array([1] * 3 + [0] * 40)
    cases.append(head_case("positives_at_minus_1e4", x, y, COUNT_BETAS, COUNT_CONFIGS))

    x = np.concatenate([rng.normal(0.0, 2.0, 3), 1e4 + rng.uniform(0.0, 1.0, 30)])
    y = np.array([1] * 3 + [0] * 30)
    cases.append(head_case("negatives_saturated_at_1", x, y, COUNT_BETAS, COUNT_CONFIGS))

    # every output near 0 (the predicted-positive marginal P underflows in float64) or
    # near 1 (Q underflows); logits ~ -+900 for the sigmoid and b ~ 1
    x = -900.0 - rng.uniform(0.0, 4.0, 12)
    y = np.array([1] * 3 + [0] * 9)
    cases.append(head_case("every_output_near_0", x, y, [-20.0], COUNT_CONFIGS))
    cases.append(head_case("every_output_near_1", -x, y, [-20.0], COUNT_CONFIGS))

    y = np.array([1] * 4 + [0] * 12)
    x = np.where(y == 1, 30.0, -30.0) + rng.normal(0.0, 1.0, 16)
    cases.append(head_case("nearly_perfect", x, y, [-20.0, B_025 - 2.0], COUNT_CONFIGS))

    x = np.concatenate([rng.normal(-3.0, 1.5, 4000), [0.7]])
    y = np.array([0] * 4000 + [1])
    cases.append(head_case("m1_1_m0_4000", x, y, [B_025 - 2.0], COUNT_CONFIGS))
    return cases


def build():
    rng = np.random.default_rng(SEED)
    bs = b_values(rng)
    beta_rows, inv_rows, edge_rows = section_beta(bs)
    return {
        "meta": {
            "description": "60-digit mpmath reference values for astra_np's numerical core",
            "generator": "tests/golden/make_golden.py",
            "reference": "astra_np.check.reference",
            "dps": DPS,
            "digits": DIGITS,
            "seed": SEED,
            "inputs": "float64 as repr and float.hex (use the hex form)",
        },
        "astra": section_astra(rng, bs),
        "threshold": section_threshold(bs),
        "slope_for_threshold": section_slope_for_threshold(rng),
        "slope_from_beta": beta_rows,
        "beta_from_slope": inv_rows,
        "band_edge": edge_rows,
        "z_transform": section_z(rng),
        "prob_cases": section_prob(rng),
        "logit_cases": section_logit(rng),
        "head_cases": section_head(rng),
        "count_head_cases": section_count_head(),
    }


def dumps(obj):
    return json.dumps(obj, indent=0, sort_keys=False) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the existing file; write nothing")
    ap.add_argument("--out", default=OUT, help="output path (default: %(default)s)")
    args = ap.parse_args(argv)
    text = dumps(build())
    if args.check:
        with open(args.out, encoding="utf-8") as f:
            same = f.read() == text
        print("golden file is up to date" if same else "golden file differs from the reference")
        return 0 if same else 1
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {args.out} ({len(text.encode()) / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
