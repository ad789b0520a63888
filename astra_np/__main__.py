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
import os
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


class _Stdout:
    r"""Standard output that a closed pipe (``... | head -1``) does not stop: the first
    ``BrokenPipeError`` sends the rest to ``os.devnull`` (the recipe of Python's
    documentation on SIGPIPE), so a command goes on to write its files and exits with
    its own code."""

    def __init__(self, stream):
        self._stream = stream

    def _to_devnull(self):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self._stream.fileno())
        os.close(devnull)

    def write(self, text):
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._to_devnull()
            return len(text)

    def flush(self):
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._to_devnull()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def main(argv=None):
    """Dispatch to a command module's ``main``; returns the process exit code.

    Writes to a closed standard output are dropped (see :class:`_Stdout`)."""
    if not isinstance(sys.stdout, _Stdout) and sys.stdout is not None:
        sys.stdout = _Stdout(sys.stdout)
    try:
        return _dispatch(argv)
    finally:
        sys.stdout.flush()


def _dispatch(argv):
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
