r"""Loading binary data sets for the experiment protocol, and minority undersampling.

Two text formats are read:

* **delimited text** (CSV, TSV or any single-character delimiter): one example per
  row, an optional header row (present exactly when no cell of the first row is a
  number), the label in a named column or, by default, the last column. Every other
  column is a numeric feature.
* **LIBSVM / svmlight**: ``label index:value index:value ...`` with optional
  ``# comments`` and a ``qid:`` field (ignored). Indices are 1-based unless an index 0
  appears, in which case they are taken as 0-based. Missing entries are zero. Indices
  above :data:`MAX_FEATURE_INDEX` are refused before anything is allocated.

Labels are mapped to the paper's convention (Section 4.1, footnote 2): the minority
class is label 1 and every other class label 0. The minority class is chosen with
``minority=``; without it the file must hold exactly two classes and the rarer one
becomes 1 (with equal counts, the one that sorts last). A validation or test file
takes the training file's positive class and label set (``minority=`` and
``classes=``), never its own rarer class.

Every problem found in a file raises ``ValueError`` naming the file, and where it
applies the row (1-based line number in the file) and the column: non-numeric or
missing fields, NaN or infinite values, ragged rows, constant feature columns (they
carry no information and make standardisation degenerate), fewer than two classes.
The check that each cross-validation fold can receive a positive example is
:func:`check_cv_feasible`.

Undersampled variants (the paper's skin-4000 and cod-3500, Section 4.1) keep every
negative and ``k`` randomly chosen positives: :func:`undersample_minority`.
"""
import csv
import hashlib
import io
import math
import os
import re

import numpy as np

from ..core._validation import is_integer

__all__ = [
    "load_dataset",
    "undersample_minority",
    "imbalance_ratio",
    "check_cv_feasible",
    "dataset_fingerprint",
    "MAX_FEATURE_INDEX",
    "MAX_DENSE_ENTRIES",
]

_LIBSVM_EXT = {".libsvm", ".svm", ".svmlight", ".svml"}
_TSV_EXT = {".tsv", ".tab"}


#: Largest LIBSVM feature index accepted (2**20); a larger one is refused before any
#: matrix is allocated.
MAX_FEATURE_INDEX = 2 ** 20
#: Largest dense feature matrix a file may expand to: 2**27 entries (1 GiB of float64).
MAX_DENSE_ENTRIES = 2 ** 27

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")
_NONFINITE = re.compile(r"[+-]?(?:nan|inf|infinity)\Z", re.IGNORECASE)
_INDEX = re.compile(r"[0-9]+\Z")
_LINES = re.compile(r"\r\n|\r|\n")


def _parse_float(text):
    r"""The number written in ``text`` (decimal or scientific ASCII notation, or
    nan/inf, which the finite check then refuses), else None. Stricter than ``float``:
    ``"1_000"`` and non-ASCII digits are not numbers."""
    text = text.strip()
    if _NUMBER.match(text) or _NONFINITE.match(text):
        return float(text)
    return None


def _canonical_label(token):
    r"""Normalise a label token so that ``"1"``, ``"1.0"`` and ``" 1 "`` compare equal."""
    text = str(token).strip()
    value = _parse_float(text)
    if value is None or not math.isfinite(value):
        return text
    if value == int(value):
        return str(int(value))
    return repr(value)


def _sniff_format(path, first_line):
    ext = os.path.splitext(path)[1].lower()
    if ext in _LIBSVM_EXT:
        return "libsvm"
    if ext in _TSV_EXT:
        return "tsv"
    if ext == ".csv":
        return "csv"
    # Content sniffing: "label idx:val ..." means LIBSVM; a tab means TSV; else CSV.
    parts = first_line.split("#", 1)[0].split()
    if len(parts) >= 2 and all(":" in p for p in parts[1:]) and ":" not in parts[0]:
        return "libsvm"
    if "\t" in first_line:
        return "tsv"
    return "csv"


def _names(names, limit=10):
    shown = repr(list(names[:limit]))
    return shown if len(names) <= limit else f"{shown[:-1]}, ...] ({len(names)} in all)"


def _map_labels(raw, linenos, source, minority=None, classes=None):
    r"""Map raw label tokens to {0, 1}: the positive class -> 1, every other class -> 0.

    ``classes``: the label set of the training file; every label must be in it (a
    validation or test file), and one class is then enough. Returns ``(y, info)``.
    """
    canon = np.array([_canonical_label(t) for t in raw], dtype=object).astype(str)
    values, first, counts = np.unique(canon, return_index=True, return_counts=True)
    values = values.astype(object)  # Python str in messages
    if classes is not None:
        allowed = {_canonical_label(c) for c in classes}
        unknown = [i for i in np.argsort(first) if values[i] not in allowed]
        if unknown:
            i = unknown[0]
            raise ValueError(
                f"{source}: row {linenos[first[i]]}: label {values[i]!r} is not a label of the "
                f"training data {sorted(allowed)!r}"
            )
    elif values.size < 2:
        raise ValueError(
            f"{source}: the label column holds fewer than 2 classes "
            f"(found only {values.tolist()!r}); a binary problem needs two"
        )
    if minority is None:
        if values.size > 2:
            raise ValueError(
                f"{source}: the label column holds {values.size} classes "
                f"{values.tolist()[:10]!r}; choose the minority class with minority= "
                f"(--minority LABEL), every other class becomes 0"
            )
        pos = values[int(np.argmin(counts))] if counts[0] != counts[1] else values[1]
    else:
        pos = _canonical_label(minority)
        known = set(values.tolist()) if classes is None else {_canonical_label(c) for c in classes}
        if pos not in known:
            raise ValueError(
                f"{source}: minority={minority!r} does not occur in the label column; "
                f"labels found: {sorted(known)[:10]!r}"
            )
    y = (canon == str(pos)).astype(np.int64)
    return y, {"positive": str(pos), "classes": sorted(set(values.tolist()) | {str(pos)})}


def _check_features(X, columns, source, rows):
    bad = ~np.isfinite(X)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"{source}: row {rows[i]}, column {columns[j]!r}: value {X[i, j]!r} is not finite "
            f"(NaN and infinity are not allowed)"
        )
    if X.shape[0] >= 2:
        const = np.all(X == X[0], axis=0)
        if const.any():
            names = [columns[j] for j in np.flatnonzero(const)]
            raise ValueError(
                f"{source}: constant feature column(s) {_names(names)} (every row holds the same "
                f"value); remove them, they carry no information"
            )


def _read_text(path):
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            return fh.read()
    except FileNotFoundError:
        raise ValueError(f"{path}: no such data file") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: is a directory, not a data file") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a UTF-8 text file ({exc})") from None


def _delimited_rows(path, text, delimiter):
    r"""``(rows, line numbers)`` of delimited text; blank lines are skipped."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=True)
    rows, linenos = [], []
    try:
        for r in reader:
            if not r or (len(r) == 1 and not r[0].strip()):
                continue  # a blank line
            rows.append([f.strip() for f in r])
            linenos.append(reader.line_num)
    except csv.Error as exc:
        raise ValueError(f"{path}: row {reader.line_num + 1}: malformed field ({exc})") from None
    if not rows:
        raise ValueError(f"{path}: the file holds no data rows")
    return rows, linenos


def _label_index(path, label, header, has_header):
    ncol = len(header)
    if label is None:
        return ncol - 1
    text = str(label)
    if has_header and text in header:
        return header.index(text)
    if text.lstrip("-").isdigit() and text.lstrip("-").isascii():
        lab = int(text)
        if not -ncol <= lab < ncol:
            raise ValueError(f"{path}: label column index {label!r} out of range for {ncol} columns")
        return lab % ncol
    if not has_header:
        raise ValueError(f"{path}: no column named {label!r}: the file has no header row "
                         f"(its first row holds numbers); give the label column's 0-based index")
    raise ValueError(f"{path}: no column named {label!r}; columns are {_names(header)}")


def _is_header(path, rows, linenos, label):
    r"""The first row is a header iff none of its cells is a number.

    A data row needs every one of its feature cells to be mistyped to pass for a
    header, and then it is refused when its label cell is a label of another row (the
    caller also reports whether a header was found)."""
    first = rows[0]
    if any(_parse_float(f) is not None for f in first):
        return False
    if len(rows) > 1 and (label is None or str(label).lstrip("-").isdigit()):
        lab = _label_index(path, label, first, False)
        if all(len(r) == len(first) for r in rows[1:]):
            others = {_canonical_label(r[lab]) for r in rows[1:]}
            if _canonical_label(first[lab]) in others:
                j = next(j for j, f in enumerate(first) if j != lab)
                raise ValueError(
                    f"{path}: row {linenos[0]}, column {str(j)!r}: {first[j]!r} is not a number (the "
                    f"row is not a header: its label {first[lab]!r} is a label of other rows)")
    return True


def _load_delimited(path, text, label, delimiter):
    rows, linenos = _delimited_rows(path, text, delimiter)
    has_header = _is_header(path, rows, linenos, label)
    first = rows[0]
    if has_header:
        header, rows, linenos = first, rows[1:], linenos[1:]
    else:
        header = [str(j) for j in range(len(first))]
    if not rows:
        raise ValueError(f"{path}: the file holds a header but no data rows")
    ncol = len(header)
    if ncol < 2:
        raise ValueError(
            f"{path}: found {ncol} column with delimiter {delimiter!r}; need at least one "
            f"feature and a label (is the delimiter right?)"
        )
    for r, n in zip(rows, linenos):
        if len(r) != ncol:
            raise ValueError(f"{path}: row {n} has {len(r)} fields, expected {ncol} like the first row")
    lab = _label_index(path, label, header, has_header)
    feat_cols = [j for j in range(ncol) if j != lab]
    X = np.empty((len(rows), len(feat_cols)), dtype=np.float64)
    for i, (r, n) in enumerate(zip(rows, linenos)):
        for k, j in enumerate(feat_cols):
            field = r[j]
            if field == "":
                raise ValueError(f"{path}: row {n}, column {header[j]!r}: missing value")
            v = _parse_float(field)
            if v is None:
                raise ValueError(f"{path}: row {n}, column {header[j]!r}: {field!r} is not a number")
            X[i, k] = v
    raw = [r[lab] for r in rows]
    for r_label, n in zip(raw, linenos):
        if r_label == "":
            raise ValueError(f"{path}: row {n}, column {header[lab]!r}: missing label")
    names = [header[j] for j in feat_cols]
    return X, raw, names, linenos, (header if has_header else None)


def _libsvm_row(path, n, parts):
    label = parts[0]
    if ":" in label:
        raise ValueError(f"{path}: row {n}: missing label (the first field {label!r} is index:value)")
    row = {}
    for tok in parts[1:]:
        key, sep, val = tok.partition(":")
        if not sep:
            raise ValueError(f"{path}: row {n}: {tok!r} is not of the form index:value")
        if key == "qid":
            continue
        if not _INDEX.match(key):
            raise ValueError(f"{path}: row {n}: feature index {key!r} is not a non-negative integer")
        idx = int(key)
        if idx > MAX_FEATURE_INDEX:
            raise ValueError(f"{path}: row {n}, column {key}: feature index above the supported "
                             f"maximum {MAX_FEATURE_INDEX} (features are stored densely)")
        if idx in row:
            raise ValueError(f"{path}: row {n}, column {idx}: feature index given twice")
        v = _parse_float(val)
        if v is None:
            raise ValueError(f"{path}: row {n}, column {idx}: {val!r} is not a number")
        row[idx] = v
    return label, row


def _load_libsvm(path, text):
    labels, entries, linenos = [], [], []
    for n, line in enumerate(_LINES.split(text), start=1):
        parts = line.split("#", 1)[0].split()
        if not parts:
            continue
        label, row = _libsvm_row(path, n, parts)
        labels.append(label)
        entries.append(row)
        linenos.append(n)
    if not labels:
        raise ValueError(f"{path}: the file holds no data rows")
    used = [idx for row in entries for idx in row]
    if not used:
        raise ValueError(f"{path}: no feature values found")
    base = 0 if min(used) == 0 else 1
    d = max(used) + 1 - base
    if len(labels) * d > MAX_DENSE_ENTRIES:
        raise ValueError(f"{path}: {len(labels)} rows x {d} features is above the supported "
                         f"{MAX_DENSE_ENTRIES} dense entries (largest feature index {max(used)})")
    X = np.zeros((len(labels), d), dtype=np.float64)
    for i, row in enumerate(entries):
        for idx, v in row.items():
            X[i, idx - base] = v
    names = [str(j + base) for j in range(d)]
    return X, labels, names, linenos, None


def load_dataset(path, label=None, minority=None, fmt=None, delimiter=None, classes=None,
                 return_info=False):
    r"""Load a binary classification data set from a text file.

    Parameters
    ----------
    path : str or os.PathLike
        CSV, TSV (or other delimited text) or LIBSVM/svmlight file.
    label : str or int, optional
        Delimited text only: the label column, by header name or 0-based index
        (negative counts from the end). Default: the last column.
    minority : str or number, optional
        The class that becomes label 1 (the paper's footnote 2: minority = 1, all
        other classes 0). ``"1"`` matches ``1`` and ``1.0``. Default: the file must hold
        exactly two classes and the rarer becomes 1.
    fmt : {"csv", "tsv", "libsvm", "svmlight"}, optional
        Default: from the extension (``.csv``, ``.tsv``, ``.libsvm``/``.svm``/``.svmlight``),
        else from the content.
    delimiter : str, optional
        Field delimiter for delimited text (default ``,`` for CSV, tab for TSV).
    classes : sequence of labels, optional
        The label set of the training data, for a validation or test file: every
        label of the file must be one of them (else ``ValueError`` naming the row),
        one class is enough, and ``minority`` (the training data's positive class,
        ``info["positive"]`` of the training file) should be given so that the
        positive class is the training data's, never this file's rarer one.
    return_info : bool
        Also return a dict ``info``: ``format``, ``header`` (the header's names, or
        None when the first row holds data), ``positive`` (the label mapped to 1),
        ``classes`` (every label, canonical form), ``rows`` (file line numbers).

    Returns
    -------
    X : ndarray of float64, shape (n, d)
    y : ndarray of int64, shape (n,), values in {0, 1}
    info : dict, only with ``return_info=True``

    Notes
    -----
    Delimited text has a header row exactly when no cell of its first row is a number
    (``info["header"]`` says which); a first row with some numbers is data, and its
    other cells must then be numbers too. Numbers are ASCII decimal or scientific
    notation (``1``, ``-2.5``, ``.5``, ``3e-7``); anything else in a feature cell is
    refused, never guessed. Blank lines are skipped; nothing else is. LIBSVM feature
    indices are at most :data:`MAX_FEATURE_INDEX` and the dense matrix at most
    :data:`MAX_DENSE_ENTRIES` entries; both are checked before allocating.

    Raises
    ------
    ValueError
        One line naming the file and, where it applies, the row (1-based line number)
        and the column: unreadable file, non-numeric, missing, NaN or infinite values,
        ragged rows, constant feature columns, fewer than two classes, unknown
        ``minority``, a label outside ``classes``, a feature index out of range.
    """
    path = os.fspath(path)
    text = _read_text(path)
    first_line = next((ln for ln in _LINES.split(text) if ln.strip()), "")
    if fmt is None:
        fmt = _sniff_format(path, first_line)
    fmt = str(fmt).lower()
    if fmt in ("libsvm", "svmlight"):
        X, raw, names, linenos, header = _load_libsvm(path, text)
    elif fmt in ("csv", "tsv", "txt", "delimited"):
        if delimiter is None:
            delimiter = "\t" if fmt == "tsv" else ","
        if len(delimiter) != 1 or delimiter in "\r\n\"":
            raise ValueError(f"delimiter must be a single character other than a quote or a line "
                             f"break, got {delimiter!r}")
        X, raw, names, linenos, header = _load_delimited(path, text, label, delimiter)
    else:
        raise ValueError(f"fmt must be one of 'csv', 'tsv', 'libsvm', 'svmlight', got {fmt!r}")
    _check_features(X, names, path, linenos)
    y, info = _map_labels(raw, linenos, path, minority=minority, classes=classes)
    if not return_info:
        return X, y
    info.update(format=fmt, header=header, rows=list(linenos))
    return X, y, info


def imbalance_ratio(y):
    r"""Imbalance ratio IR = (number of negatives) / (number of positives) (Table 1)."""
    y = np.asarray(y)
    m1 = int(np.count_nonzero(y == 1))
    if m1 == 0:
        raise ValueError("y has no positive (label 1) example; the imbalance ratio is undefined")
    return float(np.count_nonzero(y == 0)) / m1


def check_cv_feasible(y, n_folds, source="data"):
    r"""Raise ``ValueError`` unless every one of ``n_folds`` stratified folds can hold a
    positive and a negative example (at least ``n_folds`` of each class)."""
    y = np.asarray(y)
    m1 = int(np.count_nonzero(y == 1))
    m0 = int(np.count_nonzero(y == 0))
    if m1 < n_folds:
        raise ValueError(
            f"{source}: {m1} positive example(s) but {n_folds} folds; every fold needs at "
            f"least one positive (use fewer folds)"
        )
    if m0 < n_folds:
        raise ValueError(f"{source}: {m0} negative example(s) but {n_folds} folds")


def undersample_minority(y, k, rng):
    r"""Indices of a minority-undersampled variant: all negatives and ``k`` positives.

    The positives are drawn without replacement with ``rng`` (a
    ``numpy.random.Generator``); the returned indices are sorted, so the variant keeps
    the file order. With ``k`` equal to the number of positives every row is kept.

    Parameters
    ----------
    y : array of {0, 1}, shape (n,)
    k : int
        Number of positives to keep, ``1 <= k <= count(y == 1)``.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of int64, sorted indices into ``y``.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0, 1, 0, 1, 1, 0, 0])
    >>> idx = undersample_minority(y, 2, np.random.default_rng(0))
    >>> int(y[idx].sum()), int((y[idx] == 0).sum())
    (2, 4)
    """
    y = np.asarray(y)
    pos = np.flatnonzero(y == 1)
    if not is_integer(k):
        raise ValueError(f"k must be an integer, got {k!r}")
    if not 1 <= k <= pos.size:
        raise ValueError(f"k must be in [1, {pos.size}] (the number of positives), got {k!r}")
    keep = rng.choice(pos, size=int(k), replace=False)
    return np.sort(np.concatenate([np.flatnonzero(y != 1), keep])).astype(np.int64)


def dataset_fingerprint(X, y):
    r"""SHA-256 hex digest of the float64 features and int64 labels (C order)."""
    h = hashlib.sha256()
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.int64)
    h.update(repr(X.shape).encode())
    h.update(X.tobytes())
    h.update(y.tobytes())
    return h.hexdigest()
