r"""Layer 1, the formulas: pure functions of NumPy arrays, each value with its derivative.

``activation`` (ASTra, Eq. 4, 5, 7), ``ztransform`` (Eq. 6), ``losses`` (BCE, Eq. 8,
Eq. 9 and the output head), ``count_losses`` (GMN, soft F1 and soft MCC on Eq. 8, each
registered with its definition and log form), ``registry`` (losses and methods, and
``register_count_loss``), ``_count_chain`` (the chain logits -> counts -> loss shared by
the count losses), ``_extended`` (complex numbers with unbounded exponents, for the
registration check), ``plugins`` (modules that register losses), ``metrics`` (Eq. 1-3,
11), ``_stable`` (the stable primitives) and ``_validation`` (argument checks). Nothing
here imports another layer.
"""
