r"""Layer 1, the formulas: pure functions of NumPy arrays, each value with its derivative.

``activation`` (ASTra, Eq. 4, 5, 7), ``ztransform`` (Eq. 6), ``losses`` (BCE, Eq. 8,
Eq. 9 and the output head), ``count_losses`` (soft F1 and MCC on Eq. 8), ``registry``
(losses and methods), ``metrics`` (Eq. 1-3, 11), ``_stable`` (the stable
primitives) and ``_validation`` (argument checks). Nothing here imports another layer.
"""
