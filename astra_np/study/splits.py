r"""Repeated stratified K-fold splits with the paper's train / validation / test rotation.

The protocol of Section 4.1 is R x K stratified cross-validation (R = 10, K = 5). In
every repeat the rows are split into K stratified folds, and each of the K rotations
uses

* fold ``k`` as the **test** fold,
* fold ``(k + 1) mod K`` as the **validation** fold (for the best-on-validation
  parameters of Section 4.2),
* the remaining K - 2 folds for **training** (3 of 5 in the paper).

So every fold is the test fold exactly once and the validation fold exactly once per
repeat.

Stratification deals the rows of a repeat out like cards: the positives in a random
order, then the negatives in a random order, row ``i`` of that sequence going to fold
``i mod K``. Each fold receives ``floor(m1 / K)`` or ``ceil(m1 / K)`` positives (exactly
one each for the paper's 5-positive variants with K = 5) and the fold sizes differ by at
most one.

Undersampled variants (``positives=k``): in every repeat, before the folds are dealt,
``k`` positives are drawn (with all negatives kept) by
:func:`astra_np.study.data.undersample_minority`, so the subset is redrawn for every repeat
(Section 4.1). Rows not drawn in a repeat belong to no fold of that repeat.

Everything is a pure function of ``(y, seed)``: repeat ``r`` uses the generator
``numpy.random.default_rng(numpy.random.SeedSequence([seed, r]))``. Splits can be
exported to and imported from JSON (:meth:`CVSplits.to_json`, :func:`load_splits`) so
that another tool can be scored on identical folds. The JSON lists, for every repeat,
the 0-based row indices of each fold.
"""
import hashlib
import json
import os
import reprlib
from collections.abc import Mapping

import numpy as np

from ..core._io import loads_json, write_atomic
from ..core._validation import check_size, is_integer
from .data import MAX_DENSE_ENTRIES, undersample_minority

__all__ = ["CVSplits", "make_splits", "load_splits", "rotation", "labels_fingerprint"]

FORMAT = "astra_np-cv-splits"
VERSION = 1
ROTATION_RULE = "test fold k, validation fold (k + 1) mod K, training the other K - 2 folds"


def rotation(k, n_folds):
    r"""Fold roles of rotation ``k``: ``(test, validation, [training folds])``.

    Examples
    --------
    >>> rotation(4, 5)
    (4, 0, [1, 2, 3])
    """
    if not 0 <= k < n_folds:
        raise ValueError(f"k must be in [0, {n_folds}), got {k!r}")
    val = (k + 1) % n_folds
    return k, val, [j for j in range(n_folds) if j not in (k, val)]


def labels_fingerprint(y):
    r"""SHA-256 hex digest of the labels as int64 (identifies the data the splits fit)."""
    return hashlib.sha256(np.ascontiguousarray(y, dtype=np.int64).tobytes()).hexdigest()


def _check_labels(y):
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"y must be a non-empty 1-D array, got shape {y.shape}")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError(f"y must hold binary labels 0/1, got {np.unique(y)[:6].tolist()!r}")
    return y.astype(np.int64)


class CVSplits:
    r"""R x K fold assignments.

    Attributes
    ----------
    assignments : ndarray of int64, shape (n_repeats, n_samples)
        Fold of every row in every repeat, -1 where a row is not used in that repeat
        (undersampled variants).
    n_folds, seed, positives, labels_sha256
        As given to :func:`make_splits` (``seed``/``positives`` may be None for
        imported splits).
    """

    def __init__(self, assignments, n_folds, seed=None, positives=None, labels_sha256=None):
        a = np.asarray(assignments, dtype=np.int64)
        if a.ndim != 2:
            raise ValueError(f"assignments must be 2-D (repeats, samples), got shape {a.shape}")
        if n_folds < 3:
            raise ValueError(f"n_folds must be >= 3 (train, validation and test folds), got {n_folds!r}")
        if np.any((a < -1) | (a >= n_folds)):
            raise ValueError(f"assignments must be in [-1, {n_folds}), got {np.unique(a).tolist()[:8]!r}")
        for r in range(a.shape[0]):
            missing = set(range(n_folds)) - set(np.unique(a[r]).tolist())
            if missing:
                raise ValueError(f"repeat {r}: fold(s) {sorted(missing)} are empty")
        self.assignments = a
        self.n_folds = int(n_folds)
        self.seed = seed
        self.positives = positives
        self.labels_sha256 = labels_sha256

    @property
    def n_repeats(self):
        return self.assignments.shape[0]

    @property
    def n_samples(self):
        return self.assignments.shape[1]

    def fold(self, repeat, k):
        r"""Sorted row indices of fold ``k`` in repeat ``repeat``."""
        return np.flatnonzero(self.assignments[repeat] == k)

    def rows(self, repeat):
        r"""Sorted row indices used in repeat ``repeat``."""
        return np.flatnonzero(self.assignments[repeat] >= 0)

    def rotation(self, repeat, k):
        r"""``(train, val, test)`` sorted row indices for rotation ``k`` of ``repeat``."""
        test, val, _ = rotation(k, self.n_folds)
        a = self.assignments[repeat]
        train = np.flatnonzero((a >= 0) & (a != test) & (a != val))
        return train, np.flatnonzero(a == val), np.flatnonzero(a == test)

    def __eq__(self, other):
        return (
            isinstance(other, CVSplits)
            and self.n_folds == other.n_folds
            and np.array_equal(self.assignments, other.assignments)
        )

    def to_dict(self):
        r"""JSON-ready mapping (see the module docstring for the layout)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "rotation": ROTATION_RULE,
            "n_samples": int(self.n_samples),
            "n_repeats": int(self.n_repeats),
            "n_folds": self.n_folds,
            "seed": self.seed,
            "positives": self.positives,
            "labels_sha256": self.labels_sha256,
            "repeats": [
                {"repeat": r, "folds": [self.fold(r, k).tolist() for k in range(self.n_folds)]}
                for r in range(self.n_repeats)
            ],
        }

    def to_json(self, path=None):
        r"""JSON text of :meth:`to_dict`; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), separators=(",", ":")) + "\n"
        if path is not None:
            write_atomic(path, text)
        return text


def make_splits(y, n_repeats=10, n_folds=5, seed=0, positives=None):
    r"""Stratified R x K splits as a pure function of ``(y, seed)``.

    Parameters
    ----------
    y : array of {0, 1}, shape (n,)
    n_repeats : int, default 10
    n_folds : int, default 5 (at least 3: training, validation and test folds)
    seed : int, default 0
    positives : int, optional
        Undersampled variant: keep ``positives`` positives (redrawn every repeat) and
        all negatives.

    Returns
    -------
    CVSplits

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([1] * 5 + [0] * 20)
    >>> s = make_splits(y, n_repeats=2, n_folds=5, seed=1)
    >>> [int(y[s.fold(0, k)].sum()) for k in range(5)]
    [1, 1, 1, 1, 1]
    """
    y = _check_labels(y)
    check_size("n_repeats", n_repeats, "repeats")
    check_size("n_folds", n_folds, "folds", minimum=3)
    if not is_integer(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    m1 = int(y.sum())
    m0 = y.size - m1
    k1 = m1 if positives is None else positives
    if positives is not None and (not is_integer(positives) or not 1 <= positives <= m1):
        raise ValueError(
            f"positives must be an integer in [1, {m1}] (the number of positives), got {positives!r}"
        )
    if k1 < n_folds:
        raise ValueError(f"y has {k1} positive(s) to split into {n_folds} folds; every fold needs one")
    if m0 < n_folds:
        raise ValueError(f"y has {m0} negative(s) to split into {n_folds} folds")
    a = np.full((n_repeats, y.size), -1, dtype=np.int64)
    for r in range(n_repeats):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), r]))
        rows = np.arange(y.size) if positives is None else undersample_minority(y, int(positives), rng)
        pos = rng.permutation(rows[y[rows] == 1])
        neg = rng.permutation(rows[y[rows] == 0])
        order = np.concatenate([pos, neg])
        a[r, order] = np.arange(order.size) % n_folds
    return CVSplits(
        a, n_folds, seed=int(seed), positives=None if positives is None else int(positives),
        labels_sha256=labels_fingerprint(y),
    )


#: Largest fold-assignment table (repeats x rows) a splits document may describe: the
#: bound on the dense matrices of data files (:data:`astra_np.study.data.MAX_DENSE_ENTRIES`,
#: 1 GiB), checked before the table is allocated.
MAX_SPLIT_ENTRIES = MAX_DENSE_ENTRIES

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = 8


def _preview(v):
    r"""A short ``repr`` of ``v``, bounded in length and depth."""
    return _SHORT.repr(v)


def _field(doc, key, ok, want, optional=False):
    r"""``doc[key]`` when ``ok`` holds for it; otherwise one ValueError naming the field."""
    if key not in doc:
        if optional:
            return None
        raise ValueError(f"splits: missing field {key!r}")
    value = doc[key]
    if (value is None and optional) or ok(value):
        return value
    raise ValueError(f"splits: {key} must be {want}, got {_preview(value)}")


def _fold_rows(idx, r, k, n):
    r"""The row indices of fold ``k`` of repeat ``r`` as int64, or one ValueError.

    Integers only (a list, a tuple or a 1-D integer array); each is checked against
    ``[0, n)`` as a Python integer, before any conversion that could overflow.
    """
    where = f"splits: repeat {r}, fold {k}"
    if isinstance(idx, np.ndarray) and idx.ndim == 1 and (idx.size == 0 or idx.dtype.kind in "iu"):
        values = idx.tolist()
    elif isinstance(idx, (list, tuple)) and all(is_integer(i) for i in idx):
        values = [int(i) for i in idx]
    else:
        raise ValueError(f"{where} must be a list of integer row indices, got {_preview(idx)}")
    bad = next((i for i in values if not 0 <= i < n), None)
    if bad is not None:
        raise ValueError(f"{where}: row index {bad} out of range [0, {n})")
    rows = np.array(values, dtype=np.int64)
    if np.unique(rows).size != rows.size:
        raise ValueError(f"{where}: a row index appears twice")
    return rows


def _read_text(path):
    try:
        with open(path, encoding="utf-8-sig") as fh:
            return fh.read()
    except UnicodeDecodeError as exc:
        raise ValueError(f"splits: {os.fsdecode(path)}: not UTF-8 text ({exc})") from None


def _splits_document(source):
    r"""The mapping of ``source``: itself, or the JSON object of a file or of JSON text.

    A path-like or bytes ``source`` is a file. A string is JSON text when it starts with
    ``{`` or ``[`` and names no existing file, else a file path.
    """
    if isinstance(source, Mapping):
        return source
    if isinstance(source, (bytes, os.PathLike)):
        text = _read_text(source)
    elif isinstance(source, str):
        is_text = source.lstrip().startswith(("{", "[")) and not os.path.isfile(source)
        text = source if is_text else _read_text(source)
    else:
        raise ValueError(f"splits: source must be a file path, JSON text or a mapping, got {type(source).__name__}")
    doc = loads_json(text, "splits")
    if not isinstance(doc, dict):
        raise ValueError(f"splits: the JSON must be an object, got {type(doc).__name__}")
    return doc


def load_splits(source, y=None):
    r"""Import splits from a JSON file path, JSON text or a mapping (:meth:`CVSplits.to_dict`).

    Every field is checked before the fold table is built, and a malformed document
    raises one ``ValueError`` naming the field (or the repeat and fold) and the value
    found: the format and version, ``n_samples`` (an integer >= 1), ``n_folds`` (an
    integer >= 3), ``repeats`` (a non-empty list of objects with ``folds``: ``n_folds``
    lists of integer row indices in ``[0, n_samples)``, no index twice, folds disjoint),
    and the optional ``seed``, ``positives`` (integers) and ``labels_sha256`` (text). A
    table of more than :data:`MAX_SPLIT_ENTRIES` repeats x rows is refused before it is
    allocated. Nothing is rounded, dropped or relabelled: a fractional or boolean index
    is an error.

    With ``y`` given, its length must be ``n_samples`` and the stored label fingerprint
    (when present) must match it, so splits made for other data are refused.
    """
    doc = _splits_document(source)
    fmt, version = doc.get("format"), doc.get("version")
    if not (isinstance(fmt, str) and fmt == FORMAT):
        raise ValueError(f"splits: format must be {FORMAT!r}, got {_preview(fmt)}")
    if not (is_integer(version) and version == VERSION):
        raise ValueError(f"splits: unsupported version {_preview(version)} (expected {VERSION})")
    n = int(_field(doc, "n_samples", lambda v: is_integer(v) and v >= 1, "an integer >= 1"))
    K = int(_field(doc, "n_folds", lambda v: is_integer(v) and v >= 3, "an integer >= 3 (train, validation, test)"))
    reps = _field(doc, "repeats", lambda v: isinstance(v, (list, tuple)) and len(v) > 0,
                  "a non-empty list of repeats")
    seed = _field(doc, "seed", is_integer, "an integer or null", optional=True)
    positives = _field(doc, "positives", lambda v: is_integer(v) and v >= 1, "an integer >= 1 or null", optional=True)
    sha = _field(doc, "labels_sha256", lambda v: isinstance(v, str), "a hex digest or null", optional=True)
    if len(reps) * n > MAX_SPLIT_ENTRIES:
        raise ValueError(f"splits: {len(reps)} repeats x {n} rows exceed the {MAX_SPLIT_ENTRIES} fold "
                         "assignments a splits file may hold (MAX_SPLIT_ENTRIES)")
    if y is not None:
        y = _check_labels(y)
        if y.size != n:
            raise ValueError(f"splits: made for {n} rows, but y has {y.size}")
        if sha is not None and sha != labels_fingerprint(y):
            raise ValueError("splits: the label fingerprint does not match y (splits made for other data)")
    folds_of = []
    for r, rep in enumerate(reps):
        folds = rep.get("folds") if isinstance(rep, Mapping) else None
        if not isinstance(folds, (list, tuple)):
            raise ValueError(f"splits: repeat {r} must be an object with a list 'folds', got {_preview(rep)}")
        if len(folds) != K:
            raise ValueError(f"splits: repeat {r} has {len(folds)} folds, expected {K}")
        folds_of.append([_fold_rows(idx, r, k, n) for k, idx in enumerate(folds)])
    a = np.full((len(reps), n), -1, dtype=np.int64)
    for r, folds in enumerate(folds_of):
        for k, rows in enumerate(folds):
            if np.any(a[r, rows] >= 0):
                raise ValueError(f"splits: repeat {r}, fold {k}: a row appears in two folds")
            a[r, rows] = k
    return CVSplits(a, K, seed=None if seed is None else int(seed),
                    positives=None if positives is None else int(positives), labels_sha256=sha)
