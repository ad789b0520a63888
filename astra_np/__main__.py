r"""Command-line interface: ``python -m astra_np COMMAND [options]``.

Commands
--------
figures     regenerate the paper's figures (Figs. 1-4)
gradcheck   print the package's gradient self-certification table
train       train one model on a CSV / LIBSVM file
experiment  run the paper's 10 x 5 CV protocol and write Table 2 and Fig. 4
vectors     write the portable JSON reference vectors

Each command lives in its own module and exposes ``main(argv) -> int``.
"""
import importlib
import sys

COMMANDS = {
    "figures": ("astra_np.cli.figures", "regenerate the paper's figures (Figs. 1-4)"),
    "gradcheck": ("astra_np.cli.gradcheck", "print the gradient self-certification table"),
    "train": ("astra_np.cli.train", "train one model on a data file"),
    "experiment": ("astra_np.cli.experiment", "run the 10 x 5 CV protocol (Table 2, Fig. 4)"),
    "vectors": ("astra_np.cli.vectors", "write the portable JSON reference vectors"),
}


def _usage():
    lines = ["usage: python -m astra_np COMMAND [options]", "", "commands:"]
    for name, (_, text) in COMMANDS.items():
        lines.append(f"  {name:<11} {text}")
    lines.append("")
    lines.append("Run 'python -m astra_np COMMAND --help' for a command's options.")
    return "\n".join(lines)


def main(argv=None):
    """Dispatch to a command module's ``main``; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if not argv or argv[0] not in COMMANDS:
        what = f"unknown command {argv[0]!r}" if argv else "no command given"
        print(f"error: {what}; choose one of {', '.join(COMMANDS)} "
              f"(python -m astra_np --help)", file=sys.stderr)
        return 2
    name, rest = argv[0], argv[1:]
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
