r"""Argument types and the parser shared by the command-line interface.

Every command refuses a bad argument before it does any work and before it writes
anything: one line on stderr naming the argument and the value, exit status 2. The
types below do the checking at parse time; output paths are checked for being
writable there too (a missing directory, a directory where a file is wanted, a file
where a directory is wanted, a read-only place), without creating anything.
"""
import argparse
import math
import os
import sys

from ..core.plugins import ENTRY_POINT_GROUP, PluginError, load_entry_points
from ..core.plugins import load_plugins as load_plugins_now

__all__ = [
    "ArgumentParser",
    "load_plugins",
    "parse",
    "fail",
    "positive_int",
    "nonneg_int",
    "seed",
    "positive_float",
    "nonneg_float",
    "fraction",
    "threshold",
    "int_at_least",
    "output_file",
    "output_dir",
    "input_file",
    "input_dir",
    "delimiter",
]


def one_line(text):
    r"""``text`` with its line breaks replaced by ``"; "`` (an error is one line)."""
    return "; ".join(part.strip() for part in str(text).splitlines() if part.strip())


class ArgumentParser(argparse.ArgumentParser):
    r"""``argparse.ArgumentParser`` whose errors are one line (no usage block), exit 2.

    Every command's parser has ``--plugin`` (loaded before parsing, :func:`load_plugins`).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_argument("--plugin", action="append", default=[], metavar="MODULE_OR_PY_FILE",
                          help="import this module or Python file first (repeatable): the losses it "
                               "registers become methods; installed packages' entry points "
                               f"({ENTRY_POINT_GROUP}) are loaded too")

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {one_line(message)} (see --help)\n")
        raise SystemExit(2)


def parse(parser, argv):
    r"""``(args, None)`` on success, else ``(None, exit_code)`` (0 after ``--help``, 2 on errors).

    ``parser`` may be the function that builds it: the plugins (:func:`load_plugins`) are
    then loaded first, so that its method choices include their losses.
    """
    if callable(parser) and not isinstance(parser, argparse.ArgumentParser):
        code = load_plugins(argv)
        if code is not None:
            return None, code
        parser = parser()
    try:
        return parser.parse_args(list(sys.argv[1:] if argv is None else argv)), None
    except SystemExit as exc:
        return None, exc.code if isinstance(exc.code, int) else 2


def plugin_arguments(argv):
    r"""The values of ``--plugin X`` and ``--plugin=X`` in ``argv``, in order."""
    argv = list(argv)
    out = []
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--plugin" and i + 1 < len(argv):
            out.append(argv[i + 1])
        elif arg.startswith("--plugin="):
            out.append(arg.partition("=")[2])
    return out


def load_plugins(argv):
    r"""Load the installed entry points and the ``--plugin`` arguments of ``argv`` before
    the parser is built (its method choices then include the plugins' losses).

    Returns ``None``, or 2 after one line on stderr naming a plugin that failed.
    """
    try:
        load_entry_points()
        load_plugins_now(plugin_arguments(sys.argv[1:] if argv is None else argv))
    except PluginError as exc:
        return fail(str(exc), "--plugin")
    return None


def fail(message, argument=None):
    r"""Print ``error: [argument: ]message`` as one line on stderr; returns 2."""
    prefix = f"{argument}: " if argument else ""
    sys.stderr.write(f"error: {prefix}{one_line(message)}\n")
    return 2


def _int(text, what):
    try:
        return int(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def _bounded(parse, what, ok, name, parse_what=None):
    r"""An ``argparse`` type: ``parse(text)`` (refusing text that is not a number as
    ``parse_what``, default ``what``), then ``ok(value)`` or "expected {what}, got ..."."""
    def convert(text):
        value = parse(text, parse_what or what)
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    convert.__name__ = name
    return convert


#: Seeds are integers in [0, 2**63) (NumPy's generators refuse negative seeds).
SEED_MAX = 2 ** 63 - 1


def int_at_least(minimum):
    r"""An ``argparse`` type for integers ``>= minimum``."""
    return _bounded(_int, f"an integer >= {minimum}", lambda v: v >= minimum, f"int_at_least_{minimum}")


#: An integer >= 1.
positive_int = _bounded(_int, "a positive integer", lambda v: v >= 1, "positive_int")
#: An integer >= 0.
nonneg_int = _bounded(_int, "an integer >= 0", lambda v: v >= 0, "nonneg_int")
#: A random seed: an integer in ``[0, 2**63 - 1]``.
seed = _bounded(_int, "a seed, an integer in [0, 2**63 - 1]", lambda v: 0 <= v <= SEED_MAX, "seed",
                parse_what="a seed, an integer >= 0")


def _float(text, what):
    try:
        value = float(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


#: A finite number > 0.
positive_float = _bounded(_float, "a finite number > 0", lambda v: v > 0, "positive_float")
#: A finite number >= 0.
nonneg_float = _bounded(_float, "a finite number >= 0", lambda v: v >= 0, "nonneg_float")
#: A number in ``[0, 1)``.
fraction = _bounded(_float, "a number in [0, 1)", lambda v: 0 <= v < 1, "fraction")


#: An ASTra threshold ``tau`` in ``(0, 0.5]`` (Eq. 5).
threshold = _bounded(_float, "a threshold in (0, 0.5]", lambda v: 0 < v <= 0.5, "threshold")


def _writable_dir(path):
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def output_file(text):
    r"""A file that can be written: not a directory, in an existing writable directory."""
    path = str(text)
    if not path:
        raise argparse.ArgumentTypeError("expected a file name, got ''")
    if os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"{path!r} is a directory, expected a file name")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"cannot write {path!r}: directory {parent!r} does not exist")
    if not _writable_dir(parent):
        raise argparse.ArgumentTypeError(f"cannot write {path!r}: directory {parent!r} is not writable")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot write {path!r}: the file is not writable")
    return path


def output_dir(text):
    r"""A directory that exists and is writable, or can be created (nothing is created here)."""
    path = str(text)
    if not path:
        raise argparse.ArgumentTypeError("expected a directory name, got ''")
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        raise argparse.ArgumentTypeError(f"cannot use {path!r} as a directory: {probe!r} is not a directory")
    if not _writable_dir(probe):
        raise argparse.ArgumentTypeError(f"cannot write into {path!r}: {probe!r} is not writable")
    return path


def input_file(text):
    r"""An existing, readable regular file."""
    path = str(text)
    if not os.path.isfile(path):
        what = "is a directory" if os.path.isdir(path) else (
            "is not a regular file (a FIFO, a device or a socket)" if os.path.exists(path) else "does not exist")
        raise argparse.ArgumentTypeError(f"{path!r} {what}, expected a readable file")
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"{path!r} is not readable")
    return path


def input_dir(text):
    r"""An existing directory."""
    path = str(text)
    if not os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"{path!r} is not a directory")
    return path


def delimiter(text):
    r"""A field delimiter: one character, not a quote or a line break (``\t`` for a tab)."""
    value = "\t" if text == "\\t" else str(text)
    if len(value) != 1 or value in "\r\n\"":
        raise argparse.ArgumentTypeError(f"expected one character other than a quote or a line break, got {text!r}")
    return value
