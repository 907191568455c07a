"""Unsupervised hashing for BSPL Table 3's retrieval protocol: ``shallow`` (the shallow hash
functions LSH, PCAH, ITQ, SpH, SphH, KMH in :data:`~clusterbench.methods.hashing.shallow.HASHERS`,
the adapter :class:`~clusterbench.methods.hashing.shallow.MethodHasher` for hashing-capable
clustering methods, and the protocol :func:`~clusterbench.methods.hashing.shallow.evaluate_retrieval`).
Hash functions are not clustering methods: they are not in the METHODS registry (their ids are
listed, without importing them, in ``clusterbench.plugins.BUILTIN_HASHERS``).

May import: ``metrics``, ``errors``, numpy / scikit-learn; the METHODS registry only lazily (a
method's codes). Imported by ``cli/retrieval.py`` and tests.
"""
