r"""The command-line interface, ``python -m astra_np COMMAND``: one module per command,
each with ``main(argv) -> int`` (see :mod:`astra_np.__main__`).
"""
