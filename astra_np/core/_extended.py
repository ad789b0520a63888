r"""Complex numbers with an unbounded binary exponent, for the complex step of a definition.

A loss on the approximated counts (Eq. 8) is stated once, plainly, by its
``definition(tn, fp, fn, tp, xp)`` (:func:`astra_np.core.registry.register_count_loss`).
Differentiating it by the complex step,

.. math::

    f'(c) = \operatorname{Im} f(c + ih)/h,

is free of cancellation, but in float64 a count such as :math:`TP = e^{-800}` underflows
to 0 and its products overflow or vanish long before the loss does. An
:class:`Extended` number is a complex number whose real and imaginary parts are each
:math:`m\,2^e` with a float mantissa and a Python integer exponent: every product and
quotient is exact in the exponent, the imaginary part keeps its digits however far below
the real part it lies, so a definition evaluated on :class:`Extended` counts reaches
the tails the way mpmath does, at float64 cost. Its math namespace :data:`EXTENDED`
(``sqrt``, ``log``, ``exp``, ``log1p``, ``expm1``) lifts the real, stable functions to
first-order-exact complex arithmetic, :math:`f(a + i\eta) = f(a) + i\eta f'(a)`, as
the complex-safe forms of the checking tools do for arrays.

Plain ``+``, ``-``, ``*``, ``/`` and ``**`` with Python numbers work as for complex
numbers; comparisons look at the real parts (as the complex step's branches do).
"""
import math
from types import SimpleNamespace

__all__ = ["Extended", "EXTENDED", "extended", "exp_of_log", "imaginary_exp"]

_LN2 = math.log(2.0)
# ln 2 split so that k * _LN2_HI is exact for |k| < 2**20 (Cody and Waite).
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
# Beyond these exponents a value is no float64: below, it counts as 0 against 1.
_EXP_PLAIN = 1000


class _Real:
    r"""A real number :math:`m\,2^e`, ``m`` a float in [1/2, 1) (or 0, inf, nan), ``e`` an int."""

    __slots__ = ("m", "e")

    def __init__(self, m, e=0):
        m = float(m)
        if m == 0.0 or not math.isfinite(m):
            self.m, self.e = m, 0
        else:
            f, k = math.frexp(m)
            self.m, self.e = f, int(e) + k

    def __float__(self):
        try:
            return math.ldexp(self.m, max(self.e, -2200))
        except OverflowError:  # beyond the float64 range: the correctly signed infinity
            return math.copysign(math.inf, self.m)

    def plain(self):
        return self.m == 0.0 or -_EXP_PLAIN <= self.e <= _EXP_PLAIN

    def __add__(self, o):
        if self.m == 0.0:
            return o
        if o.m == 0.0:
            return self
        e = max(self.e, o.e)
        return _Real(math.ldexp(self.m, max(self.e - e, -2200)) + math.ldexp(o.m, max(o.e - e, -2200)), e)

    def __neg__(self):
        return _Real(-self.m, self.e)

    def __sub__(self, o):
        return self + (-o)

    def __mul__(self, o):
        return _Real(self.m * o.m, self.e + o.e)

    def __truediv__(self, o):
        return _Real(self.m / o.m, self.e - o.e)

    def power(self, p):
        r""":math:`x^p` for ``x > 0`` (any real ``p``) or an integer ``p``."""
        if float(p).is_integer() and abs(p) <= 64:
            return _Real(self.m ** int(p), self.e * int(p)) if p >= 0 else _Real(1.0) / self.power(-p)
        if not self.m > 0.0:
            return _Real(math.nan)
        q = self.e * float(p)
        k = math.floor(q)
        return _Real(self.m ** p * 2.0 ** (q - k), k)

    def log(self):
        r""":math:`\log x` (a float): of the value itself when it is a float64 (no
        cancellation next to 1), else :math:`\log m + e\log 2`."""
        if not self.m > 0.0:
            return math.nan
        if self.plain():
            return math.log(float(self))
        return math.log(self.m) + self.e * _LN2


def _exp_real(r):
    r""":math:`e^r` of a float as a :class:`_Real` (:math:`2^k e^{r - k\log 2}`)."""
    if abs(r) < 700.0 or not math.isfinite(r):
        return _Real(math.exp(r))
    k = round(r / _LN2)
    return _Real(math.exp((r - k * _LN2_HI) - k * _LN2_LO), k)


class Extended:
    r"""A complex number :math:`a + i\eta` whose parts each have an unbounded exponent.

    The real part ``re`` and the imaginary part ``im`` are :class:`_Real` numbers
    :math:`m\,2^e`: the complex step's imaginary part, many orders of magnitude below the
    real part, keeps every digit (a complex128 would hold it only within 1e-308 of the
    real part).
    """

    __slots__ = ("re", "im")

    def __init__(self, value=0.0, im=None):
        if im is not None:
            self.re, self.im = value, im
            return
        value = complex(value)
        self.re, self.im = _Real(value.real), _Real(value.imag)

    # conversions -----------------------------------------------------------------
    def __complex__(self):
        return complex(float(self.re), float(self.im))

    def __float__(self):
        return float(self.re)

    def __repr__(self):
        return f"Extended({complex(self)!r})"

    def real_part(self):
        """The real part, as an :class:`Extended` with imaginary part 0."""
        return Extended(self.re, _Real(0.0))

    def imaginary_part(self):
        """``i`` times the imaginary part, as an :class:`Extended` with real part 0."""
        return Extended(_Real(0.0), self.im)

    def imag_over(self, h):
        r""":math:`\operatorname{Im}(self)/h` of a real :class:`Extended` ``h``, as a float."""
        return float(self.im / h.re)

    # arithmetic --------------------------------------------------------------------
    def __add__(self, other):
        o = extended(other)
        return o if o is NotImplemented else Extended(self.re + o.re, self.im + o.im)

    __radd__ = __add__

    def __neg__(self):
        return Extended(-self.re, -self.im)

    def __pos__(self):
        return self

    def __sub__(self, other):
        o = extended(other)
        return o if o is NotImplemented else self + (-o)

    def __rsub__(self, other):
        o = extended(other)
        return o if o is NotImplemented else o + (-self)

    def __mul__(self, other):
        o = extended(other)
        if o is NotImplemented:
            return o
        return Extended(self.re * o.re - self.im * o.im, self.re * o.im + self.im * o.re)

    __rmul__ = __mul__

    def __truediv__(self, other):
        o = extended(other)
        if o is NotImplemented:
            return o
        den = o.re * o.re + o.im * o.im
        return Extended((self.re * o.re + self.im * o.im) / den, (self.im * o.re - self.re * o.im) / den)

    def __rtruediv__(self, other):
        o = extended(other)
        return o if o is NotImplemented else o / self

    def __pow__(self, p):
        if isinstance(p, Extended):
            return exp(p * log(self))
        p = float(p)
        # lift a**p: a**p + i eta p a**(p - 1)
        return Extended(self.re.power(p), self.im * _Real(p) * self.re.power(p - 1.0))

    def __rpow__(self, base):
        return exp(self * log(extended(base)))

    def __abs__(self):
        return -self if self.re.m < 0 else self

    # comparisons (real parts) -------------------------------------------------------
    def _cmp(self, other):
        d = (self - extended(other)).re.m
        return (d > 0) - (d < 0)

    def __lt__(self, other):
        return self._cmp(other) < 0

    def __le__(self, other):
        return self._cmp(other) <= 0

    def __gt__(self, other):
        return self._cmp(other) > 0

    def __ge__(self, other):
        return self._cmp(other) >= 0


def extended(v):
    r"""``v`` as an :class:`Extended` (Python and NumPy numbers, complex included)."""
    if isinstance(v, Extended):
        return v
    try:
        return Extended(complex(v))
    except TypeError:
        return NotImplemented


def _lift(x, value, slope):
    r""":math:`f(a) + i\eta f'(a)` from ``value = f(a)`` and ``slope = f'(a)`` (:class:`_Real`)."""
    return Extended(value, x.im * slope if x.im.m else _Real(0.0))


def log(x):
    r"""Natural logarithm (positive real part)."""
    x = extended(x)
    return _lift(x, _Real(x.re.log()), _Real(1.0) / x.re)


def exp(x):
    r"""Exponential with an unbounded result exponent."""
    x = extended(x)
    value = _exp_real(float(x.re))
    return _lift(x, value, value)


def imaginary_exp(log_abs, sign=1.0):
    r""":math:`i\,\mathrm{sign}\,e^{\ell}` (a purely imaginary :class:`Extended`) of a real log ``log_abs``."""
    return Extended(_Real(0.0), _Real(sign) * _exp_real(float(log_abs)))


def exp_of_log(log_value):
    r""":math:`e^{\ell}` of a log (real or complex number), as an :class:`Extended`."""
    return exp(log_value)


def log1p(x):
    r""":math:`\log(1 + x)`: ``x`` itself below :math:`2^{-1000}` (to first order), the
    lifted ``math.log1p`` for ordinary ``x``."""
    x = extended(x)
    one_plus = _Real(1.0) + x.re
    if x.re.m != 0.0 and x.re.e < -_EXP_PLAIN:
        value = x.re
    elif x.re.plain():
        value = _Real(math.log1p(float(x.re)))
    else:
        value = _Real(one_plus.log())
    return _lift(x, value, _Real(1.0) / one_plus)


def expm1(x):
    r""":math:`e^x - 1`: ``x`` itself below :math:`2^{-1000}`, the lifted ``math.expm1`` below 1."""
    x = extended(x)
    a = float(x.re)
    if x.re.m != 0.0 and x.re.e < -_EXP_PLAIN:
        value = x.re
    elif abs(a) < 1.0:
        value = _Real(math.expm1(a))
    else:
        value = _exp_real(a) - _Real(1.0)
    return _lift(x, value, _exp_real(a))


def sqrt(x):
    r"""Square root (positive real part)."""
    return extended(x) ** 0.5


#: The math namespace ``xp`` of a definition evaluated on :class:`Extended` numbers.
EXTENDED = SimpleNamespace(sqrt=sqrt, log=log, exp=exp, log1p=log1p, expm1=expm1, pi=math.pi, e=math.e)
