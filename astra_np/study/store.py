r"""Append-only, crash-safe results store for the experiment protocol.

An experiment directory holds

* ``meta.json``: the experiment's configuration and the astra_np version, written
  once, with the first record (atomically, :func:`astra_np.core._io.write_atomic`).
  Reopening a directory that holds records with a different configuration or package
  version is refused (:class:`ConfigMismatchError`), so results of different setups
  never mix; a directory without records takes any configuration.
* ``folds.jsonl``: one JSON object per line, one line per finished fold (one method
  on one rotation of one repeat). A record is appended with a **single** ``write`` of
  the complete line (opened with ``O_APPEND``) followed by ``fsync``, so a ``kill -9``
  at any moment leaves either the whole line or a torn last line without its newline.
  On opening, a torn last line is cut off (the file is truncated after the last
  complete line); blank lines are skipped; a corrupted line elsewhere, or a record
  field of the wrong type or out of range (:data:`RECORD_FIELDS`), raises
  ``ValueError`` naming the file and the line. A write that fails (disk full) is cut
  back, so the file keeps its complete lines. Records are keyed by
  ``(repeat, rotation, method)``; appending a key that is already stored is refused, so
  nothing is ever duplicated.
* ``.lock``: an advisory lock (``fcntl.lockf``, POSIX; owned by the writing process,
  not inherited by its workers, released by the kernel if the process dies) held while a
  run writes, so two runs cannot write to the same directory at once.

Records are appended in completion order, which depends on scheduling. When every
expected record is present, :meth:`ResultsStore.finalize` rewrites the file once,
atomically, in canonical key order: two complete runs with the same configuration and
seed then give byte-identical ``folds.jsonl`` files (records hold no timing fields).
JSON is written with sorted keys and Python's shortest round-trip float repr.
"""
import json
import math
import os
from pathlib import Path

from ..core._io import loads_json, write_atomic, write_error
from ..core._validation import is_integer

__all__ = ["ResultsStore", "ConfigMismatchError", "KEY_FIELDS", "RECORD_FIELDS", "record_key", "check_record",
           "encode_record"]

FORMAT = "astra_np-results"
VERSION = 1
KEY_FIELDS = ("repeat", "rotation", "method")
RECORDS_FILE = "folds.jsonl"
META_FILE = "meta.json"
LOCK_FILE = ".lock"
_LOCKED = set()  # directories locked by this process


class ConfigMismatchError(ValueError):
    r"""Raised when an existing results directory was made with another configuration."""


def record_key(record):
    r"""The identity of a fold record: ``(repeat, rotation, method)``."""
    try:
        return tuple(record[k] for k in KEY_FIELDS)
    except KeyError as exc:
        raise ValueError(f"record lacks the key field {exc.args[0]!r}: {sorted(record)!r}") from None


def encode_record(record):
    r"""One JSON line (bytes, ending in a newline) for ``record``; NaN/inf are refused."""
    return (json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n").encode()


def _count(v):
    return is_integer(v) and v >= 0


def _number_in(low, high):
    return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and low <= v <= high


def _optional(check):
    return lambda v: v is None or check(v)


_ANY_NUMBER = _number_in(-math.inf, math.inf)

#: The type and range of every field a fold record may hold (a field absent is not
#: checked here; the report names the one it needs). Keyed by field name: (test, what).
RECORD_FIELDS = {
    "repeat": (_count, "an integer >= 0"),
    "rotation": (_count, "an integer >= 0"),
    "method": (lambda v: isinstance(v, str), "a method name (a string)"),
    "dataset": (lambda v: isinstance(v, str), "a string"),
    **{k: (_count, "an integer >= 0") for k in (
        "test_fold", "val_fold", "random_state", "n_train", "n_train_pos", "n_val", "n_val_pos",
        "n_test", "n_test_pos", "tp", "fp", "tn", "fn")},
    "g_mean": (_number_in(0.0, 1.0), "a number in [0, 1]"),
    "mcc": (_number_in(-1.0, 1.0), "a number in [-1, 1]"),
    **{k: (_optional(_count), "null or an integer >= 0") for k in (
        "best_epoch", "n_epochs", "epochs_off_fused_path")},
    **{k: (_optional(_ANY_NUMBER), "null or a number") for k in ("b", "tau", "b_last", "tau_last")},
    "stopped": (lambda v: isinstance(v, bool), "true or false"),
    "warnings": (lambda v: isinstance(v, list) and all(isinstance(w, str) for w in v), "a list of strings"),
    "history": (lambda v: isinstance(v, dict), "an object"),
    "history_sampled": (lambda v: isinstance(v, dict), "an object"),
}


def check_record(record):
    r"""``ValueError`` naming the first field of ``record`` of a wrong type or out of range
    (:data:`RECORD_FIELDS`); the key fields must be present."""
    record_key(record)
    for name, (ok, what) in RECORD_FIELDS.items():
        if name in record and not ok(record[name]):
            raise ValueError(f"field {name!r} must be {what}, got {record[name]!r}")


class ResultsStore:
    r"""Results of one experiment in ``directory`` (created if needed).

    Parameters
    ----------
    directory : str or os.PathLike

    Notes
    -----
    Typical use: ``store.open(config, version)`` (checks ``meta.json``, repairs a torn
    last line, takes the lock), then :meth:`append` per finished fold (the first one
    writes ``meta.json``), :meth:`finalize` when complete, :meth:`close`.
    """

    def __init__(self, directory):
        self.directory = os.fspath(directory)
        self.records_path = os.path.join(self.directory, RECORDS_FILE)
        self.meta_path = os.path.join(self.directory, META_FILE)
        self._fd = None
        self._lock_fd = None
        self._lock_key = None
        self._keys = set()
        self._meta_to_write = None

    # -- metadata ---------------------------------------------------------------------
    def read_meta(self):
        r"""The stored ``meta.json`` mapping, or None when the directory has none."""
        if not os.path.exists(self.meta_path):
            return None
        with open(self.meta_path, "rb") as fh:
            meta = loads_json(fh.read(), self.meta_path)
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            meta = meta if isinstance(meta, dict) else {}
            raise ValueError(
                f"{self.meta_path}: not an astra_np results file (format {meta.get('format')!r})"
            )
        if not isinstance(meta.get("config"), dict):
            raise ValueError(f"{self.meta_path}: damaged: no 'config' object")
        return meta

    def _check_meta(self, meta, config, package_version):
        diffs = sorted(k for k in set(config) | set(meta["config"]) if config.get(k) != meta["config"].get(k))
        if diffs:
            shown = "; ".join(f"{k}: stored {meta['config'].get(k)!r}, requested {config.get(k)!r}" for k in diffs)
            raise ConfigMismatchError(
                f"{self.directory} holds results of a different configuration ({shown}); "
                f"use another output directory or the same options to resume"
            )
        if meta.get("package_version") != package_version:
            raise ConfigMismatchError(
                f"{self.directory} was written by astra_np {meta.get('package_version')!r}, "
                f"this is {package_version!r}; use another output directory"
            )

    def open(self, config, package_version):
        r"""Create or reopen the store for ``config``; returns the stored records.

        The configuration is fixed once the run's first unit of work is stored:
        ``meta.json`` is written with the first record (or by :meth:`fix_configuration`,
        when the unit of work is stored elsewhere first), so a directory without it takes
        any configuration.

        Raises
        ------
        ConfigMismatchError
            If the directory holds results of another configuration or version.
        """
        os.makedirs(self.directory, exist_ok=True)
        self._acquire_lock()
        try:
            config = json.loads(json.dumps(config, sort_keys=True))  # normalise types
            meta = self.read_meta()
            records = self.load(repair=True)
            if meta is None and records:
                raise ValueError(f"{self.records_path} exists without {META_FILE}; refusing to mix results")
            if meta is not None:
                self._check_meta(meta, config, package_version)
            else:  # written with the first record
                self._meta_to_write = {"format": FORMAT, "version": VERSION,
                                       "package_version": package_version, "config": config}
            self._keys = {record_key(r) for r in records}
            self._fd = os.open(self.records_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            return records
        except BaseException:
            self.close()
            raise

    def _acquire_lock(self):
        key = os.path.realpath(self.directory)
        if key in _LOCKED:
            raise RuntimeError(f"{self.directory} is in use by another run (locked)")
        try:
            import fcntl
        except ImportError:  # pragma: no cover - non-POSIX
            _LOCKED.add(key)
            self._lock_key = key
            return
        fd = os.open(os.path.join(self.directory, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            # POSIX record lock: owned by this process only, so worker processes forked
            # later do not hold it, and the kernel releases it when this process dies.
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise RuntimeError(f"{self.directory} is in use by another run (locked)") from None
        self._lock_fd = fd
        _LOCKED.add(key)
        self._lock_key = key

    # -- records ------------------------------------------------------------------------
    def load(self, repair=False):
        r"""All complete records, in file order.

        A torn last line (no trailing newline, e.g. after ``kill -9`` during a write) is
        ignored, and with ``repair=True`` cut off the file. Blank lines are skipped.
        Duplicate keys or a corrupted complete line raise ``ValueError`` naming the file
        and the line.
        """
        if not os.path.exists(self.records_path):
            return []
        with open(self.records_path, "rb") as fh:
            data = fh.read()
        end = data.rfind(b"\n") + 1
        if end < len(data) and repair:
            with open(self.records_path, "r+b") as fh:
                fh.truncate(end)
                fh.flush()
                os.fsync(fh.fileno())
        records, seen = [], set()
        for lineno, line in enumerate(data[:end].split(b"\n"), start=1):
            if not line.strip():
                continue  # a blank line (e.g. added by an editor) holds no record
            rec = self._parse_line(lineno, line)
            key = record_key(rec)
            if key in seen:
                raise ValueError(f"{self.records_path}: line {lineno} duplicates record {key!r}")
            seen.add(key)
            records.append(rec)
        return records

    def _parse_line(self, lineno, line):
        r"""The record of one line; ``ValueError`` naming the file and the line otherwise."""
        where = f"{self.records_path}: line {lineno}"
        try:
            rec = loads_json(line, where)
        except ValueError as exc:
            raise ValueError(f"{where} is corrupted ({str(exc).removeprefix(where + ': ')})") from None
        if not isinstance(rec, dict):
            raise ValueError(f"{where} is not a fold record (a JSON object), got {type(rec).__name__}")
        try:
            check_record(rec)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        return rec

    def __contains__(self, key):
        return tuple(key) in self._keys

    def append(self, record):
        r"""Durably append one fold record (single write of the whole line, then fsync).

        The first record also writes ``meta.json``. When the write fails (disk full, a
        file-size limit) the file is cut back to its previous length and the
        ``OSError`` is raised.
        """
        if self._fd is None:
            raise RuntimeError("store is not open; call open(config, version) first")
        key = record_key(record)
        if key in self._keys:
            raise ValueError(f"record {key!r} is already stored")
        data = encode_record(record)
        self.fix_configuration()
        size = os.fstat(self._fd).st_size
        try:
            view = memoryview(data)
            while view:  # a regular-file write is complete unless interrupted or the disk is full
                n = os.write(self._fd, view)
                view = view[n:]
            os.fsync(self._fd)
        except OSError as exc:
            os.ftruncate(self._fd, size)
            raise write_error(exc, self.records_path) from None
        self._keys.add(key)

    def fix_configuration(self):
        r"""Write ``meta.json`` now, if it is not written yet: from here on a reopening with
        another configuration is refused. :meth:`append` does it with the first record; a
        run whose units of work are stored elsewhere first (the candidate fits of an
        architecture selection) calls it before storing the first of them."""
        if self._meta_to_write is not None:
            write_atomic(self.meta_path, json.dumps(self._meta_to_write, sort_keys=True, indent=1) + "\n")
            self._meta_to_write = None

    def finalize(self, sort_key):
        r"""Rewrite the records atomically in ``sorted(records, key=sort_key)`` order."""
        records = sorted(self.load(), key=sort_key)
        write_atomic(self.records_path, b"".join(encode_record(r) for r in records))
        if self._fd is not None:  # the appending descriptor points at the replaced file
            os.close(self._fd)
            self._fd = None
            self._fd = os.open(self.records_path, os.O_WRONLY | os.O_APPEND)
        return records

    def close(self):
        r"""Close the records file and release the lock."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the lock
            self._lock_fd = None
        if self._lock_key is not None:
            _LOCKED.discard(self._lock_key)
            self._lock_key = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_results(results_dir, require_meta=True):
    r"""``(directory, meta, records)`` of a results directory, for reading only.

    The one reader of stored results (the report and the figures use it). ``results_dir``
    may also name its ``folds.jsonl``. Nothing is written (a torn last line is skipped,
    not repaired). ``require_meta``: a directory without ``meta.json`` is a
    ``ValueError``; otherwise ``meta`` is None there (or when it cannot be read).
    ``FileNotFoundError`` names the missing records file.
    """
    path = Path(results_dir)
    if path.is_file() and path.name == RECORDS_FILE:
        path = path.parent
    store = ResultsStore(path)
    try:
        meta = store.read_meta()
    except ValueError:
        if require_meta:
            raise
        meta = None
    if meta is None and require_meta:
        raise ValueError(f"{results_dir}: no meta.json (not a results directory)")
    if not (path / RECORDS_FILE).is_file():
        raise FileNotFoundError(
            f"results_dir: no fold records at {str(path / RECORDS_FILE)!r} (expected the "
            "output directory of 'python -m astra_np experiment')"
        )
    return path, meta, store.load(repair=False)

