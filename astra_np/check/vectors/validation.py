r"""Validation of another implementation against the reference vectors: :func:`validate`."""
import contextlib
import difflib
import math
import numbers
import signal
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ...core._validation import check_size
from .causes import CAUSES, classify, constant_factors, describe_factor
from .document import _selected, generate, load
from .encoding import decode
from .protocol import ProtocolError, _call, _lookup, call_names
from .spec import CASE_SETS, FUNCTIONS, REQUIREMENTS, TINY

_MAX_UNKNOWN = 5   # unknown names listed one per line with a suggestion

# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrongEntry:
    r"""One wrong entry of one quantity of a case (or a call that could not be compared).

    ``str(entry)`` is the entry's block: the case id and description, its inputs
    (round-trip decimals), the computed and expected entry, the error against the
    tolerance and the likely cause (:mod:`.causes`).
    """

    function: str
    case: str
    quantity: str
    index: int
    expected: float
    got: float
    rel_error: float
    rtol: float
    atol: float
    message: str = ""
    description: str = ""
    inputs: str = ""
    cause: str = ""
    explanation: str = ""

    @property
    def ratio(self):
        """Error over the tolerance, ``|got - expected| / (atol + rtol |expected|)``."""
        if self.message or not math.isfinite(self.got):
            return math.inf
        return abs(self.got - self.expected) / (self.atol + self.rtol * abs(self.expected))

    def __str__(self):
        lines = [f"{self.case}  {self.description}".rstrip()]
        if self.inputs:
            lines.append(f"    inputs: {self.inputs}")
        if self.message:
            lines.append(f"    {self.message}")
        else:
            where = self.quantity if self.index < 0 else f"{self.quantity}[{self.index}]"
            lines.append(f"    {where} = {self.got!r}, expected {self.expected!r}")
            lines.append(f"    relative error {_fmt(self.rel_error)} = {_fmt(self.ratio)} x the "
                         f"tolerance (rtol {self.rtol:.3g}, atol {self.atol:.3g})")
        if self.explanation:
            lines.append(f"    likely cause: {self.explanation}")
        return "\n".join(lines)


#: The fields of a :class:`WrongEntry` a :class:`CaseFailure` reads from its first entry.
_FIRST_ENTRY_FIELDS = ("quantity", "index", "expected", "got", "rel_error", "rtol", "atol", "message",
                       "description", "inputs", "cause", "explanation", "ratio")


@dataclass(frozen=True)
class CaseFailure:
    r"""One failing case: its wrong entries (:class:`WrongEntry`, in the order checked).

    ``result.failures`` holds one per failing case, so its length is the number of
    failing cases the table counts. The attributes of the first wrong entry
    (``quantity``, ``got``, ``expected``, ``cause``, ``explanation``, ...) are read
    through the case; ``entries`` holds them all. ``str(failure)`` is the block
    :func:`validate` prints: the first wrong entry and how many more the case has.
    """

    function: str
    case: str
    entries: tuple

    def __getattr__(self, name):
        if name in _FIRST_ENTRY_FIELDS:
            return getattr(self.entries[0], name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __str__(self):
        text = str(self.entries[0])
        more = len(self.entries) - 1
        if more:
            text += f"\n    (+{more} more wrong entr{'ies' if more > 1 else 'y'} in this case)"
        return text


@dataclass(frozen=True)
class FunctionReport:
    r"""Summary of one function: its row of the table printed by :func:`validate`."""

    function: str
    cases: int
    failed: int
    worst_rel_error: float
    worst_ratio: float
    worst_case: str
    missing: tuple = ()
    excluded: int = 0
    provided: bool = True

    @property
    def complete(self):
        """Every call of the function was provided and every selected case checked (or
        left out by ``exclude``)."""
        return self.provided and not self.missing

    @property
    def status(self):
        """'PASS', 'FAIL', 'INCOMPLETE (no <call>)' when some calls were not provided,
        'MISSING' when none was, or 'EXCLUDED' when ``exclude`` left out every case."""
        if self.failed:
            return "FAIL"
        if not self.provided:
            return "MISSING"
        if self.missing:
            return "INCOMPLETE (no " + ", ".join(self.missing) + ")"
        if self.cases == 0:
            return "EXCLUDED"
        return "PASS"

    @property
    def passed(self):
        return self.cases > 0 and self.failed == 0 and not self.missing


_SHOWN = 12   # functions a summary names


@dataclass(repr=False)
class ValidationResult:
    r"""Outcome of :func:`validate`: one :class:`FunctionReport` per function and all failures.

    ``status`` is ``"PASS"`` (every function checked in full, or the subset asked for,
    and nothing failed), ``"FAIL"`` or ``"INCOMPLETE"`` (nothing failed, but some
    function was not checked in full and ``allow_missing`` was not given).
    """

    reports: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    unknown: dict = field(default_factory=dict)
    excluded: dict = field(default_factory=dict)
    allow_missing: bool = False

    @property
    def checked(self):
        """Number of cases checked."""
        return sum(r.cases for r in self.reports)

    @property
    def failed(self):
        """Number of cases with at least one failing quantity (``len(self.failures)``)."""
        return sum(r.failed for r in self.reports)

    @property
    def entries(self):
        """Every wrong entry of every failing case (:class:`WrongEntry`), in order."""
        return [e for f in self.failures for e in f.entries]

    @property
    def incomplete(self):
        """The reports of functions not checked in full."""
        return [r for r in self.reports if not r.complete]

    @property
    def status(self):
        if self.failures:
            return "FAIL"
        if self.checked == 0 or (self.incomplete and not self.allow_missing):
            return "INCOMPLETE"
        return "PASS"

    @property
    def passed(self):
        """True when the status is PASS."""
        return self.status == "PASS"

    def report(self, function):
        """The :class:`FunctionReport` of ``function``."""
        for r in self.reports:
            if r.function == function:
                return r
        raise KeyError(function)

    def failed_cases(self, function=None):
        """Sorted ids of the failing cases (of one function, or all)."""
        return sorted({f.case for f in self.failures if function in (None, f.function)})

    def table(self):
        """The summary table and the verdict as text."""
        head = ("function", "cases", "failed", "worst rel. err", "err/tol", "worst case", "result")
        rows = [head]
        for r in self.reports:
            worst_case = r.worst_case if r.cases and r.worst_ratio > 0 else "-"
            if r.cases:
                rows.append((r.function, str(r.cases), str(r.failed), _fmt(r.worst_rel_error),
                             _fmt(r.worst_ratio), worst_case, r.status))
            else:
                rows.append((r.function, "0", "0", "-", "-", "-", r.status))
        widths = [max(len(row[i]) for row in rows) for i in range(len(head) - 1)]
        lines = []
        for k, row in enumerate(rows):
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
            if k == 0:
                lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 6)
        lines.extend(self.notes())
        return "\n".join(lines)

    def notes(self):
        """The verdict line and what it rests on (left-out cases, incomplete functions,
        unknown names)."""
        lines = []
        unknown = list(self.unknown.items())
        for name, suggestion in unknown[:_MAX_UNKNOWN]:
            hint = f" (did you mean {suggestion!r}?)" if suggestion else ""
            lines.append(f"unknown name {name!r} in the implementation, not used{hint}")
        if len(unknown) > _MAX_UNKNOWN:
            lines.append(f"... and {len(unknown) - _MAX_UNKNOWN} more unknown names, not used: "
                         + ", ".join(repr(k) for k, _ in unknown[_MAX_UNKNOWN:]))
        for tag, n in self.excluded.items():
            lines.append(f"left out {n} case{'s' * (n != 1)} requiring {tag!r} "
                         f"({REQUIREMENTS.get(tag, 'see the document')})")
        incomplete = self.incomplete
        if incomplete and not self.failures:
            names = ", ".join(r.function for r in incomplete)
            if self.allow_missing:
                lines.append(f"not checked in full (allowed by allow_missing): {names}")
            else:
                lines.append(f"not checked in full: {names}; provide the missing calls, or "
                             "check a subset with functions=[...] or allow_missing=True "
                             "(--functions, --allow-missing)")
        n_out = sum(self.excluded.values())
        left_out = f", {n_out} left out" if n_out else ""
        lines.append(f"{self.checked} cases, {self.failed} failed{left_out}: {self.status}")
        return lines

    def summary(self):
        """The verdict in a few lines: counts, the functions not passed (at most
        :data:`_SHOWN`) and where the rest is (``table()``, ``failures``)."""
        n_out = sum(self.excluded.values())
        left_out = f", {n_out} left out" if n_out else ""
        lines = [f"ValidationResult {self.status}: {len(self.reports)} functions, {self.checked} "
                 f"cases, {len(self.failures)} failed{left_out}"]
        other = [r for r in self.reports if r.status != "PASS"]
        for r in other[:_SHOWN]:
            lines.append(f"  {r.function}: {r.status}" + (f", {r.failed} of {r.cases} cases failed"
                                                         if r.failed else ""))
        if len(other) > _SHOWN:
            lines.append(f"  (+{len(other) - _SHOWN} more functions not passed)")
        lines.append("  the table: result.table(); the failing cases: result.failures")
        return "\n".join(lines)

    __str__ = __repr__ = summary


def _fmt(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "nan"
    return f"{v:.2e}"


# --------------------------------------------------------------------------------------
# Comparing one case
# --------------------------------------------------------------------------------------

def _compare(exp, got, rtol, atol):
    """Elementwise (relative error, error / tolerance, passed) with NaN counted as failure."""
    with np.errstate(all="ignore"):
        diff = np.abs(got - exp)
        diff = np.where(got == exp, 0.0, diff)  # equal infinities are not NaN differences
        rel = diff / np.maximum(np.abs(exp), TINY)
        bound = atol + rtol * np.abs(exp)
        ratio = np.where(bound > 0, diff / np.where(bound > 0, bound, 1.0),
                         np.where(diff == 0, 0.0, np.inf))
    rel = np.where(np.isnan(rel), np.inf, rel)
    ratio = np.where(np.isnan(ratio), np.inf, ratio)
    return rel, ratio, ratio <= 1.0


def _result_problem(key, got, exp):
    """(cause, message) when a result has the wrong kind, dtype or shape, else None."""
    if got.dtype.kind == "c":
        return "shape/dtype", (f"{key} is complex ({got.dtype}), expected float64: a complex "
                               "intermediate (log or sqrt of a negative number?) or a "
                               "complex-step evaluation left in")
    if got.dtype.kind != "f":
        return "shape/dtype", f"{key} has dtype {got.dtype}, expected float64"
    if got.dtype != np.float64:
        return "float32" if got.dtype == np.float32 else "shape/dtype", (
            f"{key} has dtype {got.dtype}, expected float64: computed in "
            f"{'single' if got.dtype == np.float32 else 'another'} precision (JAX: "
            "jax.config.update('jax_enable_x64', True); PyTorch: dtype=torch.float64)")
    if got.shape != exp.shape:
        return "shape/dtype", f"{key} has shape {got.shape}, expected {exp.shape}"
    return None


def _fmt_inputs(inputs, index=None, focus_shape=None):
    """The case's inputs as round-trip decimals; long arrays by shape and the entry at
    ``index`` (when they have ``focus_shape``)."""
    parts = []
    for name, a in inputs.items():
        if a.ndim == 0:
            parts.append(f"{name} = {a.item()!r}")
        elif a.size <= 8:
            parts.append(f"{name} = {a.tolist()!r}")
        elif a.dtype.kind in "iu":
            pos = np.flatnonzero(a.ravel())
            at = f" at {pos.tolist()!r}" if pos.size <= 8 else ""
            parts.append(f"{name}: {a.size} labels, {pos.size} positive{at}")
        else:
            at = ""
            if index is not None and index >= 0 and a.shape == focus_shape:
                at = f", {name}[{index}] = {float(a.ravel()[index])!r}"
            parts.append(f"{name}: shape {a.shape}, min {float(a.min())!r}, "
                         f"max {float(a.max())!r}{at}")
    return ", ".join(parts)


class _CaseCheck:
    """The wrong entries of one case, built with its id, description and inputs."""

    def __init__(self, fn, case, inputs):
        self.fn, self.case, self.inputs = fn, case, inputs
        self.entries = []
        self.worst = (0.0, 0.0)   # (ratio, rel)

    def add(self, quantity, index, expected, got, rel, message="", cause=None, focus=None):
        if message:
            label = cause or "shape/dtype"
            explanation = CAUSES[label]
        else:
            label, explanation = classify(expected, got, rel, self.inputs, quantity, self.fn)
        self.entries.append(WrongEntry(
            self.fn, self.case["id"], quantity, index, expected, got, rel,
            self.case["rtol"], self.case["atol"], message, self.case["description"],
            _fmt_inputs(self.inputs, index, focus), label, explanation))
        if message:
            self.worst = (math.inf, math.inf)

    def compare(self, key, exp, got):
        problem = _result_problem(key, got, exp)
        if problem is not None:
            self.add(key, -1, math.nan, math.nan, math.inf, problem[1], problem[0])
            return
        e, g = exp.ravel(), got.ravel()
        rel, ratio, ok = _compare(e, g, self.case["rtol"], self.case["atol"])
        if e.size:
            i = int(np.argmax(ratio))
            self.worst = max(self.worst, (float(ratio[i]), float(rel[i])))
        for j in np.flatnonzero(~ok):
            self.add(key, int(j), float(e[j]), float(g[j]), float(rel[j]), focus=exp.shape)


class _Timeout(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds):
    r"""Raise :class:`_Timeout` in the block after ``seconds`` (None: no limit; SIGALRM,
    so the main thread of a POSIX process only)."""
    if seconds is None:
        yield
        return

    def expire(signum, frame):
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _run_call(entry, lookup, inputs, timeout):
    r"""``(outputs, None)``, or ``(None, (message, cause))`` when the call fails. The
    implementation gets copies of the inputs: a change it makes to them is reported."""
    copies = {k: v.copy() for k, v in inputs.items()}
    try:
        with _time_limit(timeout):
            outputs, _ = _call(entry, lookup, copies)
    except ProtocolError as exc:
        return None, (str(exc), "shape/dtype")
    except _Timeout:
        return None, (f"did not return within {timeout:g} s", "timeout")
    except SystemExit as exc:  # sys.exit() in the implementation under test is a failure
        return None, (f"raised SystemExit (sys.exit({exc.code!r}))", "raised")
    except Exception as exc:  # the implementation under test raised
        return None, (f"raised {type(exc).__name__}: {exc}", "raised")
    changed = [k for k, v in inputs.items() if not np.array_equal(copies[k], v, equal_nan=v.dtype.kind == "f")]
    if changed:
        return None, (f"modified its input{'s' * (len(changed) > 1)} {', '.join(changed)} in place (the "
                      f"validator passes copies; an implementation must not change its arguments)",
                      "modified input")
    return outputs, None


def _check_case(fn, entry, case, lookup, timeout=None):
    """Run one case (at least one of its calls is provided): its :class:`_CaseCheck`."""
    inputs = {k: decode(t) for k, t in case["inputs"].items()}
    inputs = {k: (np.float64(v) if v.ndim == 0 and v.dtype.kind == "f" else v)
              for k, v in inputs.items()}
    check = _CaseCheck(fn, case, {k: np.asarray(v) for k, v in inputs.items()})
    outputs, problem = _run_call(entry, lookup, inputs, timeout)
    if problem is not None:
        check.add("*", -1, math.nan, math.nan, math.inf, problem[0], problem[1])
        return check
    expected = {"value": decode(case["value"])}
    expected.update({"gradient." + k: decode(t) for k, t in case["gradient"].items()})
    for key, exp in expected.items():
        if key in outputs:
            check.compare(key, exp, outputs[key])
    return check


# --------------------------------------------------------------------------------------
# validate
# --------------------------------------------------------------------------------------

def _resolve_vectors(vectors, cases, functions):
    if vectors is None:
        return generate(cases, check=False, functions=functions)
    return load(vectors)


def _closest(name, names):
    match = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
    return match[0] if match else None


def _unknown_names(module_or_mapping, doc):
    """Names of a mapping that no call of the document uses, with the closest call name."""
    if not isinstance(module_or_mapping, Mapping):
        return {}
    names = call_names()
    for entry in doc["functions"].values():
        names.extend(c["name"] for c in entry["calls"] if c["name"] not in names)
    return {k: _closest(str(k), names) for k in module_or_mapping if k not in names}


def _check_arguments(module_or_mapping, cases, functions, exclude):
    """Validated ``(functions or None, exclude tuple)``; ValueError naming the argument."""
    if cases not in CASE_SETS:
        raise ValueError(f"cases must be one of {CASE_SETS}, got {cases!r}")
    if module_or_mapping is None or isinstance(module_or_mapping, (str, bytes)):
        raise ValueError(f"module_or_mapping must be a module or a mapping of callables, "
                         f"got {module_or_mapping!r}")
    if isinstance(functions, (bytes, numbers.Number)) or isinstance(exclude, (bytes, numbers.Number)):
        raise ValueError(f"functions and exclude must be names or lists of names, got {functions!r} "
                         f"and {exclude!r}")
    wanted = None
    if functions is not None:
        wanted = [functions] if isinstance(functions, str) else list(functions)
        for name in wanted:
            if name not in FUNCTIONS:
                hint = _closest(name, list(FUNCTIONS))
                raise ValueError(f"functions: unknown name {name!r}"
                                 + (f" (did you mean {hint!r}?)" if hint else "")
                                 + f"; known: {list(FUNCTIONS)}")
    tags = (exclude,) if isinstance(exclude, str) else tuple(exclude or ())
    for tag in tags:
        if tag not in REQUIREMENTS:
            raise ValueError(f"exclude: unknown requirement tag {tag!r}; known: "
                             f"{sorted(REQUIREMENTS)}")
    return wanted, tags


def _check_function(fn, entry, lookup, cases, tags, result, timeout=None):
    """Run the cases of one function; append its report and failures to ``result``."""
    n_cases = n_failed = excluded = 0
    worst = (-1.0, 0.0, "")  # (ratio, rel, case id)
    missing = tuple(sorted(c["name"] for c in entry["calls"] if lookup(c["name"]) is None))
    provided = len(missing) < len(entry["calls"])
    for case in entry["cases"]:
        if not provided:
            break
        if not _selected(case["kind"], cases):
            continue
        hit = [t for t in case.get("requires", ()) if t in tags]
        if hit:
            excluded += 1
            result.excluded[hit[0]] = result.excluded.get(hit[0], 0) + 1
            continue
        check = _check_case(fn, entry, case, lookup, timeout)
        n_cases += 1
        if check.entries:
            n_failed += 1
            result.failures.append(CaseFailure(fn, case["id"], tuple(check.entries)))
        if check.worst[:2] > worst[:2]:
            worst = (check.worst[0], check.worst[1], case["id"])
    result.reports.append(FunctionReport(
        fn, n_cases, n_failed, worst[1] if n_cases else math.nan,
        worst[0] if n_cases else math.nan, worst[2], missing, excluded, provided))


def _attach_factors(result):
    """Replace the cause of wrong entries that share a constant factor with that factor."""
    entries = result.entries
    factors = constant_factors(entries)
    if not factors:
        return
    counts = {}
    for e in entries:
        counts[(e.function, e.quantity)] = counts.get((e.function, e.quantity), 0) + 1

    def named(e):
        key = (e.function, e.quantity)
        if key in factors and e.cause in ("digits", "value", "sign", "float32", "subnormal", "tie"):
            return WrongEntry(**{**e.__dict__, "cause": "factor", "explanation":
                                 describe_factor(factors[key], counts[key], e.function)})
        return e

    result.failures = [CaseFailure(f.function, f.case, tuple(named(e) for e in f.entries))
                       for f in result.failures]


def _print(result, out, max_failures):
    print(result.table(), file=out)
    if not result.failures:
        return
    shown = result.failures[:max_failures]
    print(f"\nfailing cases (first {len(shown)} of {len(result.failures)}; the first wrong "
          "quantity of each):", file=out)
    for f in shown:
        print("  " + str(f).replace("\n", "\n  "), file=out)


def _check_timeout(timeout):
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not 0 < timeout < math.inf:
        raise ValueError(f"timeout must be None or a number of seconds > 0, got {timeout!r}")
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        raise ValueError("timeout needs the main thread of a POSIX process (it uses SIGALRM)")
    return float(timeout)


def validate(module_or_mapping, vectors=None, *, cases="all", functions=None, exclude=(),
             allow_missing=False, file=None, verbose=True, max_failures=10, timeout=None):
    r"""Check another implementation's values and gradients against the reference vectors.

    Strict by default: the result passes only when every function of the document
    (or of ``functions``) was checked in full, every call provided, and no quantity
    failed. Missing or partly provided functions make it ``INCOMPLETE`` (not passed);
    ``allow_missing=True`` checks whatever is provided instead.

    Parameters
    ----------
    module_or_mapping : module or mapping
        Provides callables under astra_np's names (``astra``, ``astra_partials``,
        ``astra_logit``, ``astra_logit_partials``, ``threshold``, ``threshold_grad``,
        ``slope_for_threshold``, ``slope_for_threshold_grad``, ``slope_from_beta``,
        ``slope_from_beta_grad``, ``z_transform``, ``z_transform_partials``, ``bce``,
        ``bce_grad``, ``gmn``, ``gmn_grad``, ``head_loss``; see :func:`call_names`). Each
        takes NumPy arrays (0-d for scalars, ``int64`` labels) and returns float64
        array-likes of exactly the shapes the document states; calls with several
        results return a tuple, e.g. ``head_loss(x, beta, y, loss=, astra=, z=)`` returns
        ``(loss, dL_dx, dL_dbeta)``. Names of a mapping that no call uses are reported
        with the closest expected name. :func:`implementation_from_forward` builds the
        mapping from forward functions and a framework's gradient operator.
    vectors : path, file, dict or None
        The document (see :func:`load`); None generates it in memory (unchecked, fast).
    cases : {"default", "hard", "all"}
        Which cases to run.
    functions : iterable of str, optional
        Check only these function keys (e.g. ``["astra", "head_loss[gmn-astra]"]``);
        only they need to be complete.
    exclude : iterable of str
        Requirement tags (``"subnormal"``, see :data:`REQUIREMENTS`): cases that carry
        one are left out, and the table says how many.
    allow_missing : bool
        Pass on what was provided: missing calls or functions do not make the result
        ``INCOMPLETE`` (they are still listed).
    file : text stream, optional
        Where the table goes (default standard output).
    verbose : bool
        Print the table, the verdict and the first failing cases.
    max_failures : int
        How many failing cases to print.
    timeout : float, optional
        Seconds each call may take; a call that has not returned by then fails its case
        ("did not return"). POSIX, main thread only (SIGALRM); the limit takes effect
        between Python bytecodes, so a long call inside compiled code ends first.

    Every call gets copies of the case's inputs: an implementation that changes its
    arguments in place fails the case ("modified its input"), and one that raises,
    ``SystemExit`` included (``sys.exit()``), fails the case ("raised"); the remaining
    cases still run.

    Returns
    -------
    ValidationResult
        ``result.status`` (``"PASS"``, ``"FAIL"`` or ``"INCOMPLETE"``), ``result.passed``,
        ``result.reports`` (one row per function), ``result.failures`` (one
        :class:`CaseFailure` per failing case, its wrong entries inside, each with its
        inputs and likely cause; ``result.entries`` lists them all),
        ``result.unknown`` and ``result.excluded``.

    Raises
    ------
    ValueError
        For an unknown case set, function key or requirement tag (before any case runs).

    Examples
    --------
    >>> from astra_np.check.vectors import validate
    >>> def astra(x, b):
    ...     return 1 - (1 + b * np.exp(b * x)) ** (-1 / b)   # Eq. 4 as printed
    >>> with np.errstate(all="ignore"):
    ...     res = validate({"astra": astra}, functions=["astra"], verbose=False)
    >>> res.report("astra").status, res.status
    ('FAIL', 'FAIL')
    >>> "astra/default/000" in res.failed_cases()
    False
    """
    wanted, tags = _check_arguments(module_or_mapping, cases, functions, exclude)
    timeout = _check_timeout(timeout)
    max_failures = check_size("max_failures", max_failures, minimum=0)
    doc = _resolve_vectors(vectors, cases, None if wanted is None else sorted(set(wanted)))
    lookup = _lookup(module_or_mapping)
    result = ValidationResult(unknown=_unknown_names(module_or_mapping, doc),
                              allow_missing=bool(allow_missing))
    for fn, entry in doc["functions"].items():
        if wanted is None or fn in wanted:
            _check_function(fn, entry, lookup, cases, tags, result, timeout)
    _attach_factors(result)
    if verbose:
        _print(result, sys.stdout if file is None else file, max_failures)
    return result
