r"""Loading binary data sets for the experiment protocol, and minority undersampling.

Two text formats are read:

* **delimited text** (CSV, TSV or any single-character delimiter): one example per
  row, an optional header row, the label in a named column or, by default, the last
  column. Every other column is a numeric feature.
* **LIBSVM / svmlight**: ``label index:value index:value ...`` with optional
  ``# comments`` and a ``qid:`` field (ignored). Indices are 1-based unless an index 0
  appears, in which case they are taken as 0-based. Missing entries are zero.

Labels are mapped to the paper's convention (Section 4.1, footnote 2): the minority
class is label 1 and every other class label 0. The minority class is chosen with
``minority=``; without it the file must hold exactly two classes and the rarer one
becomes 1 (with equal counts, the one that sorts last).

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

import numpy as np

__all__ = [
    "load_dataset",
    "undersample_minority",
    "imbalance_ratio",
    "check_cv_feasible",
    "dataset_fingerprint",
]

_LIBSVM_EXT = {".libsvm", ".svm", ".svmlight", ".svml"}
_TSV_EXT = {".tsv", ".tab"}


def _canonical_label(token):
    r"""Normalise a label token so that ``"1"``, ``"1.0"`` and ``" 1 "`` compare equal."""
    text = str(token).strip()
    try:
        value = float(text)
    except ValueError:
        return text
    if math.isfinite(value) and value == int(value):
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


def _parse_float(text):
    try:
        return float(text)
    except ValueError:
        return None


def _map_labels(raw, minority, source):
    r"""Map raw label tokens to {0, 1}: ``minority`` -> 1, everything else -> 0."""
    canon = np.array([_canonical_label(t) for t in raw], dtype=object)
    values, counts = np.unique(canon.astype(str), return_counts=True)
    if values.size < 2:
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
        if pos not in set(values.tolist()):
            raise ValueError(
                f"{source}: minority={minority!r} does not occur in the label column; "
                f"labels found: {values.tolist()[:10]!r}"
            )
    y = (canon.astype(str) == pos).astype(np.int64)
    return y


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
                f"{source}: constant feature column(s) {names!r} (every row holds the same "
                f"value); remove them, they carry no information"
            )


def _read_text(path):
    try:
        with open(path, "r", encoding="utf-8-sig", newline="") as fh:
            return fh.read()
    except FileNotFoundError:
        raise ValueError(f"{path}: no such data file") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a UTF-8 text file ({exc})") from None


def _load_delimited(path, text, label, delimiter):
    lines = [(n, ln) for n, ln in enumerate(text.splitlines(), start=1) if ln.strip()]
    if not lines:
        raise ValueError(f"{path}: the file holds no data rows")
    reader = csv.reader(io.StringIO("\n".join(ln for _, ln in lines)), delimiter=delimiter)
    rows = [[f.strip() for f in r] for r in reader]
    linenos = [n for n, _ in lines]
    first = rows[0]
    # A header is present when any field of the first row is not a number, apart
    # possibly from the label column (labels may be words).
    has_header = sum(_parse_float(f) is None for f in first) > (0 if len(first) == 1 else 1)
    if not has_header and label is not None and not str(label).lstrip("-").isdigit():
        has_header = any(f == str(label) for f in first)
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
    if label is None:
        lab = ncol - 1
    elif str(label) in header:
        lab = header.index(str(label))
    elif str(label).lstrip("-").isdigit():
        lab = int(label)
        if not -ncol <= lab < ncol:
            raise ValueError(f"{path}: label column index {label!r} out of range for {ncol} columns")
        lab %= ncol
    else:
        raise ValueError(f"{path}: no column named {label!r}; columns are {header!r}")
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
    return X, raw, names, linenos, header[lab]


def _load_libsvm(path, text):
    labels, entries, linenos = [], [], []
    min_index, max_index = None, -1
    for n, line in enumerate(text.splitlines(), start=1):
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        parts = body.split()
        labels.append(parts[0])
        row = {}
        for tok in parts[1:]:
            key, sep, val = tok.partition(":")
            if not sep:
                raise ValueError(f"{path}: row {n}: {tok!r} is not of the form index:value")
            if key == "qid":
                continue
            if not key.isdigit():
                raise ValueError(f"{path}: row {n}: feature index {key!r} is not a non-negative integer")
            idx = int(key)
            if idx in row:
                raise ValueError(f"{path}: row {n}, column {idx}: feature index given twice")
            v = _parse_float(val)
            if v is None:
                raise ValueError(f"{path}: row {n}, column {idx}: {val!r} is not a number")
            row[idx] = v
            max_index = max(max_index, idx)
            min_index = idx if min_index is None else min(min_index, idx)
        entries.append(row)
        linenos.append(n)
    if not labels:
        raise ValueError(f"{path}: the file holds no data rows")
    if max_index < 0:
        raise ValueError(f"{path}: no feature values found")
    base = 0 if min_index == 0 else 1
    d = max_index + 1 - base
    X = np.zeros((len(labels), d), dtype=np.float64)
    for i, row in enumerate(entries):
        for idx, v in row.items():
            X[i, idx - base] = v
    names = [str(j + base) for j in range(d)]
    return X, labels, names, linenos, "label"


def load_dataset(path, label=None, minority=None, fmt=None, delimiter=None):
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

    Returns
    -------
    X : ndarray of float64, shape (n, d)
    y : ndarray of int64, shape (n,), values in {0, 1}

    Raises
    ------
    ValueError
        Naming the file and, where it applies, the row (1-based line number) and the
        column: unreadable file, non-numeric, missing, NaN or infinite values, ragged
        rows, constant feature columns, fewer than two classes, unknown ``minority``.
    """
    path = os.fspath(path)
    text = _read_text(path)
    first_line = next((ln for ln in text.splitlines() if ln.strip()), "")
    if fmt is None:
        fmt = _sniff_format(path, first_line)
    fmt = str(fmt).lower()
    if fmt in ("libsvm", "svmlight"):
        X, raw, names, linenos, _ = _load_libsvm(path, text)
    elif fmt in ("csv", "tsv", "txt", "delimited"):
        if delimiter is None:
            delimiter = "\t" if fmt == "tsv" else ","
        if len(delimiter) != 1:
            raise ValueError(f"delimiter must be a single character, got {delimiter!r}")
        X, raw, names, linenos, _ = _load_delimited(path, text, label, delimiter)
    else:
        raise ValueError(f"fmt must be one of 'csv', 'tsv', 'libsvm', 'svmlight', got {fmt!r}")
    _check_features(X, names, path, linenos)
    y = _map_labels(raw, minority, path)
    return X, y


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
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
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
