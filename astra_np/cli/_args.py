r"""Argument types, the parser and the exit codes shared by the command-line interface.

Every command refuses a bad argument before it does any work and before it writes
anything: one line on stderr naming the argument and the value, exit status 2. The
types below do the checking at parse time; output paths are checked for being
writable there too (a missing directory, a directory where a file is wanted, a file
where a directory is wanted, a read-only place), without creating anything. Every size
argument has a maximum (:data:`astra_np.core._validation.SIZE_LIMITS`), stated in the
message; an option that another option makes meaningless is refused (each command's
``CONFLICTS`` table).

Exit codes (:data:`EXIT`): 0 done, 1 failed (an error while working: a file that cannot
be written, training that stopped on a non-finite loss, a worker that died, memory), 2
refused (bad arguments or data, before any work), 3 incomplete validation
(``vectors --validate``), 130 interrupted (Ctrl-C).
"""
import argparse
import math
import os
import sys

from ..core._validation import SIZE_LIMITS
from ..core.plugins import ENTRY_POINT_GROUP, PluginError, load_entry_points
from ..core.plugins import load_plugins as load_plugins_now

__all__ = [
    "ArgumentParser",
    "load_plugins",
    "parse",
    "fail",
    "positive_int",
    "seed",
    "positive_float",
    "nonneg_float",
    "fraction",
    "threshold",
    "output_file",
    "output_dir",
    "input_file",
    "input_dir",
    "delimiter",
    "size",
    "same_file",
    "interrupted",
    "EXIT",
]

#: The exit codes of every command.
EXIT = {"done": 0, "failed": 1, "refused": 2, "incomplete": 3, "interrupted": 130}


def one_line(text):
    r"""``text`` with its line breaks replaced by ``"; "`` (an error is one line)."""
    return "; ".join(part.strip() for part in str(text).splitlines() if part.strip())


class ArgumentParser(argparse.ArgumentParser):
    r"""``argparse.ArgumentParser`` whose errors are one line (no usage block), exit 2.

    Every command's parser has ``--plugin`` (loaded before parsing, :func:`load_plugins`).
    """

    def __init__(self, *args, **kwargs):
        # no abbreviated options: --plugin is read before the parser exists, by its full
        # name only, so an abbreviation would parse and load nothing
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self.add_argument("--plugin", action="append", default=[], metavar="MODULE_OR_PY_FILE",
                          help="import this module or Python file first (repeatable): the losses it "
                               "registers become methods; installed packages' entry points "
                               f"({ENTRY_POINT_GROUP}) are loaded too")

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {one_line(message)} (see --help)\n")
        raise SystemExit(2)


def _given(parser, argv):
    r"""The options given on the command line (by option string), defaults aside."""
    saved = [(action, action.default) for action in parser._actions]
    try:
        for action, _ in saved:
            action.default = argparse.SUPPRESS
        namespace, _ = parser.parse_known_args(argv)
    finally:
        for action, default in saved:
            action.default = default
    dests = set(vars(namespace))
    return {a.option_strings[-1] for a in parser._actions if a.dest in dests and a.option_strings}


def _meaningless(parser, argv, conflicts, requires):
    r"""One line of refusal for the first option of ``argv`` that another makes
    meaningless (see :func:`parse`), or None."""
    given = _given(parser, argv)
    canonical = {s: a.option_strings[-1] for a in parser._actions for s in a.option_strings}
    for option, others, reason in conflicts:
        if canonical[option] in given:
            for other in others:
                if canonical[other] in given:
                    return other, f"meaningless with {option} ({reason})"
    for options, needed, reason in requires:
        if canonical[needed] not in given:
            for option in options:
                if canonical[option] in given:
                    return option, f"meaningless without {needed} ({reason})"
    return None


def parse(parser, argv, conflicts=(), requires=()):
    r"""``(args, None)`` on success, else ``(None, exit_code)`` (0 after ``--help``, 2 on errors).

    ``parser`` may be the function that builds it: the plugins (:func:`load_plugins`) are
    then loaded first, so that its method choices include their losses. Options that
    others make meaningless are refused in one line (exit 2):
    ``conflicts`` holds ``(option, others, reason)``: each of ``others`` is refused
    with ``option``; ``requires`` holds ``(options, needed, reason)``: each of
    ``options`` is refused without ``needed``.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if callable(parser) and not isinstance(parser, argparse.ArgumentParser):
        code = load_plugins(argv)
        if code is not None:
            return None, code
        parser = parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return None, exc.code if isinstance(exc.code, int) else 2
    clash = _meaningless(parser, argv, conflicts, requires) if conflicts or requires else None
    if clash is not None:
        return None, fail(clash[1], clash[0])
    return args, None


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


def fail(message, argument=None, code=2):
    r"""Print ``error: [argument: ]message`` as one line on stderr; returns ``code`` (2:
    refused; 1: failed while working)."""
    prefix = f"{argument}: " if argument else ""
    sys.stderr.write(f"error: {prefix}{one_line(message)}\n")
    return code


def interrupted(what):
    r"""Print ``stopped: <what>`` as one line on stderr (after Ctrl-C); returns 130."""
    sys.stderr.write(f"stopped: {one_line(what)}\n")
    return EXIT["interrupted"]


def same_file(a, b):
    r"""Whether the paths ``a`` and ``b`` name the same file once resolved (``./m.npz``
    and ``m.npz``, symbolic and hard links)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


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


def size(limit, minimum=1):
    r"""An ``argparse`` type for a size: an integer in ``[minimum, SIZE_LIMITS[limit]]``."""
    maximum = SIZE_LIMITS[limit]
    return _bounded(_int, f"an integer in [{minimum}, {maximum}]", lambda v: minimum <= v <= maximum,
                    f"size_{limit}")


#: An integer >= 1.
positive_int = _bounded(_int, "a positive integer", lambda v: v >= 1, "positive_int")
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
