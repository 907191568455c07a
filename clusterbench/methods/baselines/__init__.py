"""Classical clustering baselines, no networks: ``classical`` (k-means, GMM, NMF, spectral,
agglomerative on scikit-learn, and ``prepare_input``, the shared input preparation) and ``ncuts``
(Normalized Cuts).

May import: ``clusterbench.methods.base``, ``metrics``, ``data``, ``errors`` and the runtime
helpers; never torch at module level, ``nn``, ``training`` or another family. Imported by the
registry (``clusterbench.plugins.BUILTIN_METHODS``) and by tests/benchmarks only.
"""
