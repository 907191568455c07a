"""DC3-GAN (paper 003) and its variants, one package without an import circle:

``model``     :class:`DC3GANModel` (Algorithm 1's loss terms on the DLS model), the d_n table and
              Table 8's ablation switches;
``cifar``     the CIFAR-10 variant (Table 12 SN-ResNet G/D, a frozen SimCLR encoder): builds on
              ``model``;
``dc3_gan``   the method ``dc3-gan`` (its Config; ``variant=cifar10`` picks ``cifar``'s model);
``dsprites``  the dSprites variant ``dc3-gan-dsprites`` (Table 11 networks, on InfoGAN-CR's
              dSprites GAN base, ``methods.gan.infogan_cr``).

Imports go one way: ``model`` <- ``cifar`` <- ``dc3_gan``. May import the shared GAN pieces of
``methods.gan``, ``training``, ``nn`` and lower layers; imported by the registry and tests.
"""
