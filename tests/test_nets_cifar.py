"""Shapes of DC3 Table 12's SN-ResNet G/D (compare_gan resnet_cifar), the class-conditional BN,
spectral normalisation, and the frozen-SimCLR encoder loading a SimCLR checkpoint."""

from __future__ import annotations

import torch

from clusterbench.methods.pretrain import simclr
from clusterbench.nn import sn_resnet as N

torch.set_num_threads(1)


def _onehot(labels, k=10):
    return torch.nn.functional.one_hot(torch.as_tensor(labels), k).float()


def test_generator_shapes_range_and_conditioning():
    torch.manual_seed(0)
    g = N.ResNetGenerator(ch=32)  # Table 12 uses 256; the shapes do not depend on the width
    z = torch.randn(4, 128)
    y = _onehot([0, 1, 2, 3])
    with torch.no_grad():
        x = g(z, y)
        assert x.shape == (4, 3, 32, 32) and float(x.min()) >= 0 and float(x.max()) <= 1
        for m in g.modules():  # make the CBN maps non-trivial: then z_c must change the image
            if isinstance(m, N.ConditionalBatchNorm2d):
                m.gamma.weight.normal_(0, 0.5)
                m.beta.weight.normal_(0, 0.5)
        g.eval()
        a, b = g(z[:1], _onehot([0])), g(z[:1], _onehot([5]))
    assert not torch.allclose(a, b)
    assert [b.conv1.out_channels for b in g.blocks] == [32, 32, 32]


def test_discriminator_shapes_and_spectral_norm():
    d = N.ResNetDiscriminator()
    x = torch.rand(2, 3, 32, 32)
    feats = d.blocks(x)
    assert feats.shape == (2, 128, 8, 8)
    assert d(x).shape == (2, 1)
    assert torch.nn.utils.parametrize.is_parametrized(d.linear)
    assert torch.nn.utils.parametrize.is_parametrized(d.blocks[0].conv1)
    g = N.ResNetGenerator(ch=16)
    assert torch.nn.utils.parametrize.is_parametrized(g.linear) and torch.nn.utils.parametrize.is_parametrized(g.conv)
    assert not torch.nn.utils.parametrize.is_parametrized(N.ResNetGenerator(ch=16, sn=False).linear)
    assert N.ResNetGenerator().linear.out_features == 4 * 4 * 256


def test_encoder_is_frozen_simclr_plus_mlp(tmp_path):
    torch.manual_seed(0)
    backbone = simclr.resnet18_cifar()
    torch.save(backbone.state_dict(), tmp_path / "simclr.pt")
    e = N.SimCLREncoder(simclr.load_encoder(tmp_path / "simclr.pt"))
    e.train()
    assert not e.backbone.training and e.mlp.training
    zn, zc = e(torch.rand(3, 3, 32, 32))
    assert zn.shape == (3, 128) and zc.shape == (3, 10)
    (zn.sum() + zc.sum()).backward()
    assert all(p.grad is None for p in e.backbone.parameters())
    assert all(p.grad is not None for p in e.mlp.parameters())
    assert [m.out_features for m in e.mlp if isinstance(m, torch.nn.Linear)] == [512, 138]
    before = e.backbone.bn1.running_mean.clone()
    e(torch.rand(3, 3, 32, 32) * 5)
    assert torch.equal(before, e.backbone.bn1.running_mean)  # BN statistics frozen too
