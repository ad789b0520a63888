r"""What the reference vectors describe: the functions, their calls, tolerances and tags.

:data:`FUNCTIONS` is the function table every other part of :mod:`astra_np.check.vectors`
derives from: for each function its equation (Eqs. 4-9), formula, positional
arguments, the kind of gradient and the calls (names a checked implementation
provides) that produce the value and the gradients. The output heads are one entry
per training method of :data:`astra_np.core.losses.METHODS`, in the paper's order.
"""
from collections.abc import Mapping

from ...core.losses import METHODS
from ...core.registry import get_loss

SCHEMA_VERSION = 1
FORMAT_NAME = "astra_np reference vectors"
CASE_SETS = ("default", "hard", "all")

# Smallest positive normal float64. Below it results are subnormal and carry fewer
# significant bits, so absolute differences smaller than it are never meaningful; it is
# the absolute tolerance of every case that does not state a larger one.
TINY = 2.2250738585072014e-308
EPS = 2.0 ** -52

# Slopes whose threshold tau(b) (Eq. 5) is 0.25 and 0.05, correctly rounded from a
# 60-digit root (7.39634876041953683903..., 87.37093590344008086920...).
B_TAU_025 = float.fromhex("0x1.d95dc730f3f8ap+2")
B_TAU_005 = float.fromhex("0x1.5d7bd69f18bfep+6")

# --------------------------------------------------------------------------------------
# Function table: how each function is called and what its gradient means.
# --------------------------------------------------------------------------------------

def loss_traits(loss):
    r"""What the vectors need to know about a loss (the ``loss`` keyword of a method).

    Read from the registry (:func:`astra_np.core.registry.get_loss`). Returns a dict with
    ``description`` (the formula's name in the table), ``needs_both_classes`` (a
    confusion-matrix loss such as GMN, Eq. 9, is defined only with a positive and a
    negative, so its heads have no one-example case) and ``rare_positive_case`` (the
    head of such a loss is also checked with one positive among 4000 negatives, where
    its gradient is largest).

    Raises
    ------
    ValueError
        For a loss the registry does not know.
    """
    entry = get_loss(loss)
    return {"description": entry.description, "needs_both_classes": entry.needs_both_classes,
            "rare_positive_case": entry.needs_both_classes}


def head_key(method):
    """Function key of the output head of ``method`` (a key of ``METHODS``)."""
    return f"head_loss[{method}]"


def head_method(function):
    """The method of a head function key, or None for the other functions."""
    if function.startswith("head_loss[") and function.endswith("]"):
        return function[len("head_loss["):-1]
    return None


#: Requirement tags a case may carry (``requires``): IEEE features beyond ordinary
#: float64 arithmetic that an implementation needs to pass it.
REQUIREMENTS = {
    "subnormal": ("an input is subnormal (nonzero, below 2.2250738585072014e-308 in "
                  "magnitude); an implementation that flushes subnormals to zero (XLA on "
                  "CPU, most GPU kernels, -ffast-math) reads it as 0"),
}


def _elementwise(equation, formula, args, value_call, grad_call, note=""):
    return {
        "equation": equation,
        "formula": formula,
        "gradient_kind": "elementwise",
        "args": [{"name": a, "dtype": "float64", "differentiable": True} for a in args],
        "kwargs": {},
        "calls": [
            {"name": value_call, "returns": ["value"]},
            {"name": grad_call, "returns": ["gradient." + a for a in args]},
        ],
        "note": note,
    }


def _reduction(equation, formula, value_call, grad_call, note=""):
    return {
        "equation": equation,
        "formula": formula,
        "gradient_kind": "reduction",
        "args": [
            {"name": "p", "dtype": "float64", "differentiable": True},
            {"name": "y", "dtype": "int64", "differentiable": False},
        ],
        "kwargs": {},
        "calls": [
            {"name": value_call, "returns": ["value"]},
            {"name": grad_call, "returns": ["gradient.p"]},
        ],
        "note": note,
    }


def _head(method):
    kw = METHODS[method]
    chain = "z-transform (Eq. 6) of ASTra (Eq. 4), b = b(beta) (Eq. 7)" if kw["astra"] else (
        "logistic sigmoid of x (ASTra with b = 1); beta is not used and dL/dbeta = 0")
    loss = loss_traits(kw["loss"])["description"]
    return {
        "equation": "Eqs. 4, 6, 7, 8, 9",
        "formula": f"{loss} of the {chain}, evaluated in logit space",
        "gradient_kind": "reduction",
        "args": [
            {"name": "x", "dtype": "float64", "differentiable": True},
            {"name": "beta", "dtype": "float64", "differentiable": True},
            {"name": "y", "dtype": "int64", "differentiable": False},
        ],
        "kwargs": dict(kw),
        "calls": [{"name": "head_loss", "returns": ["value", "gradient.x", "gradient.beta"]}],
        "note": ("x holds the output unit's pre-activations, y the labels; the logit fed "
                 "to the loss is astra_logit(x, b) - astra_logit(0, b) with z, "
                 "astra_logit(x, b) without"),
    }


#: For every function: its equation, formula, arguments, gradient meaning and the calls
#: (names a checked implementation provides) that produce the value and the gradient.
_FIXED_FUNCTIONS = {
    "astra": _elementwise(
        "Eq. 4", "y = 1 - (1 + b exp(b x))^(-1/b)", ["x", "b"], "astra", "astra_partials",
        "b > 0; y = -expm1(-s) with s = softplus(b x + log b) / b"),
    "astra_logit": _elementwise(
        "Eq. 4", "log(y / (1 - y)) = log(expm1(softplus(b x + log b) / b))", ["x", "b"],
        "astra_logit", "astra_logit_partials", "the logit of Eq. 4; -> b x as x -> -inf"),
    "threshold": _elementwise(
        "Eq. 5", "tau = 1 - (1 + b)^(-1/b)", ["b"], "threshold", "threshold_grad",
        "tau(b) = astra(0, b)"),
    "slope_for_threshold": _elementwise(
        "Eq. 5", "b such that tau(b) = tau; gradient db/dtau = 1 / (dtau/db)", ["tau"],
        "slope_for_threshold", "slope_for_threshold_grad", "tau in (0, 0.5]; b >= 1"),
    "slope_from_beta": _elementwise(
        "Eq. 7", "b = 2 + beta if beta > 0 else 1 + exp(beta)", ["beta"],
        "slope_from_beta", "slope_from_beta_grad",
        "continuous with a continuous derivative (1) at beta = 0"),
    "z_transform": _elementwise(
        "Eq. 6", "z = p (1 - tau) / (p (1 - tau) + (1 - p) tau)", ["p", "tau"],
        "z_transform", "z_transform_partials", "p in [0, 1], tau in (0, 0.5]"),
    "bce": _reduction(
        "Sec. 3.1", "mean(-y log p - (1 - y) log(1 - p)); a term whose weight is 0 is 0",
        "bce", "bce_grad", "y holds 0/1 labels; the mean is over all examples"),
    "gmn": _reduction(
        "Eqs. 8-9", "1 - sqrt(TN_apx TP_apx / (m0 m1)), TN_apx = sum (1-p)(1-y), "
        "TP_apx = sum p y", "gmn", "gmn_grad",
        "m0, m1: numbers of negatives and positives (both >= 1)"),
}


class _FunctionTable(Mapping):
    """The fixed functions, then one output head per registered method (live: a loss
    registered later has its heads here)."""

    def __getitem__(self, key):
        if key in _FIXED_FUNCTIONS:
            return _FIXED_FUNCTIONS[key]
        method = head_method(key) if isinstance(key, str) else None
        if method is None or method not in METHODS:
            raise KeyError(key)
        return _head(method)

    def __iter__(self):
        yield from _FIXED_FUNCTIONS
        yield from (head_key(m) for m in METHODS)

    def __len__(self):
        return len(_FIXED_FUNCTIONS) + len(METHODS)


FUNCTIONS = _FunctionTable()

_ENCODING = (
    "Every array is an object {shape, dtype, data[, hex]}: data lists the elements in "
    "row-major order (shape [] is a scalar with one element); float64 elements are "
    "written as the shortest decimal that round-trips and, in hex, as C99 hexadecimal "
    "floats (Python float.hex / float.fromhex, C strtod, Java Double.parseDouble of "
    "'0x1.8p1'); both denote the same double. Labels (dtype int64) have no hex. No "
    "value is NaN or infinite."
)
_TOLERANCE = (
    "A computed quantity c passes against the expected e when |c - e| <= atol + rtol |e|, "
    "elementwise, for the value and every gradient entry of the case. atol is the "
    "smallest normal double, 2.2250738585072014e-308 (differences among subnormal "
    "results are not significant). rtol is 1e-12 or more where rounding errors are "
    "amplified: max(1e-12, 16 eps |b x|) for ASTra at x (the largest |b x| of the case; "
    "the rounding of b x becomes a relative error of exp(b x)) and max(1e-12, 4 eps n) for sums over n examples, with "
    "eps = 2^-52. Every rtol is far below 1e-6, so a gradient off by a factor 1.000001 "
    "fails every case where it is not 0."
)
_GRADIENTS = (
    "gradient_kind 'elementwise': the arguments broadcast against each other (an argument "
    "of shape [] applies to every element) to the case's shape, which the value and every "
    "gradient have: gradient.<arg>[i] = d value[i] / d <arg>[i], the partial in the "
    "broadcast argument at element i. gradient_kind 'reduction': value is a scalar (shape "
    "[]) and gradient.<arg> = d value / d <arg>, shaped like <arg>. The calls list says "
    "which callables produce which quantities: call(*args in order, **kwargs); a call with "
    "several returns gives a tuple of them in order. Every result is float64 (not float32, "
    "not complex) with exactly the stated shape."
)
_REQUIRES = (
    "A case with a 'requires' list needs the IEEE features it names to pass; a validator "
    "may leave such cases out when told to (and says how many it left out). Tags: "
    + "; ".join(f"'{k}': {v}" for k, v in REQUIREMENTS.items()) + "."
)

