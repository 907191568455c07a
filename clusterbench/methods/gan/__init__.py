"""The GAN family: shared pieces, one module each, and the methods built on them.

Shared pieces (ClusterGAN, WGAN-GP, DLS-Clustering, DC3-GAN):
``prior``  the discrete-continuous prior z = (one-hot z_c, z_n ~ N(0, sigma^2 I)) (DLS §4.2);
``wgan``   the WGAN-GP critic loss with gradient penalty, the generator's adversarial term and the
           critic-iteration schedule (M critic steps per generator step);
``mmd``    the unbiased MMD with the RBF kernel and WAE's median-heuristic bandwidth (DLS Eq. 2);
``model``  :class:`GANModel` (the DeepModel base: optimisers, critic schedule, ``sample``,
           generation artifacts) and :class:`GANMethod` (the Method glue: training length in
           generator iterations).
Their networks (G, D and E by sample shape, DLS Table 1 = DC3 Table 10): ``clusterbench.nn.gan``.

Methods: ``clustergan``, ``wgan_gp``, ``dls``, ``dc3`` (DC3-GAN and its CIFAR-10 / dSprites
variants, a package), ``infogan_cr`` (InfoGAN-CR and the dSprites GAN base), ``clustergan_bspl``
(ClusterGAN-BSPL) with ``bspl`` (balanced self-paced learning, Theorem 1).

May import: ``clusterbench.methods.base``, ``training``, ``nn``, ``evaluate``, ``data`` and lower
layers; a method module may import the shared pieces and, within the family, the method it
extends (e.g. ``dc3`` builds on ``dls``). Imported by the registry and tests. A new GAN method:
one module here, its networks in one ``nn`` module (or none), one line in
``clusterbench.plugins.BUILTIN_METHODS``.
"""
