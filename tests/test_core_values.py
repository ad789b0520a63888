r"""Values and analytic derivatives of the core against 60-digit references.

Layer 3 of the ground truth: the committed goldens (``tests/golden/core_golden.json``,
made by ``tests/golden/make_golden.py`` from :mod:`astra_np.check.reference`), plus
hypothesis-driven comparisons with the live mpmath reference over the bulk and
both tails.

Tolerances (astra_np's accuracy guarantees):

* ``astra_logit``: ``|error| <= 2e-15 * max(1, |logit|)`` for ``|b x| <= 700``,
  ``1 <= b <= 1000``;
* ``astra`` and ``1 - astra`` (``astra_complement``): relative error
  ``<= 2e-15 * max(1, b |x|)`` (the conditioning of ``b x``) on the same range;
* every partial, VJP and ``head_loss`` gradient: relative error ``<= 1e-12``
  away from sign changes.  "Away" is defined in ``tests/golden/goldens.py``: a
  derivative made of cancelling terms is compared with
  ``1e-12 * max(|ref|, 1e-3 * term_scale)``;
* results below ``TINY = 1e-300`` in magnitude only need absolute error 1e-300
  (gradual underflow; see ``goldens.py``).

Quantities without a stated guarantee get the bound stated (and justified)
at their test.
"""
import importlib.util
import math
import pathlib
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from astra_np.core import activation as A
from astra_np.core import losses as Lo
from astra_np.core import ztransform as Z


def _load_golden_script(filename, name):
    """Import a script of tests/golden/ (not a package) once, by file path."""
    if name not in sys.modules:
        path = pathlib.Path(__file__).resolve().parent / "golden" / filename
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


def _golden_tools():
    return _load_golden_script("goldens.py", "astra_np_tests_goldens")


G = _golden_tools()
GOLD = G.load()

RTOL_VALUE = 2e-15  # guarantee: astra / 1 - astra / astra_logit
RTOL_GRAD = 1e-12  # guarantee: partials, VJPs, head_loss gradients
TINY = G.TINY

# Half the profile's example budget (75 under "ci"): each example runs a 40-digit
# mpmath reference (~1-5 ms).
N_LIVE = max(10, settings.default.max_examples // 2)


# ---------------------------------------------------------------------------
# the golden file itself
# ---------------------------------------------------------------------------


def test_golden_file_is_well_formed():
    meta = GOLD["meta"]
    assert meta["dps"] == 60 and meta["digits"] >= 25
    assert G.PATH.endswith("core_golden.json")
    assert pathlib.Path(G.PATH).stat().st_size < 3_000_000
    for section in ("astra", "threshold", "slope_for_threshold", "slope_from_beta", "z_transform"):
        for row in GOLD[section]:
            for key in [k for k in row if k.endswith("_hex")]:
                v = float.fromhex(row[key])
                assert float(row[key[:-4]]) == v, (section, key, row[key])
    for case in GOLD["head_cases"]:
        xs = G.fl(case["x_hex"])
        assert np.array_equal(xs, np.array([float(v) for v in case["x"]]))
    # The grid reaches both tails and |b x| = 700 for every b.
    rows = GOLD["astra"]
    x = G.column(rows, "x")
    assert x.min() == -1e4 and x.max() == 1e4
    bs = G.column(rows, "b")
    for b in np.unique(bs):
        assert any(abs(G.bx_abs(r_x, b) - 700.0) < 1e-9 for r_x in x[bs == b]), b
    names = [c["name"] for c in GOLD["head_cases"]]
    assert "positives_at_minus_1e4" in names and "m1_1_m0_4000" in names


def test_golden_values_reproduce_from_reference():
    """A sample of the goldens recomputed now with astra_np.check.reference matches digit for digit."""
    R = pytest.importorskip("astra_np.check.reference")
    pytest.importorskip("mpmath")
    mg = _make_golden_module()
    rows = GOLD["astra"][::97]
    for row in rows:
        d = R.astra_all(G.fl(row["x_hex"]), G.fl(row["b_hex"]), dps=GOLD["meta"]["dps"])
        for key in ("y", "yc", "logit", "dy_dx", "dy_db", "dl_dx", "dl_db", "dy_db_scale", "dl_db_scale"):
            assert mg.num(d[key]) == row[key], (row["x"], row["b"], key)
    for row in GOLD["z_transform"][::37]:
        got = R.z_transform(G.fl(row["p_hex"]), G.fl(row["tau_hex"]), dps=GOLD["meta"]["dps"])
        assert mg.num(got) == row["z"]
    case = GOLD["head_cases"][0]
    res = case["results"][-1]
    d = R.head_loss_details(G.fl(case["x_hex"]), G.fl(res["beta_hex"]), case["y"],
                            loss=res["loss"], astra=res["astra"], z=res["z"], dps=GOLD["meta"]["dps"])
    assert mg.num(d["loss"]) == res["value"]
    assert [mg.num(v) for v in d["dL_dx"]] == res["dL_dx"]
    assert mg.num(d["dL_dbeta"]) == res["dL_dbeta"]


def _make_golden_module():
    return _load_golden_script("make_golden.py", "astra_np_tests_make_golden")


# ---------------------------------------------------------------------------
# ASTra (Eq. 4) on the golden grid
# ---------------------------------------------------------------------------


def _astra_rows(in_domain):
    rows = []
    for r in GOLD["astra"]:
        x, b = G.fl(r["x_hex"]), G.fl(r["b_hex"])
        inside = 1.0 <= b <= 1000.0 and G.bx_abs(x, b) <= 700.0
        if inside == in_domain:
            rows.append(r)
    return rows


ROWS_IN = _astra_rows(True)
ROWS_OUT = _astra_rows(False)


def _xb(rows):
    x, b = G.column(rows, "x"), G.column(rows, "b")
    return x, b, {"x": x, "b": b}


def test_domain_split_is_meaningful():
    assert len(ROWS_IN) > 800 and len(ROWS_OUT) > 100


def test_astra_logit_golden():
    x, b, inp = _xb(ROWS_IN)
    hi, lo = G.ref(ROWS_IN, "logit")
    # guarantee: |error| <= 2e-15 max(1, |logit|)
    G.assert_within("astra_logit", A.astra_logit(x, b), hi, lo, RTOL_VALUE * np.maximum(1.0, np.abs(hi)), inp)


def test_astra_and_complement_golden():
    x, b, inp = _xb(ROWS_IN)
    cond = np.maximum(1.0, np.abs(b * x))  # conditioning of b x
    for key, fn in (("y", A.astra), ("yc", A.astra_complement)):
        hi, lo = G.ref(ROWS_IN, key)
        # guarantee: relative error <= 2e-15 max(1, b|x|); TINY floor for underflow
        G.assert_within(key, fn(x, b), hi, lo, RTOL_VALUE * cond * np.abs(hi) + TINY, inp)


def test_astra_beyond_700_stays_finite_and_accurate():
    """|b x| > 700 is outside the guaranteed range; the logit, which never underflows,
    must still meet the same bound there, and y, 1 - y must be finite in [0, 1] and
    within the conditioning bound wherever the reference is a normal float64."""
    x, b, inp = _xb(ROWS_OUT)
    hi, lo = G.ref(ROWS_OUT, "logit")
    G.assert_within("astra_logit (|bx|>700)", A.astra_logit(x, b), hi, lo,
                    RTOL_VALUE * np.maximum(1.0, np.abs(hi)), inp)
    cond = np.maximum(1.0, np.abs(b * x))
    for key, fn in (("y", A.astra), ("yc", A.astra_complement)):
        got = fn(x, b)
        assert np.all(np.isfinite(got)) and np.all((got >= 0) & (got <= 1))
        hi, lo = G.ref(ROWS_OUT, key)
        G.assert_within(key + " (|bx|>700)", got, hi, lo, RTOL_VALUE * cond * np.abs(hi) + TINY, inp)


@pytest.mark.parametrize("rows", [ROWS_IN, ROWS_OUT], ids=["bx<=700", "bx>700"])
def test_astra_partials_golden(rows):
    x, b, inp = _xb(rows)
    dy_dx, dy_db = A.astra_partials(x, b)
    dl_dx, dl_db = A.astra_logit_partials(x, b)
    for name, got in (("dy_dx", dy_dx), ("dl_dx", dl_dx)):
        hi, lo = G.ref(rows, name)
        # guarantee: relative error 1e-12 (these never change sign)
        G.assert_within(name, got, hi, lo, RTOL_GRAD * np.abs(hi) + TINY, inp)
    for name, got in (("dy_db", dy_db), ("dl_db", dl_db)):
        hi, lo = G.ref(rows, name)
        scale, _ = G.ref(rows, name + "_scale")
        # guarantee: relative 1e-12 away from the sign change (goldens.py)
        G.assert_within(name, got, hi, lo, G.sign_change_bound(hi, scale, RTOL_GRAD), inp)


def test_astra_scalar_calls_match_array_calls():
    rows = ROWS_IN[::50]
    for r in rows:
        x, b = G.fl(r["x_hex"]), G.fl(r["b_hex"])
        y = A.astra(x, b)
        assert np.ndim(y) == 0
        arr = A.astra(np.array([x, x]), b)
        # same formula, same inputs: bit-identical (rtol = atol = 0)
        np.testing.assert_allclose(arr, [y, y], rtol=0, atol=0)


def _groups_by_b(rows):
    groups = {}
    for r in rows:
        groups.setdefault(r["b_hex"], []).append(r)
    return groups


def _decimal_dot(g, strings):
    """sum_i g_i * ref_i in 60-digit decimal arithmetic, returned as (hi, lo)."""
    import decimal

    ctx = decimal.Context(prec=60, Emin=-10 ** 9, Emax=10 ** 9)
    acc = decimal.Decimal(0)
    for gi, s in zip(g, strings):
        acc = ctx.add(acc, ctx.multiply(decimal.Decimal(float(gi)), ctx.create_decimal(s)))
    return G.hilo([str(acc)])


def test_astra_vjp_golden():
    rng = np.random.default_rng(7)
    for bhex, rows in _groups_by_b(ROWS_IN).items():
        x = G.column(rows, "x")
        b = float.fromhex(bhex)
        g = rng.normal(size=x.shape)
        gx, gb = A.astra_vjp(g, x, b)
        assert np.shape(gb) == ()
        # gx: elementwise products, relative 1e-12 (guarantee)
        hi, lo = G.ref(rows, "dy_dx")
        G.assert_within("astra_vjp gx", gx, g * hi, g * lo, RTOL_GRAD * np.abs(g * hi) + TINY, {"x": x})
        # gb: a signed sum; scale = sum |g_i| * term scale_i (goldens.py)
        ref_hi, ref_lo = _decimal_dot(g, [r["dy_db"] for r in rows])
        scale = np.sum(np.abs(g) * G.ref(rows, "dy_db_scale")[0])
        G.assert_within(f"astra_vjp gb (b={b!r})", gb, ref_hi, ref_lo,
                        G.sign_change_bound(ref_hi, scale, RTOL_GRAD))
        # b of shape (1,) broadcast against x: gb keeps shape (1,)
        _, gb1 = A.astra_vjp(g, x, np.array([b]))
        assert np.shape(gb1) == (1,)
        np.testing.assert_allclose(gb1[0], gb, rtol=1e-15, atol=0)  # same sum, same order
    # elementwise b: gb is the elementwise product
    x, b, inp = _xb(ROWS_IN)
    g = rng.normal(size=x.shape)
    _, gb = A.astra_vjp(g, x, b)
    hi, lo = G.ref(ROWS_IN, "dy_db")
    scale, _ = G.ref(ROWS_IN, "dy_db_scale")
    G.assert_within("astra_vjp gb elementwise", gb, g * hi, g * lo,
                    G.sign_change_bound(g * hi, g * scale, RTOL_GRAD), inp)


# ---------------------------------------------------------------------------
# threshold (Eq. 5), its inverse, beta -> b (Eq. 7), band edge
# ---------------------------------------------------------------------------


def test_threshold_golden():
    rows = GOLD["threshold"]
    b = G.column(rows, "b")
    hi, lo = G.ref(rows, "tau")
    # tau(b) = astra(0, b): the guaranteed 2e-15 relative (b|x| = 0)
    G.assert_within("threshold", A.threshold(b), hi, lo, RTOL_VALUE * np.abs(hi), {"b": b})
    hi, lo = G.ref(rows, "dtau_db")
    # a partial with no sign change (dtau/db < 0 for every b > 0): relative 1e-12
    G.assert_within("threshold_grad", A.threshold_grad(b), hi, lo, RTOL_GRAD * np.abs(hi) + TINY, {"b": b})


def test_slope_for_threshold_golden():
    rows = GOLD["slope_for_threshold"]
    tau = G.column(rows, "tau")
    cond = np.array([float(r["cond"]) for r in rows])
    hi, lo = G.ref(rows, "b")
    # The inverse amplifies the relative error of tau by cond = tau / (b |tau'(b)|);
    # we allow the same 2e-15 relative as for tau itself, times that conditioning.
    G.assert_within("slope_for_threshold", A.slope_for_threshold(tau), hi, lo,
                    RTOL_VALUE * np.maximum(1.0, cond) * np.abs(hi), {"tau": tau})
    assert A.slope_for_threshold(0.5) == 1.0


def test_slope_from_beta_golden():
    rows = GOLD["slope_from_beta"]
    beta = G.column(rows, "beta")
    # Eq. 7 is one exp and one addition: 2 ulps (4.5e-16) relative
    hi, lo = G.ref(rows, "b")
    G.assert_within("slope_from_beta", A.slope_from_beta(beta), hi, lo, 4.5e-16 * np.abs(hi), {"beta": beta})
    hi, lo = G.ref(rows, "db_dbeta")
    G.assert_within("slope_from_beta_grad", A.slope_from_beta_grad(beta), hi, lo,
                    4.5e-16 * np.abs(hi) + TINY, {"beta": beta})
    rows = GOLD["beta_from_slope"]
    b = G.column(rows, "b")
    hi, lo = G.ref(rows, "beta")
    # b - 2 or log(b - 1) with b - 1 exact (Sterbenz): 2 ulps relative
    G.assert_within("beta_from_slope", A.beta_from_slope(b), hi, lo, 4.5e-16 * np.abs(hi), {"b": b})


def test_band_edge_golden_is_where_astra_is_half():
    """x* = log((2^b - 1)/b)/b (Fig. 2): astra(x*) = 1/2 up to the rounding of x*."""
    rows = GOLD["band_edge"]
    b = G.column(rows, "b")
    hi, lo = G.ref(rows, "x_star")
    xs = np.log((2.0 ** b - 1.0) / b) / b
    # float64 evaluation of the closed form: a few ulps of |log((2^b-1)/b)| / b
    G.assert_within("band edge closed form", xs, hi, lo, 8 * 2.2e-16 * (np.abs(hi) + np.log(2.0)), {"b": b})
    y = A.astra(hi, b)
    dy_dx, _ = A.astra_partials(hi, b)
    # |y - 1/2| <= |dy/dx| * |x* rounding| + the astra value tolerance at 1/2
    allowed = dy_dx * np.abs(lo) * 2 + RTOL_VALUE * np.maximum(1.0, b * np.abs(hi)) * 0.5
    assert np.all(np.abs(y - 0.5) <= allowed), (b, y)


# ---------------------------------------------------------------------------
# z-transform (Eq. 6)
# ---------------------------------------------------------------------------


def test_z_transform_golden():
    rows = GOLD["z_transform"]
    p, tau = G.column(rows, "p"), G.column(rows, "tau")
    inp = {"p": p, "tau": tau}
    # z = a/(a + c) with a, c products of exact inputs: <= 4 roundings, relative
    # condition <= 2 (d log z / d log tau <= 1/(1 - tau)); 2e-15 (9 ulps) as for astra.
    hi, lo = G.ref(rows, "z")
    G.assert_within("z_transform", Z.z_transform(p, tau), hi, lo, RTOL_VALUE * np.abs(hi) + TINY, inp)
    hi, lo = G.ref(rows, "zc")
    G.assert_within("z_transform_complement", Z.z_transform_complement(p, tau), hi, lo,
                    RTOL_VALUE * np.abs(hi) + TINY, inp)
    dz_dp, dz_dtau = Z.z_transform_partials(p, tau)
    for name, got in (("dz_dp", dz_dp), ("dz_dtau", dz_dtau)):
        hi, lo = G.ref(rows, name)
        # guarantee: partials relative 1e-12 (neither changes sign)
        G.assert_within(name, got, hi, lo, RTOL_GRAD * np.abs(hi) + TINY, inp)


def test_z_transform_vjp_golden():
    rows = GOLD["z_transform"]
    rng = np.random.default_rng(11)
    groups = {}
    for r in rows:
        groups.setdefault(r["tau_hex"], []).append(r)
    for thex, grp in groups.items():
        p = G.column(grp, "p")
        tau = float.fromhex(thex)
        g = rng.normal(size=p.shape)
        gp, gtau = Z.z_transform_vjp(g, p, tau)
        hi, lo = G.ref(grp, "dz_dp")
        G.assert_within("z vjp gp", gp, g * hi, g * lo, RTOL_GRAD * np.abs(g * hi) + TINY, {"p": p})
        ref_hi, ref_lo = _decimal_dot(g, [r["dz_dtau"] for r in grp])
        scale = np.sum(np.abs(g * G.ref(grp, "dz_dtau")[0]))
        G.assert_within("z vjp gtau", gtau, ref_hi, ref_lo, G.sign_change_bound(ref_hi, scale, RTOL_GRAD))


# ---------------------------------------------------------------------------
# BCE, Eq. 8, GMN (Eq. 9) on probabilities and logits
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", GOLD["prob_cases"], ids=lambda c: c["name"])
def test_probability_losses_golden(case):
    p = G.fl(case["p_hex"])
    y = np.array(case["y"])
    # mean of n positive terms, each a few ulps: 1e-14 (45 ulps) covers n <= 201
    hi, lo = G.hilo(case["bce"])
    G.assert_within("bce", Lo.bce(p, y), hi, lo, 1e-14 * np.abs(hi))
    hi, lo = G.hilo(case["bce_grad"])
    G.assert_within("bce_grad", Lo.bce_grad(p, y), hi, lo, RTOL_GRAD * np.abs(hi) + TINY, {"p": p})
    hi, lo = G.hilo(case["approx_confusion"])
    # sums of non-negative terms (1 - p exact for p >= 1/2): 1e-14 relative
    G.assert_within("approx_confusion", Lo.approx_confusion(p, y).ravel(), hi, lo, 1e-14 * np.abs(hi) + TINY)
    hi, lo = G.hilo(case["gmn"])
    # J = 1 - G cancels when G ~ 1: 1e-14 relative plus 1e-15 absolute (a few ulps of 1)
    G.assert_within("gmn", Lo.gmn(p, y), hi, lo, 1e-14 * np.abs(hi) + 1e-15)
    hi, lo = G.hilo(case["gmn_grad"])
    G.assert_within("gmn_grad", Lo.gmn_grad(p, y), hi, lo, RTOL_GRAD * np.abs(hi) + TINY, {"p": p})


@pytest.mark.parametrize("case", GOLD["logit_cases"], ids=lambda c: c["name"])
def test_bce_with_logits_golden(case):
    l = G.fl(case["logit_hex"])
    y = np.array(case["y"])
    hi, lo = G.hilo(case["bce"])
    # mean of softplus terms, each a few ulps: 1e-14 relative
    G.assert_within("bce_with_logits", Lo.bce_with_logits(l, y), hi, lo, 1e-14 * np.abs(hi))
    hi, lo = G.hilo(case["bce_grad"])
    G.assert_within("bce_with_logits_grad", Lo.bce_with_logits_grad(l, y), hi, lo,
                    RTOL_GRAD * np.abs(hi) + TINY, {"logit": l})


# ---------------------------------------------------------------------------
# head_loss
# ---------------------------------------------------------------------------


def _head_params():
    out = []
    for case in GOLD["head_cases"]:
        for res in case["results"]:
            ident = f"{case['name']}-{res['loss']}-astra{int(res['astra'])}-z{int(res['z'])}-beta{res['beta']}"
            out.append(pytest.param(case, res, id=ident))
    return out


def check_head(x, y, beta, res, got, label=""):
    """Compare a head_loss result with reference dict ``res`` (golden format)."""
    value, d_x, d_beta = got
    assert np.shape(d_x) == np.shape(x)
    hi, lo = G.hilo(res["value"])
    if res["loss"] == "bce":
        # mean of softplus terms of logits accurate to 2e-15 max(1,|l|): 1e-13 relative
        allowed = 1e-13 * np.abs(hi)
    else:
        # J = 1 - G: 1e-13 relative plus 1e-15 absolute (ulps of 1)
        allowed = 1e-13 * np.abs(hi) + 1e-15
    G.assert_within(f"{label} head_loss value", value, hi, lo, allowed)
    hi, lo = G.hilo(res["dL_dx"])
    # guarantee: relative 1e-12 (dL/dx_i is a single product, no cancellation)
    G.assert_within(f"{label} dL_dx", d_x, hi, lo, RTOL_GRAD * np.abs(hi) + TINY, {"x": x, "y": y})
    hi, lo = G.hilo(res["dL_dbeta"])
    scale, _ = G.hilo(res["dL_dbeta_scale"])
    if not res["astra"]:
        assert d_beta == 0.0
    G.assert_within(f"{label} dL_dbeta", d_beta, hi, lo, G.sign_change_bound(hi, scale, RTOL_GRAD))


@pytest.mark.parametrize("case,res", _head_params())
def test_head_loss_golden(case, res):
    x = G.fl(case["x_hex"])
    y = np.array(case["y"])
    beta = G.fl(res["beta_hex"])
    got = Lo.head_loss(x, beta, y, loss=res["loss"], astra=res["astra"], z=res["z"])
    assert np.all(np.isfinite(got[1])) and math.isfinite(got[0]) and math.isfinite(got[2])
    check_head(x, y, beta, res, got, case["name"])


def test_head_loss_gmn_all_positives_underflow():
    """Every positive at x = -1e4: z underflows in float64 yet the loss is finite (= 1
    to float64) and the gradients are finite, matching the reference's ~e^-36000."""
    case = next(c for c in GOLD["head_cases"] if c["name"] == "positives_at_minus_1e4")
    x = G.fl(case["x_hex"])
    y = np.array(case["y"])
    for beta in (7.396348760419537 - 2.0, 0.0, 85.37):
        L, gx, gb = Lo.head_loss(x, beta, y, loss="gmn", astra=True, z=True)
        assert L == 1.0
        assert np.all(np.isfinite(gx)) and math.isfinite(gb)
        assert np.all(np.abs(gx) <= TINY) and abs(gb) <= TINY


# ---------------------------------------------------------------------------
# live mpmath reference, hypothesis-driven (bulk and tails)
# ---------------------------------------------------------------------------

def _reference():
    pytest.importorskip("mpmath")
    from astra_np.check import reference

    return reference


def _hilo_mp(v):
    import mpmath

    return G.hilo([mpmath.nstr(v, 40, min_fixed=1, max_fixed=0)])


def check_astra_point(x, b):
    ref = _reference().astra_all(x, b, dps=40)
    inside = 1.0 <= b <= 1000.0 and G.bx_abs(x, b) <= 700.0
    hi, lo = _hilo_mp(ref["logit"])
    G.assert_within("astra_logit", A.astra_logit(x, b), hi, lo, RTOL_VALUE * max(1.0, abs(hi[0])), {"x": x, "b": b})
    if inside:
        cond = max(1.0, abs(b * x))
        for key, fn in (("y", A.astra), ("yc", A.astra_complement)):
            hi, lo = _hilo_mp(ref[key])
            G.assert_within(key, fn(x, b), hi, lo, RTOL_VALUE * cond * abs(hi[0]) + TINY, {"x": x, "b": b})
    dy_dx, dy_db = A.astra_partials(x, b)
    dl_dx, dl_db = A.astra_logit_partials(x, b)
    for key, got in (("dy_dx", dy_dx), ("dl_dx", dl_dx)):
        hi, lo = _hilo_mp(ref[key])
        G.assert_within(key, got, hi, lo, RTOL_GRAD * abs(hi[0]) + TINY, {"x": x, "b": b})
    for key, got in (("dy_db", dy_db), ("dl_db", dl_db)):
        hi, lo = _hilo_mp(ref[key])
        scale = _hilo_mp(ref[key + "_scale"])[0]
        G.assert_within(key, got, hi, lo, G.sign_change_bound(hi, scale, RTOL_GRAD), {"x": x, "b": b})


slopes = st.floats(min_value=1.0, max_value=1000.0)


@settings(max_examples=N_LIVE)
@given(b=slopes, t=st.floats(min_value=-30.0, max_value=30.0))
def test_live_astra_bulk(b, t):
    check_astra_point(t / b, b)


@settings(max_examples=N_LIVE)
@given(b=slopes, t=st.floats(min_value=30.0, max_value=700.0), sign=st.sampled_from([-1.0, 1.0]))
def test_live_astra_tails(b, t, sign):
    check_astra_point(sign * t / b, b)


@settings(max_examples=N_LIVE)
@given(b=slopes, x=st.floats(min_value=-1e-3, max_value=1e-3, allow_subnormal=True))
def test_live_astra_near_zero(b, x):
    check_astra_point(x, b)


#: Absolute floor of the huge-slope comparison: a few spacings of the subnormal numbers,
#: where results below the normal range (b near 1.8e308) are rounded.
SUBNORMAL_ATOL = 4 * 5e-324


@settings(max_examples=N_LIVE)
@given(e=st.floats(min_value=150.0, max_value=308.2), t=st.floats(min_value=-40.0, max_value=40.0))
def test_live_logit_partials_at_huge_slopes(e, t):
    """Slopes 1e150 to 1.6e308 (tau down to 4e-306) near the threshold, x = t / b. The
    beta partial is tiny there (about -log(b)/(b^2 tau) ~ -1/b at x = 0) but a float64
    number, normal down to b ~ 1e308: it must keep its relative accuracy (1e-12) instead
    of underflowing through b^2 (``TINY`` of the other comparisons would hide that)."""
    b = 10.0 ** e
    x = t / b
    ref = _reference().astra_all(x, b, dps=40)
    dl_dx, dl_db = A.astra_logit_partials(x, b)
    hi, lo = _hilo_mp(ref["dl_dx"])
    G.assert_within("dl_dx", dl_dx, hi, lo, RTOL_GRAD * abs(hi[0]) + SUBNORMAL_ATOL, {"x": x, "b": b})
    hi, lo = _hilo_mp(ref["dl_db"])
    scale = _hilo_mp(ref["dl_db_scale"])[0]
    # the bound of G.sign_change_bound with the subnormal floor in place of TINY
    allowed = RTOL_GRAD * np.maximum(np.abs(hi), G.SIGN_CHANGE_FRACTION * np.abs(scale)) + SUBNORMAL_ATOL
    G.assert_within("dl_db", dl_db, hi, lo, allowed, {"x": x, "b": b})


@settings(max_examples=N_LIVE)
@given(b=slopes, e=st.floats(min_value=-8.0, max_value=4.0), sign=st.sampled_from([-1.0, 1.0]))
def test_live_astra_logspaced_x(b, e, sign):
    """|x| log-uniform over [1e-8, 1e4]: |b x| reaches 1e7 (beyond the guaranteed 700,
    where only the logit and the partials are compared)."""
    check_astra_point(sign * 10.0 ** e, b)


@settings(max_examples=N_LIVE)
@given(b=slopes, e=st.floats(min_value=4.0, max_value=300.0), sign=st.sampled_from([-1.0, 1.0]))
def test_live_astra_huge_x(b, e, sign):
    """|x| up to 1e300 (|b x| < 1e303, no overflow): the logit and the partials keep
    their bounds ("x any finite float64"); y and 1 - y are exactly 0 or 1 here."""
    check_astra_point(sign * 10.0 ** e, b)


@settings(max_examples=N_LIVE)
@given(p=st.floats(min_value=0.0, max_value=1.0), tau=st.floats(min_value=1e-6, max_value=0.5))
def test_live_z_transform(p, tau):
    R_ = _reference()
    inp = {"p": p, "tau": tau}
    hi, lo = _hilo_mp(R_.z_transform(p, tau, dps=40))
    G.assert_within("z", Z.z_transform(p, tau), hi, lo, RTOL_VALUE * abs(hi[0]) + TINY, inp)
    dzdp, dzdt = R_.z_transform_partials(p, tau, dps=40)
    gp, gt = Z.z_transform_partials(p, tau)
    for name, got, ref in (("dz_dp", gp, dzdp), ("dz_dtau", gt, dzdt)):
        hi, lo = _hilo_mp(ref)
        G.assert_within(name, got, hi, lo, RTOL_GRAD * abs(hi[0]) + TINY, inp)


@settings(max_examples=N_LIVE)
@given(tau=st.floats(min_value=1e-12, max_value=0.5))
def test_live_slope_for_threshold(tau):
    R_ = _reference()
    b_ref = R_.slope_for_threshold(tau, dps=40)
    import mpmath

    with mpmath.mp.workdps(40):
        cond = float(mpmath.mpf(tau) / (b_ref * abs(R_.threshold_grad(float(b_ref), dps=40))))
    hi, lo = _hilo_mp(b_ref)
    # as in test_slope_for_threshold_golden
    G.assert_within("slope_for_threshold", A.slope_for_threshold(tau), hi, lo,
                    RTOL_VALUE * max(1.0, cond) * abs(hi[0]), {"tau": tau})


head_x = st.one_of(
    st.floats(min_value=-6.0, max_value=6.0),  # bulk
    st.floats(min_value=-1e4, max_value=-30.0),  # negative tail
    st.floats(min_value=30.0, max_value=1e4),  # positive tail
)


@settings(max_examples=N_LIVE)
@given(
    data=st.data(),
    n=st.integers(min_value=2, max_value=7),
    beta=st.one_of(st.floats(min_value=-8.0, max_value=-1e-3), st.floats(min_value=1e-3, max_value=200.0)),
    loss=st.sampled_from(["bce", "gmn"]),
    astra=st.booleans(),
    z=st.booleans(),
)
def test_live_head_loss(data, n, beta, loss, astra, z):
    x = np.array(data.draw(st.lists(head_x, min_size=n, max_size=n)))
    y = np.array(data.draw(st.lists(st.sampled_from([0, 1]), min_size=n, max_size=n)))
    y[0], y[1] = 0, 1  # both classes (GMN needs them)
    import mpmath

    d = _reference().head_loss_details(x, beta, y, loss=loss, astra=astra, z=z, dps=40)
    res = {
        "loss": loss, "astra": astra, "z": z,
        "value": mpmath.nstr(d["loss"], 40, min_fixed=1, max_fixed=0),
        "dL_dx": [mpmath.nstr(v, 40, min_fixed=1, max_fixed=0) for v in d["dL_dx"]],
        "dL_dbeta": mpmath.nstr(d["dL_dbeta"], 40, min_fixed=1, max_fixed=0),
        "dL_dbeta_scale": mpmath.nstr(d["dL_dbeta_scale"], 40, min_fixed=1, max_fixed=0),
    }
    got = Lo.head_loss(x, beta, y, loss=loss, astra=astra, z=z)
    check_head(x, y, beta, res, got, "live")


# ---------------------------------------------------------------------------
# Counted MCC stays within its bounds
# ---------------------------------------------------------------------------
@given(tp=st.integers(1, 10**7), tn=st.integers(1, 10**7))
def test_a_perfect_classifier_has_mcc_exactly_one(tp, tn):
    from astra_np.core.metrics import mcc

    assert mcc([[tn, 0], [0, tp]]) == 1.0   # not 1.0000000000000002 or 0.9999999999999998
    assert mcc([[0, tn], [tp, 0]]) == -1.0


@given(st.lists(st.integers(0, 10**9), min_size=4, max_size=4))
def test_counted_mcc_never_leaves_its_bounds(counts):
    from astra_np.core.metrics import mcc

    assert -1.0 <= mcc(np.array(counts, dtype=float).reshape(2, 2)) <= 1.0
