r"""Layer 2, learning: the MLP (``nn``), Adam and the eta_b rule (``optim``, Eq. 10), the
fused epoch kernel (``kernel``), the trainer (``train``) and ``ASTraClassifier``
(``estimator``). Uses :mod:`astra_np.core` only.
"""
