r"""Checks of ``derivations/beta_to_b.md``: the slope b from beta (Eq. 7).

The kinds of check and the tolerances: ``tests/derivation_helpers.py``.
"""
import math

import numpy as np
import pytest

from derivation_helpers import (
    B_TAU_025,
    astra_module,
    sp,
)


def test_beta_symbolic():
    beta = sp.Symbol("beta", real=True)
    bb = sp.Symbol("b", real=True)
    pos, neg = 2 + beta, 1 + sp.exp(beta)
    # value and first derivative continuous at 0, second derivative jumps from 1 to 0
    assert sp.limit(pos, beta, 0, "+") == neg.subs(beta, 0) == 2
    assert sp.limit(sp.diff(pos, beta), beta, 0, "+") == sp.diff(neg, beta).subs(beta, 0) == 1
    assert sp.diff(pos, beta, 2) == 0 and sp.diff(neg, beta, 2).subs(beta, 0) == 1
    # b > 1 and increasing on both pieces
    assert sp.limit(neg, beta, -sp.oo) == 1
    # inverse on each piece, and d beta/db = 1/(db/dbeta)
    assert sp.simplify(pos.subs(beta, bb - 2) - bb) == 0
    assert sp.simplify(neg.subs(beta, sp.log(bb - 1)) - bb) == 0
    assert sp.simplify(sp.diff(sp.log(bb - 1), bb) * sp.exp(beta).subs(beta, sp.log(bb - 1)) - 1) == 0
    # tau_init = 0.25: beta = b - 2 = 5.396348760419537
    assert abs((B_TAU_025 - 2) - 5.396348760419537) < 1e-15
    # b rounds to 1 below log(2^-53) = -36.74
    assert abs(math.log(2.0 ** -53) + 36.7368) < 1e-4
    assert 1.0 + math.exp(-36.8) == 1.0 and 1.0 + math.exp(-36.7) > 1.0


def test_beta_code_matches_doc():
    act = astra_module("core.activation")
    betas = np.array([-700.0, -36.8, -36.7, -20.0, -10.0, -1.0, -1e-300, 0.0, 1e-300, 0.5, 5.396348760419537, 1e3])
    b = act.slope_from_beta(betas)
    db = act.slope_from_beta_grad(betas)
    for be, bv, dv in zip(betas, b, db):
        if be > 0:
            assert bv == 2.0 + be and dv == 1.0
        else:
            assert bv == 1.0 + math.exp(be)
            # e^beta, exactly as libm rounds it (rtol 0: the same operation)
            assert dv == math.exp(be)
    assert b[1] == 1.0 and b[2] > 1.0
    # round trip: |beta(b(beta)) - beta| <= 2^-53 e^{-beta} (beta <= 0), <= 2^-52 (2 + beta) (beta > 0)
    for be in [-30.0, -20.0, -10.0, -1.0, -1e-8, 0.0, 1e-8, 0.5, 5.396348760419537, 1e3, 1e10]:
        back = float(act.beta_from_slope(act.slope_from_beta(be)))
        bound = 2.0 ** -53 * math.exp(-be) if be <= 0 else 2.0 ** -52 * (2 + be)
        assert abs(back - be) <= bound * 1.0000001 + 1e-300
    # beta(b) for given floats b: b - 2 and log(b - 1), with b - 1 exact for 1 < b <= 2
    for bv in [1.0 + 2.0 ** -52, 1.5, 2.0, 2.0 + 2.0 ** -51, 7.5]:
        want = bv - 2.0 if bv > 2 else math.log(bv - 1.0)
        assert float(act.beta_from_slope(bv)) == want
    for bad in [1.0, 0.5, -3.0]:
        with pytest.raises(ValueError, match="b"):
            act.beta_from_slope(bad)
