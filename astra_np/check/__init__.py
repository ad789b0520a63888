r"""The checking tools: the 60-digit mpmath reference, complex-safe forward forms, the
gradient checker and the portable reference vectors with their validator.

These import the formulas (:mod:`astra_np.core`) to check them; the formulas never
import these.
"""
