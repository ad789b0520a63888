r"""Portable reference vectors: inputs, values and gradients of the ASTra formulas in JSON.

A framework author who implements ASTra (Eq. 4), its threshold (Eq. 5), the slope
parametrisation (Eq. 7), the z-transform (Eq. 6), BCE and the GMN loss (Eqs. 8-9) or the
complete output head can check values *and* gradients against this file from any
language: it loads with a standard JSON parser, every float is written twice (shortest
round-trip decimal and C99 hexadecimal, ``float.hex``), and every case states the
tolerance it should be checked with.

Generation
----------
``python -m astra_np vectors [--out FILE] [--cases default|hard|all]`` writes the
document. Expected values are astra_np's own float64 results; while the file is being
written every one of them is cross-checked against an independent 60-digit mpmath
evaluation of the same formulas, and generation fails if any disagrees beyond the
case's stated tolerance. The output is deterministic: regenerating gives the same bytes.

Case sets
---------
``default``
    The ordinary range: ASTra at :math:`|b x| \le 6` for slopes from 1 to 87.4,
    probabilities away from 0 and 1, losses and heads on a dozen examples. A float64
    implementation of the formulas as printed (Eq. 4 literally, autograd gradients)
    passes these.
``hard``
    The tails: ``x`` far in both tails for ``b = 1``, ``7.3963...`` and ``87.37...``
    (``tau = 0.5, 0.25, 0.05``), ``b`` next to 1 and very large, ``p`` exactly 0 and 1,
    GMN with a single positive, with every positive output underflowing, with
    ``m1 = 1`` and ``m0 = 4000``, and output heads whose naive chain rule overflows.
``all``
    Both (the command's default).

Tolerances
----------
A quantity passes when ``|c - e| <= atol + rtol |e|``. ``atol`` is the smallest normal
double; ``rtol`` is ``1e-12``, raised to ``16 eps |b x|`` for ASTra points whose
exponent argument ``b x`` is large (its rounding is amplified by ``exp``) and to
``4 eps n`` for sums over ``n`` examples. astra_np itself stays below 5 % of every
tolerance against the mpmath reference.

Requirements
------------
A case that needs an IEEE feature beyond ordinary float64 arithmetic carries a
``requires`` list (:data:`REQUIREMENTS`): ``subnormal`` marks cases with a subnormal
input, which platforms that flush subnormals to zero (XLA on CPU, GPUs) cannot pass.
``validate(..., exclude=("subnormal",))`` leaves them out and says how many.

Checking an implementation
--------------------------
:func:`validate` runs the callables of a module or a mapping (our names, see
:data:`FUNCTIONS` and :func:`call_names`) against the vectors, prints a table of worst
relative errors and one block per failing case (inputs, expected and computed entry,
error against the tolerance, likely cause). It is strict: the verdict is PASS only
when every function was checked in full; missing calls make it INCOMPLETE unless
``allow_missing=True`` or ``functions=[...]`` asks for a subset.
:func:`implementation_from_forward` builds the callables from forward functions and a
framework's gradient operator (``jax.grad``, ``jax.vjp``, a torch autograd adapter).
The document format is described by the JSON Schema
``astra_np/check/schema/vectors.schema.json`` (see :func:`schema`).

Modules
-------
:mod:`.spec` (function table, constants, requirement tags), :mod:`.cases` (the inputs),
:mod:`.crosscheck` (mpmath cross-check), :mod:`.encoding` (arrays and canonical text),
:mod:`.document` (generate, write, load), :mod:`.schema_subset` (JSON Schema subset),
:mod:`.protocol` (the call protocol), :mod:`.validation` and :mod:`.causes` (validate
and its failure causes), :mod:`.forward` (implementations from forward functions);
the command line is :mod:`astra_np.cli.vectors`.
"""

from .causes import CAUSES, classify
from .document import generate, load, requirements, write
from .encoding import decode, dumps
from .forward import forward_names, implementation_from_forward
from .protocol import ProtocolError, _call, _lookup, _package_impl, call_names
from .schema_subset import schema, schema_errors
from .spec import (
    _ENCODING,
    _GRADIENTS,
    _REQUIRES,
    _TOLERANCE,
    B_TAU_005,
    B_TAU_025,
    CASE_SETS,
    EPS,
    FORMAT_NAME,
    FUNCTIONS,
    REQUIREMENTS,
    SCHEMA_VERSION,
    TINY,
    head_key,
    head_method,
    loss_traits,
)
from .validation import CaseFailure, FunctionReport, ValidationResult, WrongEntry, _compare, validate

__all__ = [
    "SCHEMA_VERSION",
    "CASE_SETS",
    "FUNCTIONS",
    "REQUIREMENTS",
    "generate",
    "dumps",
    "write",
    "load",
    "decode",
    "schema",
    "schema_errors",
    "validate",
    "implementation_from_forward",
    "forward_names",
    "call_names",
    "ValidationResult",
    "FunctionReport",
    "CaseFailure",
    "WrongEntry",
]

