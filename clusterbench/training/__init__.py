"""THE training loop of every deep method, in parts:

``contract``     what a method supplies: :class:`DeepModel` (networks, optimizers, one
                 ``training_step``, ``predict``), :class:`OptimStep`, :class:`DeepConfig`;
``loop``         :func:`train`: seeding, device, epochs over the pretrain/train phases, the
                 monitor and its cadence, NaN detection, resume, prediction (its docstring
                 describes the whole loop);
``data``         data feeding: the seeded shuffle ``batch_indices`` and ``_Data`` (dense, sparse,
                 out of core);
``resident``     out of core on the device: a StoredArray's stored rows kept on the device and
                 decoded per batch there, or a prefetch thread (pinned, double-buffered);
``checkpoints``  ``checkpoint.pt`` / ``model.pt`` and RNG state, read with ``weights_only``;
``progress``     the Rich bar / plain progress lines;
``method``       :class:`DeepMethod`, the glue to the Method contract (``fit``), and
                 ``make_generator`` (sampling a fitted generative model);
``artifacts``    PNG grids of generated samples (Dual-AAE Figs. 7 and 8).

May import: ``nn``, ``evaluate`` (option names), ``data``, ``runtime``, ``fsutil``, ``errors``,
``progress`` (the run's label, schedule and estimate lines);
``methods.base`` (the Method contract) only inside ``method``'s ``fit`` (the registry imports
every method, which import this package). Imported by the methods, tests and benchmarks; never by
``nn``.
"""
