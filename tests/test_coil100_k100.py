"""COIL-100 at K = 100 (DC3 Table 5, Fig. 4): the dcgan128 networks, z_c 100 / z_n 100 (Table 9),
the balanced prior over 100 one-hot codes, and sample grids readable at 100 clusters, on tiny
3 x 128 x 128 data (200 images, two per object) with narrow channels and two iterations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clusterbench.data.registry import load_registry
from clusterbench.methods import METHODS, make_config
from clusterbench.methods.gan.prior import sample_prior
from clusterbench.nn import gan as nets
from clusterbench.report import spec as S

torch.set_num_threads(1)


def test_table_5_names_the_coil100_data_set():
    t = S.get_table("dc3", 5)
    assert {c.dataset for c in t.iter_cells()} == {"coil100"}
    assert {c.method for c in t.iter_cells()} == {"kmeans", "clustergan", "dc3-gan"}
    entry = load_registry()["coil100"]
    assert entry.n_clusters == 100 and entry.n_samples == 7200 and tuple(entry.sample_shape) == (3, 128, 128)


def test_prior_of_100_clusters_is_one_hot_and_balanced():
    torch.manual_seed(0)
    z = sample_prior(100_000, 100, 100)
    assert z.z_c.shape == (100_000, 100) and torch.equal(z.z_c.sum(1), torch.ones(100_000))
    counts = torch.bincount(z.labels, minlength=100).numpy()
    assert counts.min() > 850 and counts.max() < 1150  # 1,000 expected each (binomial sd ~31)
    assert z.z_n.shape == (100_000, 100) and abs(z.z_n.std().item() - 0.10) < 0.002


@pytest.mark.parametrize("method", ["dc3-gan", "clustergan"])
def test_k100_fit_predicts_generates_and_writes_readable_grids(method, tmp_path, monkeypatch):
    monkeypatch.setattr(nets, "DCGAN128_CHANNELS", (4, 4, 8, 8, 8))  # narrow: the same layers, fast
    rng = np.random.default_rng(0)
    X = rng.random((200, 3, 128, 128), dtype=np.float32)
    grids = method == "dc3-gan"  # the grid code is the same for every GAN method: drawn once
    cfg = make_config(METHODS[method].Config, {"iterations": 2, "critic_iters": 1, "batch_size": 16,
                                                "traversal_dims": 1, "checkpoint_every": 0, "save_samples": grids})
    out = METHODS[method](cfg).fit(X, 100, seed=0, device="cpu", workdir=tmp_path)
    arch = out.extras["architecture"]
    assert arch["arch"] == "dcgan128" and arch["z_c"] == 100 and arch["z_n"] == 100
    assert out.proba.shape == (200, 100) and out.embedding.shape == (200, 100)
    s = out.generator(3, cluster=99, seed=0)
    assert s.shape == (3, 3, 128, 128) and 0 <= s.min() and s.max() <= 1
    if not grids:
        return
    names = set(out.artifacts)
    pages = {f"samples_per_cluster_{a}-{a + 9}" for a in range(0, 100, 10)}
    assert {"samples_one_per_cluster", "traversal_z1"} | pages <= names
    assert "samples_per_cluster" not in names  # no 100-row grid
    from PIL import Image

    over = Image.open(out.artifacts["samples_one_per_cluster"])
    assert "cluster r*10 + j" in over.text["Title"] and "100 clusters" in over.text["Title"]
    page = Image.open(out.artifacts["samples_per_cluster_90-99"])
    assert "clusters 90-99 of 100" in page.text["Title"]
    assert "clusters 0-9 of 100" in Image.open(out.artifacts["traversal_z1"]).text["Title"]
