r"""Loading binary data sets for the experiment protocol, and minority undersampling.

Two text formats are read:

* **delimited text** (CSV, TSV or any single-character delimiter): one example per
  row (see :func:`load_dataset`, Notes), the label in a named column or, by default,
  the last column. Every other column is a numeric feature.
* **LIBSVM / svmlight**: ``label index:value index:value ...`` with optional
  ``# comments`` and a ``qid:`` field (ignored). Indices are 1-based unless an index 0
  appears, in which case they are taken as 0-based; a validation or test file takes
  the training file's base and feature count (scikit-learn's ``load_svmlight_files``
  with ``zero_based="auto"`` decides the base once for all the files in the same way).
  Missing entries are zero. Indices above :data:`MAX_FEATURE_INDEX` are refused before
  anything is allocated.

Labels are mapped to the paper's convention (Section 4.1, footnote 2): the minority
class is label 1 and every other class label 0. The minority class is chosen with
``minority=``; without it the file must hold exactly two classes and the rarer one
becomes 1 (with equal counts, the one that sorts last). A validation or test file
takes the training file's positive class and label set, never its own rarer class,
and its columns are matched to the training file's by header name
(``training=``, the training file's ``info``).

Labels are compared exactly as text, except that numbers compare by their exact
decimal value (``"1"``, ``"1.0"`` and ``"+1"`` are one label; ``"0.1"`` and
``"0.10000000000000001"`` are two).

Every problem found in a file raises ``ValueError`` naming the file, and where it
applies the row (1-based line number in the file) and the column: non-numeric or
missing fields, NaN or infinite values (a number beyond the float64 range such as
``1e400`` included), ragged rows, constant feature columns of a training file (they
carry no information and make standardisation degenerate), fewer than two classes.
Only regular files are read: a FIFO or a device (``/dev/zero``) is refused before
reading.
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
import stat
from collections import Counter
from decimal import Decimal, InvalidOperation

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


def _feature_value(path, n, column, text):
    r"""The float64 value of a feature cell, or ``ValueError`` naming the row and column
    (not a number, or a number beyond the float64 range such as ``1e400``)."""
    value = _parse_float(text)
    if value is None:
        raise ValueError(f"{path}: row {n}, column {column}: {text!r} is not a number")
    if math.isinf(value) and _NUMBER.match(text.strip()):
        raise ValueError(f"{path}: row {n}, column {column}: {text.strip()!r} is beyond the float64 range "
                         f"(largest magnitude 1.8e308)")
    return value


#: Integers with at most this many digits are written out in full as labels.
_LABEL_INT_DIGITS = 40


def _canonical_label(token):
    r"""The label ``token`` in the form in which labels are compared.

    Text is compared exactly (``"a"`` and ``"a\x00"`` are two labels). A number is
    compared by its exact decimal value, never through a float: ``"1"``, ``" 1.0"`` and
    ``"+1"`` are ``"1"``, while ``"0.1"`` and ``"0.10000000000000001"`` (one float64)
    stay two labels."""
    text = str(token).strip()
    if not _NUMBER.match(text):
        return text
    try:
        value = Decimal(text)
    except InvalidOperation:  # an exponent beyond the decimal module's range: compared as text
        return text
    if value.is_zero():
        return "0"
    sign, digits, exponent = value.as_tuple()
    while digits[-1] == 0:
        digits, exponent = digits[:-1], exponent + 1
    if exponent >= 0 and len(digits) + exponent <= _LABEL_INT_DIGITS:
        return str(int(value))
    exact = Decimal((sign, digits, exponent))
    shortest = repr(float(text))
    if Decimal(shortest) == exact:
        return shortest  # the float64 that prints as the written value: "0.5", "1e-07"
    return str(exact)


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
    Labels stay Python strings throughout (a NumPy string array would drop trailing
    NUL characters and merge two labels).
    """
    canon = [_canonical_label(t) for t in raw]
    counts = Counter(canon)
    first = {}
    for i, c in enumerate(canon):
        first.setdefault(c, i)
    values = sorted(counts)
    if classes is not None:
        allowed = {_canonical_label(c) for c in classes}
        unknown = [c for c in first if c not in allowed]
        if unknown:
            raise ValueError(
                f"{source}: row {linenos[first[unknown[0]]]}: label {unknown[0]!r} is not a label of the "
                f"training data {sorted(allowed)!r}"
            )
    elif len(values) < 2:
        raise ValueError(
            f"{source}: the label column holds fewer than 2 classes "
            f"(found only {values!r}); a binary problem needs two"
        )
    if minority is None:
        if len(values) > 2:
            raise ValueError(
                f"{source}: the label column holds {len(values)} classes "
                f"{values[:10]!r}; choose the minority class with minority= "
                f"(--minority LABEL), every other class becomes 0"
            )
        low, high = (counts[v] for v in values)
        pos = values[0] if low < high else values[1]
    else:
        pos = _canonical_label(minority)
        known = set(values) if classes is None else {_canonical_label(c) for c in classes}
        if pos not in known:
            raise ValueError(
                f"{source}: minority={minority!r} does not occur in the label column; "
                f"labels found: {sorted(known)[:10]!r}"
            )
    y = np.fromiter((c == pos for c in canon), dtype=np.int64, count=len(canon))
    return y, {"positive": pos, "classes": sorted(set(values) | {pos})}


def _check_features(X, columns, source, rows, training):
    r"""Finite values; in a training file (``training`` None) no constant column. A
    validation or test file may hold a constant column: it is scaled with the
    training rows' statistics."""
    bad = ~np.isfinite(X)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(
            f"{source}: row {rows[i]}, column {columns[j]!r}: value {X[i, j]!r} is not finite "
            f"(NaN and infinity are not allowed)"
        )
    if training is None and X.shape[0] >= 2:
        const = np.all(X == X[0], axis=0)
        if const.any():
            names = [columns[j] for j in np.flatnonzero(const)]
            raise ValueError(
                f"{source}: constant feature column(s) {_names(names)} (every row holds the same "
                f"value); remove them, they carry no information"
            )


def _read_text(path):
    r"""The text of a regular file; a FIFO, device or socket is refused before reading
    (``/dev/zero`` would never end)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ValueError(f"{path}: no such data file") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the data file ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        raise ValueError(f"{path}: is a directory, not a data file")
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path}: not a regular file (a FIFO, a device or a socket); data are read "
                         f"from regular files only")
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            return fh.read()
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a UTF-8 text file ({exc})") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the data file ({exc.strerror})") from None


def _delimited_rows(path, text, delimiter):
    r"""``(rows, line numbers)`` of delimited text, each row numbered by the line on
    which it starts; blank lines are skipped. A field holding a line break (a quote
    left open) is refused naming the row where it starts."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, skipinitialspace=True)
    rows, linenos = [], []
    start = 1
    try:
        for r in reader:
            n, start = start, reader.line_num + 1
            if not r or (len(r) == 1 and not r[0].strip()):
                continue  # a blank line
            if n != reader.line_num:
                raise ValueError(f"{path}: row {n}: a quoted field runs over {reader.line_num - n} line "
                                 f"break(s) to row {reader.line_num} (a '\"' left open?)")
            rows.append([f.strip() for f in r])
            linenos.append(n)
    except csv.Error as exc:
        raise ValueError(f"{path}: row {start}: malformed field ({exc})") from None
    if not rows:
        raise ValueError(f"{path}: the file holds no data rows")
    return rows, linenos


def _is_index(text):
    stripped = str(text).lstrip("-")
    return stripped.isdigit() and stripped.isascii()


def _label_index(path, label, header, has_header):
    ncol = len(header)
    if label is None:
        return ncol - 1
    text = str(label)
    if has_header and text in header:
        return header.index(text)
    if _is_index(text):
        lab = int(text)
        if not -ncol <= lab < ncol:
            raise ValueError(f"{path}: label column index {label!r} out of range for {ncol} columns")
        return lab % ncol
    raise ValueError(f"{path}: no column named {label!r}; columns are {_names(header)}")


def _is_header(path, rows, linenos, label, classes):
    r"""Whether the first row is a header (see :func:`load_dataset`, Notes)."""
    first = rows[0]
    numbers = any(_parse_float(f) is not None for f in first)
    if label is not None and not _is_index(label):
        if str(label) in first:
            return True  # the label column's name
        return not numbers
    if len(rows) < 2:
        return not numbers
    lab = _label_index(path, label, first, False)
    own = _canonical_label(first[lab])
    others = {_canonical_label(r[lab]) for r in rows[1:] if len(r) == len(first)}
    if own in others:
        if numbers:
            return False
        j = next(j for j, f in enumerate(first) if j != lab)
        raise ValueError(
            f"{path}: row {linenos[0]}, column {str(j)!r}: {first[j]!r} is not a number (the "
            f"row is not a header: its label {first[lab]!r} is a label of other rows)")
    if not numbers:
        return True
    # a label cell that is a name no other row holds: a header (pandas writes "0,1,2,3,y")
    # when the other rows' labels are numbers, or when it is not one of the training
    # classes (a validation or test file). A missing or non-finite label, or repeated
    # cells, mark a damaged data row instead.
    if _NUMBER.match(own) or _NONFINITE.match(own) or not own or len(set(first)) < len(first):
        return False
    if classes is not None:
        return own not in {_canonical_label(c) for c in classes}
    return bool(others) and all(_NUMBER.match(o) for o in others)


def _check_widths(path, rows, linenos, ncol, delimiter):
    r"""Every row (header included) has ``ncol`` fields; a comment line and a trailing
    delimiter are named as such."""
    if all(len(r) > 1 and r[-1] == "" for r in rows):
        raise ValueError(f"{path}: every row ends with the delimiter {delimiter!r} (an empty last column); "
                         f"remove the trailing delimiters")
    if any(len(r) != ncol for r in rows):
        for r, n in zip(rows, linenos):
            if r[0].startswith("#"):
                raise ValueError(f"{path}: row {n} starts with '#': comment lines are not allowed in "
                                 f"delimited text (remove the line)")
    for r, n in zip(rows, linenos):
        if len(r) != ncol:
            trailing = f" (a trailing {delimiter!r} ends the row)" if len(r) == ncol + 1 and r[-1] == "" else ""
            raise ValueError(f"{path}: row {n} has {len(r)} fields, expected {ncol} like the first row"
                             f"{trailing}")


def _aligned_columns(path, header, ncol, training):
    r"""``(label index, feature indices, how)`` of a validation or test file: its
    columns matched to the training file's by header name, else by position when
    both have the same number of columns; ``ValueError`` otherwise."""
    t_header, t_lab = training["header"], training["label_column"]
    t_ncol = len(training["features"]) + 1
    if header is not None and t_header is not None:
        if header == t_header:
            return t_lab, [j for j in range(ncol) if j != t_lab], "by name"
        missing = [n for n in t_header if n not in header]
        unknown = [n for n in header if n not in t_header]
        if missing or unknown or len(header) != len(t_header):
            raise ValueError(f"{path}: its columns {_names(header)} are not the training file's "
                             f"{_names(t_header)} (missing {_names(missing)}, not in the training file "
                             f"{_names(unknown)}); columns are matched by header name")
        twice = sorted({n for n in header if header.count(n) > 1})
        if twice:
            raise ValueError(f"{path}: column name(s) {_names(twice)} appear more than once; the columns "
                             f"cannot be matched by name to the training file's")
        where = {name: j for j, name in enumerate(header)}
        return where[t_header[t_lab]], [where[name] for name in training["features"]], "by name"
    if ncol != t_ncol:
        where = "either file" if header is None and t_header is None else (
            "this file" if header is None else "the training file")
        raise ValueError(f"{path}: {ncol} columns, the training file has {t_ncol}; they cannot be matched "
                         f"by name (no header row in {where})")
    return t_lab, [j for j in range(ncol) if j != t_lab], "by position"


def _load_delimited(path, text, label, delimiter, classes, training):
    rows, linenos = _delimited_rows(path, text, delimiter)
    if training is not None and training["header"] is not None:
        label = training["header"][training["label_column"]]  # found by name, if this file has a header
    elif training is not None:
        label = training["label_column"]
    first = rows[0]
    _check_widths(path, rows, linenos, len(first), delimiter)
    has_header = _is_header(path, rows, linenos, label, classes)
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
    if training is None:
        if not has_header and label is not None and not _is_index(label):
            raise ValueError(f"{path}: no column named {label!r}: the first row {_names(first)} does not hold "
                             f"it, so it is data, not a header; give the label column's 0-based index")
        lab = _label_index(path, label, header, has_header)
        feat_cols, aligned = [j for j in range(ncol) if j != lab], None
    else:
        lab, feat_cols, aligned = _aligned_columns(path, header if has_header else None, ncol, training)
    X = np.empty((len(rows), len(feat_cols)), dtype=np.float64)
    for i, (r, n) in enumerate(zip(rows, linenos)):
        for k, j in enumerate(feat_cols):
            if r[j] == "":
                raise ValueError(f"{path}: row {n}, column {header[j]!r}: missing value")
            X[i, k] = _feature_value(path, n, repr(header[j]), r[j])
    raw = [r[lab] for r in rows]
    for r_label, n in zip(raw, linenos):
        if r_label == "":
            raise ValueError(f"{path}: row {n}, column {header[lab]!r}: missing label")
    names = [header[j] for j in feat_cols]
    layout = {"header": header if has_header else None, "label_column": lab, "features": names,
              "aligned": aligned}
    return X, raw, linenos, layout


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
        row[idx] = _feature_value(path, n, str(idx), val)
    return label, row


def _libsvm_shape(path, entries, linenos, training):
    r"""``(index base, number of features)``: from the file's own indices for a training
    file, from the training file for a validation or test file (whose rows may lack the
    top index; an index beyond the training file's, or an index 0 when the training
    file's indices are 1-based, is refused)."""
    used = [(idx, n) for row, n in zip(entries, linenos) for idx in row]
    if training is None:
        if not used:
            raise ValueError(f"{path}: no feature values found")
        low = min(idx for idx, _ in used)
        base = 0 if low == 0 else 1
        return base, max(idx for idx, _ in used) + 1 - base
    base, d = training["index_base"], len(training["features"])
    for idx, n in used:
        if idx < base:
            raise ValueError(f"{path}: row {n}, column {idx}: feature index 0, but the training file's "
                             f"indices are 1-based (it has no index 0); write both files with the same "
                             f"index base")
        if idx - base >= d:
            raise ValueError(f"{path}: row {n}, column {idx}: feature index above the training file's "
                             f"largest, {d - 1 + base}")
    return base, d


def _load_libsvm(path, text, training):
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
    base, d = _libsvm_shape(path, entries, linenos, training)
    if len(labels) * d > MAX_DENSE_ENTRIES:
        raise ValueError(f"{path}: {len(labels)} rows x {d} features is above the supported "
                         f"{MAX_DENSE_ENTRIES} dense entries (largest feature index {d - 1 + base})")
    X = np.zeros((len(labels), d), dtype=np.float64)
    for i, row in enumerate(entries):
        for idx, v in row.items():
            X[i, idx - base] = v
    names = [str(j + base) for j in range(d)]
    layout = {"header": None, "features": names, "index_base": base,
              "aligned": None if training is None else "by index"}
    return X, labels, linenos, layout


def _validation_of(training, label, minority, classes):
    r"""``(minority, classes)`` of a file read with ``training=``."""
    if training is None:
        return minority, classes
    needed = {"format", "header", "features", "positive", "classes",
              "index_base" if isinstance(training, dict) and training.get("format") == "libsvm" else "label_column"}
    if not isinstance(training, dict) or not needed <= set(training):
        raise ValueError("training= must be the info of the training file (load_dataset(..., return_info=True)), "
                         f"got {type(training).__name__}")
    given = [name for name, v in (("label", label), ("minority", minority), ("classes", classes)) if v is not None]
    if given:
        raise ValueError(f"give either training= or {'/'.join(given)}=: a file read with training= takes "
                         f"the label column, the positive class and the classes of the training file")
    return training["positive"], training["classes"]


def load_dataset(path, label=None, minority=None, fmt=None, delimiter=None, classes=None,
                 return_info=False, training=None):
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
        ``training=`` does all of this and matches the columns too.
    return_info : bool
        Also return a dict ``info``: ``format``, ``header`` (the header's names, or
        None when the first row holds data), ``positive`` (the label mapped to 1),
        ``classes`` (every label, canonical form), ``rows`` (file line numbers),
        ``features`` (the feature names: header names, column positions or LIBSVM
        indices), ``label_column`` (its 0-based position, delimited text),
        ``index_base`` (LIBSVM), ``aligned`` (with ``training``: how the columns were
        matched, ``"by name"``, ``"by position"`` or ``"by index"``).
    training : dict, optional
        The ``info`` of the training file (``return_info=True``): read this file as a
        validation or test file of it. Same format; the positive class and the label
        set are the training file's (``label``, ``minority`` and ``classes`` are not
        given then); the columns are matched to the training file's by header name
        when both files have a header (any order, the label anywhere), else by
        position when both have the same number of columns, else refused; LIBSVM
        indices are read with the training file's index base and feature count.
        Constant columns are allowed (the training rows' scaling applies).

    Returns
    -------
    X : ndarray of float64, shape (n, d)
        With ``training``, the columns in the training file's order.
    y : ndarray of int64, shape (n,), values in {0, 1}
    info : dict, only with ``return_info=True``

    Notes
    -----
    Delimited text: the first row is a header when it holds the label column's name
    (``label`` given by name), or when none of its cells is a number, or when its cells
    are distinct and its label cell is a name (not empty, not a number, nan or inf)
    that is a label of no other row, while the other rows' labels are numbers (pandas
    writes ``0,1,2,3,y``) or, with ``classes`` or ``training``, it is not one of the
    training classes. A first row without numbers whose label is a
    label of other rows is a damaged data row and refused. Numbers are ASCII decimal or
    scientific notation (``1``, ``-2.5``, ``.5``, ``3e-7``); anything else in a feature
    cell is refused, never guessed. Blank lines are skipped; nothing else is (a comment
    line, a trailing delimiter and a quoted field running over a line break are refused
    as such). LIBSVM feature indices are at most :data:`MAX_FEATURE_INDEX` and the dense
    matrix at most :data:`MAX_DENSE_ENTRIES` entries; both are checked before
    allocating.

    Raises
    ------
    ValueError
        One line naming the file and, where it applies, the row (1-based line number)
        and the column: unreadable file or not a regular file, non-numeric, missing,
        NaN or infinite values, ragged rows, constant feature columns, fewer than two
        classes, unknown ``minority``, a label outside ``classes``, a feature index out
        of range, columns that do not match the ``training`` file's.
    """
    path = os.fspath(path)
    minority, classes = _validation_of(training, label, minority, classes)
    text = _read_text(path)
    first_line = next((ln for ln in _LINES.split(text) if ln.strip()), "")
    if fmt is None:
        fmt = _sniff_format(path, first_line)
    fmt = str(fmt).lower()
    if fmt in ("libsvm", "svmlight"):
        fmt = "libsvm"
    elif fmt in ("csv", "tsv", "txt", "delimited"):
        if delimiter is None:
            delimiter = "\t" if fmt == "tsv" else ","
        if len(delimiter) != 1 or delimiter in "\r\n\"":
            raise ValueError(f"delimiter must be a single character other than a quote or a line "
                             f"break, got {delimiter!r}")
    else:
        raise ValueError(f"fmt must be one of 'csv', 'tsv', 'libsvm', 'svmlight', got {fmt!r}")
    if training is not None and (fmt == "libsvm") != (training["format"] == "libsvm"):
        raise ValueError(f"{path}: format {fmt}, the training file is {training['format']}; give both "
                         f"files in the same format")
    if fmt == "libsvm":
        X, raw, linenos, layout = _load_libsvm(path, text, training)
    else:
        X, raw, linenos, layout = _load_delimited(path, text, label, delimiter, classes, training)
    _check_features(X, layout["features"], path, linenos, training)
    y, info = _map_labels(raw, linenos, path, minority=minority, classes=classes)
    if not return_info:
        return X, y
    info.update(layout, format=fmt, rows=list(linenos))
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
