"""The auto-encoder family of the Dual-AAE paper and its comparison methods: ``autoencoder``
(the shared base: a latent auto-encoder with pre-training and a cluster head), ``dual_aae``
(Dual-AAE and its no-CR row), ``aae``, ``catgan``, ``infogan`` (the same networks, "the same
network architecture is used", Dual-AAE §IV-B).

May import: ``clusterbench.methods.base``, ``training`` (the loop), ``nn`` (networks:
``nn.dual_aae``; losses: ``nn.losses``), ``methods.gan``'s shared pieces (the WGAN gradient
penalty) and lower layers. Imported by the registry and by tests only.
"""
