"""The version of astra_np (one place: the package, setup.py and the CLI read it here)."""
__version__ = "0.1.0"
