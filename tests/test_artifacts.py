"""Sample grids of generative methods (Figs. 7, 8): tiling (torchvision or numpy) and labelled rows."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from PIL import Image

from clusterbench.nn.dual_aae import resolve_arch
from clusterbench.training.artifacts import generation_artifacts, save_grid_png, tile_images


def test_numpy_tiling_matches_torchvision_make_grid():
    rng = np.random.default_rng(0)
    for c in (1, 3):
        imgs = rng.random((7, c, 5, 4), dtype=np.float32)  # 7 images in a 3 x 3 grid: 2 white tiles
        ours = tile_images(imgs, 3, 3, use_torchvision=False)
        assert ours.shape == ((3 * 6 + 1, 3 * 5 + 1) if c == 1 else (3 * 6 + 1, 3 * 5 + 1, 3))
        np.testing.assert_array_equal(ours[1:6, 1:5], imgs[0].transpose(1, 2, 0).squeeze())
        assert (ours[13:, 6:] == 1).all()  # tiles 8 and 9 are white
        if importlib.util.find_spec("torchvision") is not None:
            np.testing.assert_allclose(tile_images(imgs, 3, 3, use_torchvision=True), ours, atol=1e-6)


def test_out_of_range_images_are_scaled_to_unit():
    grid = tile_images(np.linspace(-1, 3, 2 * 4).reshape(2, 1, 2, 2), 1, 2, use_torchvision=False)
    assert grid.min() == 0.0 and grid.max() == 1.0


def test_grid_png_says_what_its_rows_are(tmp_path):
    imgs = np.random.default_rng(0).random((6, 1, 8, 8), dtype=np.float32)
    path = save_grid_png(tmp_path / "g.png", imgs, 2, 3, row_labels=["cluster 0", "cluster 1"],
                         title="rows = clusters", xlabel="columns: draws")
    info = Image.open(path).info
    assert info["Title"] == "rows = clusters" and info["Description"] == "columns: draws"
    with pytest.raises(ValueError):
        save_grid_png(tmp_path / "h.png", imgs, 2, 3, row_labels=["one"], title="t")


def test_generation_artifacts_label_rows_and_traversed_dimension(tmp_path):
    spec = resolve_arch((1, 8, 8), 3, style_dim=1, noise_dim=1)
    calls = []

    def generate(y, h, z):
        calls.append((y, h, z))
        return torch.sigmoid(y.argmax(1).float()[:, None, None, None] + h.sum(1)[:, None, None, None]
                             + torch.zeros(len(y), 1, 8, 8))

    out = generation_artifacts(generate, spec, tmp_path, device=torch.device("cpu"), n_per_cluster=4, steps=5)
    assert set(out) == {"samples_per_cluster", "traversal_h1", "traversal_z1"}
    titles = {k: Image.open(p).info for k, p in out.items()}
    assert all("row k = cluster k" in t["Title"] for t in titles.values())
    assert "style dimension h1" in titles["traversal_h1"]["Title"]
    assert "noise dimension z1" in titles["traversal_z1"]["Title"]
    assert "h1 from -2 to 2" in titles["traversal_h1"]["Description"]
    # row k of the samples grid is cluster k: the one-hot codes come in blocks of n_per_cluster
    y, _, _ = calls[0]
    assert y.argmax(1).tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert generation_artifacts(generate, resolve_arch((10,), 3), tmp_path, device=torch.device("cpu")) == {}


def test_grid_writing_lives_in_artifacts_only():
    """PNG grid writing moved out of nets.py (issue 9 item 5): nets has no copy left."""
    from clusterbench.nn import dual_aae as nets

    assert not any(hasattr(nets, n) for n in ("generation_artifacts", "save_png", "_tile"))
