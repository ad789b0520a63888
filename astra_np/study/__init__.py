r"""Layer 3, the study: data files (``data``), the built-in data (``datasets``), the
R x K splits (``splits``), the results store (``store``), the protocol runner
(``protocol``), Table 2 (``report``) and the figures (``figures``). Uses
:mod:`astra_np.learn` and :mod:`astra_np.core`.
"""
