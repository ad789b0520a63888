r"""``python -m astra_np figures``: regenerate the paper's figures (Figs. 1-4).

Writes ``fig<N>.<fmt>`` into ``--out`` for every figure and format and prints each
path (:mod:`astra_np.study.figures`). Every argument, ``--out`` included (it must be a
writable directory or creatable), is checked before any figure is drawn.
"""
import argparse
import sys
from pathlib import Path

from ..core._validation import SIZE_LIMITS
from ..study.figures import (
    DEFAULT_EPOCHS,
    DEFAULT_FOLDS,
    DEFAULT_FORMATS,
    FIGURES,
    FORMATS,
    PNG_DPI,
    _mpl,
    fig4,
    save_figure,
)
from . import _args

__all__ = ["main", "build_parser"]


def _parse_formats(text):
    formats = [f.strip().lower().lstrip(".") for f in text.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise argparse.ArgumentTypeError(
            f"unsupported format {', '.join(map(repr, bad)) or repr(text)}; "
            f"choose one or more of {','.join(FORMATS)} (comma-separated)"
        )
    return list(dict.fromkeys(formats))


def _parse_only(text):
    try:
        numbers = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        numbers = []
    if not numbers or any(n not in FIGURES for n in numbers):
        raise argparse.ArgumentTypeError(
            f"invalid figure list {text!r}; use numbers from 1 to {len(FIGURES)}, e.g. 1,3"
        )
    return sorted(set(numbers))


def build_parser():
    r"""The ``argparse`` parser of the ``figures`` command."""
    parser = _args.ArgumentParser(
        prog="python -m astra_np figures",
        description="Regenerate the paper's figures (Figs. 1-4) from astra_np's functions.",
    )
    parser.add_argument("--out", default="figures", metavar="DIR", type=_args.output_dir,
                        help="output directory (default: figures)")
    parser.add_argument("--format", dest="formats", type=_parse_formats,
                        default=list(DEFAULT_FORMATS), metavar="FMT[,FMT...]",
                        help=f"output formats among {','.join(FORMATS)} (default: "
                             f"{','.join(DEFAULT_FORMATS)}; PNG at {PNG_DPI} dpi)")
    parser.add_argument("--fig4", dest="results_dir", default=None, metavar="RESULTS_DIR",
                        help="draw Fig. 4 from the histories saved by 'experiment' in this "
                             "directory (default: train on the built-in data set)")
    parser.add_argument("--dataset", default=None, metavar="NAME",
                        help="data set of RESULTS_DIR to draw when it holds several")
    parser.add_argument("--epochs", type=_args.size("epochs"), default=DEFAULT_EPOCHS, metavar="N",
                        help=f"epochs of the built-in Fig. 4 run (default: {DEFAULT_EPOCHS}, at most "
                             f"{SIZE_LIMITS['epochs']})")
    parser.add_argument("--folds", type=_args.size("folds", 3), default=DEFAULT_FOLDS, metavar="K",
                        help=f"stratified folds of the built-in Fig. 4 run, in [3, {SIZE_LIMITS['folds']}] "
                             f"(default: {DEFAULT_FOLDS}: each rotation trains on 3 folds, validates on 1)")
    parser.add_argument("--only", type=_parse_only, default=None, metavar="1,2,...",
                        help="draw only these figures (default: all)")
    return parser


#: Options that another option makes meaningless: (option, others, reason).
CONFLICTS = (
    ("--fig4", ["--epochs", "--folds"], "they set the built-in run that --fig4 replaces"),
)
#: Options that need another: (options, needed, reason).
REQUIRES = (
    (["--dataset"], "--fig4", "it picks a data set of the results directory"),
)


def _fig4_options_unused(args):
    r"""The Fig. 4 option given when ``--only`` leaves Fig. 4 out, or None."""
    if args.only is None or 4 in args.only:
        return None
    given = [o for o, v, d in (("--fig4", args.results_dir, None), ("--dataset", args.dataset, None),
                               ("--epochs", args.epochs, DEFAULT_EPOCHS), ("--folds", args.folds, DEFAULT_FOLDS))
             if v != d]
    return given[0] if given else None


def main(argv=None):
    r"""Entry point of ``python -m astra_np figures``; returns the exit code.

    Exit code 0 on success, 2 for bad arguments, 1 when a figure cannot be made
    (matplotlib missing, unreadable results, a file that cannot be written; each file is
    written atomically), 130 when interrupted (Ctrl-C; the figures printed are written).
    """
    args, code = _args.parse(build_parser, argv, CONFLICTS, REQUIRES)
    if args is None:
        return code
    unused = _fig4_options_unused(args)
    if unused is not None:
        return _args.fail(f"meaningless with --only {','.join(map(str, args.only))} (it leaves out Fig. 4)",
                          unused)
    try:
        return _draw(args)
    except KeyboardInterrupt:
        return _args.interrupted("interrupted; the figures printed above are written, no other")


def _draw(args):
    try:
        _mpl()
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for number in args.only or sorted(FIGURES):
            if number == 4:
                fig = fig4(results_dir=args.results_dir, dataset=args.dataset,
                           epochs=args.epochs, n_folds=args.folds)
            else:
                fig = FIGURES[number]()
            for fmt in args.formats:
                path = save_figure(fig, out / f"fig{number}.{fmt}", fmt)
                print(path)
    except (ImportError, OSError, ValueError) as exc:
        print(f"error: {_args.one_line(exc)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
