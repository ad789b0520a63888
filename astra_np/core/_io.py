r"""The one way astra_np writes a file, and the one way it reads JSON.

:func:`atomic_output` (and :func:`write_atomic` for bytes or text in hand) writes a
temporary file beside the target, flushes and fsyncs it, renames it over the target and
fsyncs the directory. On any failure (disk full, file-size limit, Ctrl-C) the temporary
is removed and the file previously at the target is left as it was: a reader sees the
old file or the new one, never a part of either. The error is an ``OSError`` whose
message names the target and the operating system's reason, on one line.

:func:`loads_json` parses JSON text and refuses, in one ``ValueError`` line, text that
is not JSON or nests too deeply (instead of a ``RecursionError``).

This module belongs to no layer of the method: every layer may import it.
"""
import contextlib
import json
import os
import secrets

__all__ = ["atomic_output", "write_atomic", "write_error", "loads_json", "fsync_dir"]

def fsync_dir(directory):
    r"""Make a rename in ``directory`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory descriptors
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems that refuse it
        pass
    finally:
        os.close(fd)


def write_error(exc, path):
    r"""The ``OSError`` of a failed write of ``path``, as one line naming the file."""
    reason = exc.strerror or str(exc)
    return OSError(exc.errno, f"cannot write {os.fspath(path)!r}: {reason}")


@contextlib.contextmanager
def atomic_output(path, mode="wb"):
    r"""A file object (``mode`` ``"wb"`` or ``"w"``, UTF-8) whose content replaces
    ``path`` atomically when the block ends without an exception.

    Raises
    ------
    OSError
        ``"cannot write '<path>': <reason>"``; the previous file at ``path`` is intact and
        no temporary is left.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise write_error(exc, path) from None
    try:
        # fdopen owns the descriptor from here on: it is closed exactly once
        with os.fdopen(fd, mode, **({"encoding": "utf-8", "newline": "\n"} if mode == "w" else {})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise write_error(exc, path) from None
        raise
    fsync_dir(directory)


def write_atomic(path, data):
    r"""Replace ``path`` atomically by ``data`` (``bytes``, or ``str`` written as UTF-8)."""
    with atomic_output(path, "wb") as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)


def loads_json(text, what):
    r"""The JSON value of ``text`` (``str`` or UTF-8 ``bytes``); ``ValueError``
    ``"<what>: not valid JSON (...)"`` on one line otherwise, also for arrays or objects
    nested deeper than Python's recursion limit (instead of a ``RecursionError``)."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{what}: not UTF-8 text ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what}: not valid JSON ({exc})") from None
    except RecursionError:
        raise ValueError(f"{what}: not valid JSON (nested too deeply)") from None
