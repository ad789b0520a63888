r"""``python -m astra_np vectors``: write the reference vectors or validate against them.

Exit codes: 0 written / validation PASS; 1 validation FAIL, the generated values
disagree with the mpmath reference, or the file cannot be written (written atomically:
the previous file stays whole); 2 usage errors; 3 validation INCOMPLETE (nothing
failed, but some function was not checked in full; ``--allow-missing`` or
``--functions`` checks a subset); 130 interrupted. A call of the implementation that
raises, calls ``sys.exit``, changes its inputs or outlasts ``--timeout`` fails its case.
"""
import importlib
import sys

from ..check.vectors import CASE_SETS, FUNCTIONS, REQUIREMENTS, validate, write
from ..core._validation import SIZE_LIMITS
from . import _args

EXIT_CODES = {"PASS": 0, "FAIL": 1, "INCOMPLETE": 3}


def _import_target(spec):
    """'pkg.module' or 'pkg.module:attribute' -> module or mapping."""
    mod_name, _, attr = spec.partition(":")
    obj = importlib.import_module(mod_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


def _parser():
    parser = _args.ArgumentParser(
        prog="python -m astra_np vectors",
        description="Write astra_np's portable JSON reference vectors (values and gradients "
                    "of Eqs. 4-9, cross-checked against 60-digit mpmath), or validate an "
                    "implementation against them.",
        epilog="exit codes: 0 written or PASS, 1 FAIL, 2 usage error, 3 INCOMPLETE")
    parser.add_argument("--out", default="-", metavar="FILE",
                        help="output file (default '-': standard output)")
    parser.add_argument("--cases", choices=CASE_SETS, default="all",
                        help="default: ordinary range; hard: the tails; all (default): both")
    parser.add_argument("--no-check", action="store_true",
                        help="skip the cross-check against the mpmath reference")
    parser.add_argument("--validate", metavar="MODULE[:MAPPING]",
                        help="instead of writing, validate the callables of an importable "
                             "module (or a mapping attribute of it) and print the table")
    parser.add_argument("--vectors", metavar="FILE",
                        help="with --validate: the vectors file (default: generate in memory)")
    parser.add_argument("--functions", metavar="NAMES",
                        help="with --validate: check only these comma-separated function keys "
                             f"(of {', '.join(FUNCTIONS)})")
    parser.add_argument("--allow-missing", action="store_true",
                        help="with --validate: pass on what is provided instead of reporting "
                             "missing calls as INCOMPLETE (exit 3)")
    parser.add_argument("--exclude-tag", action="append", default=[], metavar="TAG",
                        choices=sorted(REQUIREMENTS),
                        help="with --validate: leave out cases that require TAG "
                             f"({', '.join(sorted(REQUIREMENTS))}); may be repeated")
    parser.add_argument("--max-failures", type=_args.size("max_failures", 0), default=10, metavar="N",
                        help="with --validate: print the first N failing cases (default 10, at most "
                             f"{SIZE_LIMITS['max_failures']})")
    parser.add_argument("--timeout", type=_args.positive_float, default=None, metavar="SECONDS",
                        help="with --validate: seconds each call may take before its case fails "
                             "(default: no limit)")
    return parser


_VALIDATE_ONLY = ["--vectors", "--functions", "--allow-missing", "--exclude-tag", "--max-failures", "--timeout"]

#: Options that another option makes meaningless: (option, others, reason).
CONFLICTS = (
    ("--validate", ["--out", "--no-check"], "it writes no document"),
)
#: Options that need another: (options, needed, reason).
REQUIRES = (
    (_VALIDATE_ONLY, "--validate", "an option of the validation"),
)


def _validate(args):
    try:
        target = _import_target(args.validate)
    except (ImportError, AttributeError) as exc:
        return _args.fail(f"cannot import {args.validate!r}: {exc}", "--validate")
    except (Exception, SystemExit) as exc:  # importing runs the module's code
        return _args.fail(f"importing {args.validate!r} raised {type(exc).__name__}: {exc}", "--validate")
    functions = None
    if args.functions:
        functions = [f.strip() for f in args.functions.split(",") if f.strip()]
    try:
        res = validate(target, args.vectors, cases=args.cases, functions=functions,
                       exclude=args.exclude_tag, allow_missing=args.allow_missing,
                       max_failures=args.max_failures, timeout=args.timeout)
    except (ValueError, OSError) as exc:
        return _args.fail(f"cannot validate: {exc}")
    return EXIT_CODES[res.status]


def main(argv=None):
    r"""Write the reference vectors, or validate an implementation (``--validate``).

    Returns the process exit code: 0 on success (written, or validation PASS), 1 when
    validation fails or the generated values disagree with the mpmath reference, 2 on
    usage errors, 3 when validation is INCOMPLETE.
    """
    args, code = _args.parse(_parser, argv, CONFLICTS, REQUIRES)
    if args is None:
        return code
    try:
        return _validate(args) if args.validate else _write(args)
    except KeyboardInterrupt:
        return _args.interrupted("interrupted; no verdict, no file written")


def _write(args):
    try:
        doc = write(args.out, args.cases, check=not args.no_check)
    except ImportError as exc:
        return _args.fail(f"the cross-check needs mpmath (pip install 'astra_np[ref]'), or pass "
                          f"--no-check: {exc}")
    except RuntimeError as exc:
        return _args.fail(exc, code=_args.EXIT["failed"])
    except ValueError as exc:
        return _args.fail(f"cannot write: {exc}", "--out")
    except OSError as exc:
        return _args.fail(exc, "--out", code=_args.EXIT["failed"])
    if args.out not in (None, "-"):
        n = sum(len(e["cases"]) for e in doc["functions"].values())
        print(f"wrote {n} cases ({args.cases}) to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
