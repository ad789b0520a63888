"""Complex numbers with unbounded exponents (astra_np.core._extended): the complex step of
a definition, exact to rounding where float64 and complex128 underflow or overflow."""
import math

import mpmath
import pytest

from astra_np.core._extended import EXTENDED, Extended, exp_of_log, imaginary_exp

xp = EXTENDED


def _step(f, log_x):
    """``(f(x), x f'(x), x)`` at ``x = e^log_x`` by the complex step ``x + i h``, ``h = 2^-60 x``
    (``x`` as an mpf, exactly the number differentiated)."""
    h_log = log_x - 60 * math.log(2.0)
    x = exp_of_log(log_x)
    out = f(x + imaginary_exp(h_log))
    h = imaginary_exp(h_log).im
    x_exact = mpmath.ldexp(mpmath.mpf(x.re.m), x.re.e)
    return out, float(out.im / h * x.re), x_exact


def test_values_beyond_the_float64_range_keep_their_digits():
    tiny = exp_of_log(-10000.0)
    assert float(tiny) == 0.0 and float(tiny / exp_of_log(-10001.0)) == pytest.approx(math.e, rel=1e-13)
    assert float(xp.log(tiny)) == pytest.approx(-10000.0, rel=1e-15)
    assert float(xp.sqrt(tiny) / exp_of_log(-5000.0)) == pytest.approx(1.0, rel=1e-13)
    assert float(exp_of_log(800.0)) == math.inf and float(exp_of_log(800.0) * exp_of_log(-790.0)) == pytest.approx(
        math.exp(10.0), rel=1e-13)


@pytest.mark.parametrize("name, f, df", [
    ("sqrt", lambda v, m: m.sqrt(v), lambda v: 0.5 / mpmath.sqrt(v)),
    ("log", lambda v, m: m.log(v), lambda v: 1 / v),
    ("log1p", lambda v, m: m.log1p(v), lambda v: 1 / (1 + v)),
    ("expm1", lambda v, m: m.expm1(v), lambda v: mpmath.exp(v)),
    ("quotient", lambda v, m: (1 - v) / (1 + 3 * v) ** 2, lambda v: -(1 + 3 * v) ** -2 - 6 * (1 - v) * (1 + 3 * v) ** -3),
])
@pytest.mark.parametrize("log_x", [-900.0, -30.0, -1e-3, 0.4, 5.0])
def test_the_complex_step_is_exact_to_rounding(name, f, df, log_x):
    # the imaginary part lies 1e-300 below the real part (a complex128 would lose it)
    # (x f'(x): the derivative in log x, a float64 number whatever the size of x)
    with mpmath.workdps(60):
        value, x_slope, x = _step(lambda v: f(v, xp), log_x)
        assert float(value.re) == pytest.approx(float(f(x, mpmath)), rel=1e-14, abs=1e-300)
        assert x_slope == pytest.approx(float(df(x) * x), rel=1e-13, abs=0.0)


def test_log_next_to_1_does_not_cancel():
    x = Extended(1.0 + 2.0 ** -40)
    assert float(xp.log(x)) == pytest.approx(2.0 ** -40, rel=1e-11)


def test_comparisons_and_conversions_use_the_real_part():
    a, b = Extended(2.0 + 1e-30j), Extended(3.0)
    assert a < b and b > a and a <= a and not a > b
    assert complex(a) == 2.0 + 1e-30j and float(-a) == -2.0 and float(abs(-a)) == 2.0
    assert complex(a ** 2) == pytest.approx(4.0 + 4e-30j, rel=1e-15)
