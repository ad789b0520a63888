r"""The document's encoding: arrays as ``{shape, dtype, data, hex}`` and the canonical text.

Every float64 element is written twice, as the shortest decimal that round-trips and
as a C99 hexadecimal float (``float.hex``); :func:`decode` reads the hex spelling and
insists that both denote the same double. :func:`dumps` writes one case per line, so
that regenerating gives the same bytes and a diff shows which cases changed.
"""
import json
import math

import numpy as np


def _tensor(a):
    a = np.asarray(a)
    if a.dtype.kind in "iub":
        return {"shape": list(a.shape), "dtype": "int64", "data": [int(v) for v in a.ravel()]}
    a = a.astype(np.float64)
    flat = [float(v) for v in a.ravel()]
    if not all(math.isfinite(v) for v in flat):
        raise ValueError(f"non-finite value in reference vectors: {flat!r}")
    return {"shape": list(a.shape), "dtype": "float64", "data": flat,
            "hex": [v.hex() for v in flat]}


def decode(t, where="array"):
    r"""NumPy array from an encoded array ``{shape, dtype, data[, hex]}`` of the document.

    Float elements are read from their hex spelling, which must denote the same double
    as the decimal one (``ValueError`` naming ``where`` otherwise).
    """
    shape = tuple(t["shape"])
    if t["dtype"] == "int64":
        return np.asarray(t["data"], dtype=np.int64).reshape(shape)
    vals = np.array([float.fromhex(h) for h in t["hex"]], dtype=np.float64)
    dec = np.asarray(t["data"], dtype=np.float64)
    if vals.shape != dec.shape or not np.array_equal(vals.view(np.int64), dec.view(np.int64)):
        raise ValueError(f"{where}: decimal and hex spellings differ")
    return vals.reshape(shape)



def _emit(obj, depth, out, indent=" "):
    """Canonical text: containers down to each case pretty-printed, cases on one line."""
    if isinstance(obj, dict) and depth < 4 and obj:
        out.append("{\n")
        items = list(obj.items())
        for i, (k, v) in enumerate(items):
            out.append(indent * (depth + 1) + json.dumps(k) + ": ")
            _emit(v, depth + 1, out, indent)
            out.append(",\n" if i < len(items) - 1 else "\n")
        out.append(indent * depth + "}")
    elif (isinstance(obj, list) and depth < 4 and obj
          and any(isinstance(v, (dict, list)) for v in obj)):
        out.append("[\n")
        for i, v in enumerate(obj):
            out.append(indent * (depth + 1))
            _emit(v, depth + 1, out, indent)
            out.append(",\n" if i < len(obj) - 1 else "\n")
        out.append(indent * depth + "]")
    else:
        out.append(json.dumps(obj, allow_nan=False, separators=(",", ":")))


def dumps(doc):
    r"""Canonical JSON text of a document (ASCII, one case per line, trailing newline)."""
    out = []
    _emit(doc, 0, out)
    out.append("\n")
    return "".join(out)

