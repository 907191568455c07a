"""Pre-training that other methods build on, not a clustering method itself: ``simclr`` (SimCLR
pre-training of DC3-GAN's CIFAR-10 encoder, its on-disk cache, ``load_encoder`` and ``features``;
networks in ``nn.resnet18``, loss ``nn.losses.nt_xent``).

May import: ``training`` (the loop), ``nn``, ``data``, ``paths`` and lower layers. Imported by
``cli/simclr.py``, the DC3-GAN CIFAR-10 variant and tests.
"""
