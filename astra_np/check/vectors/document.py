r"""The document: generating, writing and loading the reference vectors."""
import math
import os
import sys

import numpy as np

from ...core._io import loads_json, write_atomic
from .cases import _all_raw_cases
from .crosscheck import _cross_check, _reference
from .encoding import _tensor, decode, dumps
from .protocol import _call, _lookup, _package_impl
from .schema_subset import schema_errors
from .spec import (
    _ENCODING,
    _GRADIENTS,
    _REQUIRES,
    _TOLERANCE,
    CASE_SETS,
    FORMAT_NAME,
    FUNCTIONS,
    REQUIREMENTS,
    SCHEMA_VERSION,
    TINY,
)


def _selected(kind, cases):
    return cases == "all" or kind == cases


def requirements(inputs):
    r"""The requirement tags (keys of ``REQUIREMENTS``) of a case with these inputs.

    ``subnormal``: a float input with ``0 < |v| < 2.2250738585072014e-308``.
    """
    tags = []
    for a in inputs.values():
        a = np.asarray(a)
        if a.dtype.kind == "f" and np.any((a != 0) & (np.abs(a) < TINY)):
            tags.append("subnormal")
            break
    return tags


def _astra_np_version():
    try:
        from ..._version import __version__
        return str(__version__)
    except ImportError:
        try:
            from importlib.metadata import version
            return version("astra_np")
        except Exception:  # package metadata absent (source checkout)
            return "unknown"


def generate(cases="all", *, check=True, functions=None, _impl=None):
    r"""Build the reference-vector document (a JSON-ready dict).

    Parameters
    ----------
    cases : {"default", "hard", "all"}
        Which case set to include (see the module documentation).
    check : bool
        Cross-check every expected value against the 60-digit mpmath reference
        (:mod:`astra_np.check.reference`, needs ``mpmath``) and raise if one disagrees beyond
        its case's tolerance.
    functions : iterable of str, optional
        Only these functions (keys of :data:`FUNCTIONS`); default all.

    Returns
    -------
    dict
        The document; :func:`dumps` turns it into the canonical text.

    Raises
    ------
    ValueError
        If ``cases`` is not one of ``CASE_SETS`` or ``functions`` names an unknown one.
    ImportError
        If ``check`` and mpmath is not installed.
    RuntimeError
        If ``check`` and an expected value disagrees with the reference.
    """
    if cases not in CASE_SETS:
        raise ValueError(f"cases must be one of {CASE_SETS}, got {cases!r}")
    if functions is not None:
        functions = list(functions)
        unknown = sorted(set(functions) - set(FUNCTIONS))
        if unknown:
            raise ValueError(f"functions: unknown names {unknown!r}; known: {list(FUNCTIONS)}")
    impl = _package_impl() if _impl is None else _impl
    lookup = _lookup(impl)
    ref = _reference() if check else None
    problems = []
    entries = {}
    for fn, raws in _all_raw_cases().items():
        if functions is not None and fn not in functions:
            continue
        spec = FUNCTIONS[fn]
        entry = {k: v for k, v in spec.items()}
        entry_cases = []
        counters = {"default": 0, "hard": 0}
        for raw in raws:
            kind = raw["kind"]
            if not _selected(kind, cases):
                continue
            outputs, missing = _call(spec, lookup, raw["inputs"])
            if missing:
                raise RuntimeError(f"astra_np provides no {', '.join(missing)}")
            if ref is not None:
                problems.extend(_cross_check(ref, fn, raw, outputs)[0])
            case = {
                "id": f"{fn}/{kind}/{counters[kind]:03d}",
                "kind": kind,
                "description": f"{raw['description']} ({raw['tag']})",
                "inputs": {a["name"]: _tensor(raw["inputs"][a["name"]]) for a in spec["args"]},
                "value": _tensor(outputs["value"]),
                "gradient": {a["name"]: _tensor(outputs["gradient." + a["name"]])
                             for a in spec["args"] if a["differentiable"]},
                "rtol": float(raw["rtol"]),
                "atol": float(raw["atol"]),
            }
            tags = requirements(raw["inputs"])
            if tags:
                case["requires"] = tags
            counters[kind] += 1
            entry_cases.append(case)
        entry["cases"] = entry_cases
        entries[fn] = entry
    if problems:
        raise RuntimeError(
            "astra_np disagrees with the mpmath reference beyond the stated tolerance:\n  "
            + "\n  ".join(problems))
    return {
        "format": FORMAT_NAME,
        "schema_version": SCHEMA_VERSION,
        "astra_np_version": _astra_np_version(),
        "cases": cases,
        "reference": ("expected values are astra_np's float64 results, each cross-checked "
                      "against a 60-digit mpmath evaluation" if check else
                      "expected values are astra_np's float64 results (not cross-checked)"),
        "encoding": _ENCODING,
        "tolerance": _TOLERANCE,
        "gradients": _GRADIENTS,
        "requirements": {"description": _REQUIRES, "tags": dict(REQUIREMENTS)},
        "functions": entries,
    }



def _check_writable(path):
    """ValueError naming ``path`` when it cannot be written (before anything is computed)."""
    target = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(target)
    if os.path.isdir(target):
        raise ValueError(f"path: {path!r} is a directory")
    if not os.path.isdir(folder):
        raise ValueError(f"path: the directory of {path!r} does not exist")
    if not os.access(folder, os.W_OK) or (os.path.exists(target)
                                          and not os.access(target, os.W_OK)):
        raise ValueError(f"path: {path!r} is not writable")


def write(path, cases="all", *, check=True):
    r"""Generate the document and write it to ``path`` (``"-"``: standard output).

    Returns the document (see :func:`generate`).

    Raises
    ------
    ValueError
        If ``path`` cannot be written (checked before the document is generated).
    """
    if path not in (None, "-"):
        _check_writable(path)
    doc = generate(cases, check=check)
    text = dumps(doc)
    if path in (None, "-"):
        sys.stdout.write(text)
    else:
        write_atomic(path, text.encode("ascii"))
    return doc



def load(source):
    r"""Read and check a reference-vector document.

    Parameters
    ----------
    source : str, os.PathLike, file object or dict
        A path, an open text file, or an already parsed document.

    Returns
    -------
    dict
        The parsed document.

    Raises
    ------
    ValueError
        If the document violates the schema, has another ``schema_version`` or its
        arrays are inconsistent (element counts, decimal and hex spellings).
    """
    if isinstance(source, dict):
        doc = source
    elif hasattr(source, "read"):
        doc = loads_json(source.read(), "vectors")
    elif isinstance(source, (str, bytes, os.PathLike)):
        with open(source, "rb") as fh:
            doc = loads_json(fh.read(), f"vectors {os.fsdecode(source)!r}")
    else:  # an int would be taken by open() for a file descriptor
        raise ValueError(f"vectors must be a file path, a text file or a parsed document (dict), "
                         f"got {type(source).__name__} {source!r}")
    if not isinstance(doc, dict):
        raise ValueError(f"vectors: expected a JSON object, got {type(doc).__name__}")
    errors = schema_errors(doc)
    if errors:
        raise ValueError("reference vectors violate the schema:\n  " + "\n  ".join(errors[:20]))
    if doc["schema_version"] != SCHEMA_VERSION:
        raise ValueError(f"schema_version {doc['schema_version']!r} is not supported "
                         f"(this astra_np reads {SCHEMA_VERSION})")
    for entry in doc["functions"].values():
        for case in entry["cases"]:
            tensors = [("inputs." + k, t) for k, t in case["inputs"].items()]
            tensors += [("value", case["value"])]
            tensors += [("gradient." + k, t) for k, t in case["gradient"].items()]
            for name, t in tensors:
                n = math.prod(t["shape"])
                if len(t["data"]) != n or ("hex" in t and len(t["hex"]) != n):
                    raise ValueError(f"{case['id']}: {name} does not have {n} elements")
                if t["dtype"] == "float64" and "hex" not in t:
                    raise ValueError(f"{case['id']}: {name} lacks its hex spelling")
                decode(t, f"{case['id']}: {name}")
            _check_shapes(entry, case)
    return doc


def _check_shapes(entry, case):
    """Value and gradients shaped as the gradient kind says (ValueError otherwise)."""
    inputs = case["inputs"]
    if entry["gradient_kind"] == "elementwise":
        try:
            shape = list(np.broadcast_shapes(*(tuple(t["shape"]) for t in inputs.values())))
        except ValueError:
            raise ValueError(f"{case['id']}: the inputs do not broadcast") from None
        expected = {"value": shape}
        expected.update({"gradient." + k: shape for k in case["gradient"]})
    else:
        expected = {"value": []}
        expected.update({"gradient." + k: inputs[k]["shape"] for k in case["gradient"]})
    got = {"value": case["value"]["shape"]}
    got.update({"gradient." + k: t["shape"] for k, t in case["gradient"].items()})
    for key, shape in expected.items():
        if got[key] != shape:
            raise ValueError(f"{case['id']}: {key} has shape {got[key]}, expected {shape}")

