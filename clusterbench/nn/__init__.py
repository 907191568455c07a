"""Every network of the suite, one module per architecture family, and the losses apart:

``dual_aae``    the Dual-AAE family's encoder/decoder/critic (conv, mlp, mlp-hhar, mlp-stl;
                Dual-AAE Appendix A), chosen from the sample shape (``resolve_arch``); also used
                by AAE, CatGAN and InfoGAN;
``gan``         G, D and E of the GAN clustering methods (conv4, conv5, dcgan128, mlp; DLS
                Table 1 = DC3 Table 10), chosen from the sample shape (``resolve_gan_arch``);
``dsprites``    DC3 Table 11's dSprites networks (InfoGAN-CR, DC3-GAN's dSprites variant);
``sn_resnet``   DC3 Table 12's SN-ResNet G/D for CIFAR-10 and the SimCLR-backed encoder E;
``triple_gan``  ClusterGAN-BSPL's Triple-GAN clusterer/generator/joint discriminator;
``resnet18``    the SimCLR ResNet-18 backbone for 32 x 32 images and its projection head;
``losses``      losses and regularisers (Dual-AAE's clustering regulariser and D-AE loss,
                entropy terms, critic accuracy, NT-Xent).

May import: torch, numpy, ``clusterbench.errors`` and other ``nn`` modules; never ``training``,
``methods``, ``runner`` or ``cli``. Imported by the methods (and tests, benchmarks).
"""
