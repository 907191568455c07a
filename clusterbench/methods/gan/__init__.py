"""Shared pieces of the GAN clustering methods (ClusterGAN, WGAN-GP, DLS-Clustering; DC3-GAN builds
on them). One module per piece, each usable on its own:

``prior``  the discrete-continuous prior z = (one-hot z_c, z_n ~ N(0, sigma^2 I)) (DLS §4.2);
``wgan``   the WGAN-GP critic loss with gradient penalty, the generator's adversarial term and the
           critic-iteration schedule (M critic steps per generator step);
``mmd``    the unbiased MMD with the RBF kernel and WAE's median-heuristic bandwidth (DLS Eq. 2);
``nets``   G, D and E built from the data's sample shape (DLS Table 1 = DC3 Table 10) and the
           latent sizes (DLS Table 2 = DC3 Table 9);
``model``  :class:`GANModel` (the DeepModel base: optimisers, critic schedule, ``sample``,
           generation artifacts) and :class:`GANMethod` (the Method glue: training length in
           generator iterations).
"""
