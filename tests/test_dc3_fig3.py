"""DC3-GAN Fig. 3 (t-SNE of the raw data, ClusterGAN's z_n and DC3-GAN's z_n) from the stored
embeddings of tiny runs made by the runner (60 images of 1 x 8 x 8, three classes, 2 iterations)."""

from __future__ import annotations

import numpy as np
import torch

from clusterbench.report.figures import dc3_fig3, dc3_fig3_runs, make_figures
from clusterbench.report.render import load_results

torch.set_num_threads(1)


def _register(name, X, y, k):
    from clusterbench import paths
    from clusterbench.data.hdf5 import Prepared, write_dataset

    write_dataset(paths.dataset_file(name), Prepared(X, y, {"preprocessor": "test"}), name=name, n_clusters=k)
    with open(paths.user_registry_file(), "a") as fh:
        fh.write(f'\n[{name}]\nn_clusters = {k}\npreprocessor = "test"\nsource = "local"\n')


def test_fig3_renders_from_the_runs_stored_embeddings(cb_home, tmp_path):
    from clusterbench.runner import execute_run, expand_grid

    rng = np.random.default_rng(0)
    y = np.arange(60) % 3
    X = (rng.random((60, 1, 8, 8)) * 0.3 + y[:, None, None, None] * 0.3).astype(np.float32)
    _register("toyfig", X, y, 3)
    home = cb_home / "runs"
    base = ["iterations=2", "critic_iters=1", "batch_size=16", "save_samples=false"]
    for method, extra in (("clustergan", []), ("dc3-gan", []), ("dc3-gan", ["loss_mmd=false"])):
        (spec,) = expand_grid([method], ["toyfig"], seeds=1, overrides=[*base, *extra], device="cpu")
        assert execute_run(spec, home).status == "ok"
    records = load_results(home).records()
    runs = dc3_fig3_runs(records)
    assert set(runs) == {("clustergan", "toyfig"), ("dc3-gan", "toyfig")}
    assert runs[("dc3-gan", "toyfig")][1].config.get("loss_mmd", True) is True  # the full model, not the ablation
    out = tmp_path / "figs"
    rep = dc3_fig3(records, out)
    assert [p.name for p in rep.made] == ["dc3_fig3_tsne_zn_toyfig.png"] and rep.missing == []
    assert rep.made[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # through the report's figure code (clusterbench report --all)
    assert out / "dc3_fig3_tsne_zn_toyfig.png" in make_figures(records, out).made


def test_fig3_with_one_method_draws_the_rest_as_missing(cb_home, tmp_path):
    from clusterbench.runner import execute_run, expand_grid

    rng = np.random.default_rng(1)
    y = np.arange(30) % 2
    _register("toyfig2", rng.random((30, 1, 8, 8)).astype(np.float32), y, 2)
    home = cb_home / "runs"
    (spec,) = expand_grid(["clustergan"], ["toyfig2"], seeds=1, device="cpu",
                          overrides=["iterations=1", "critic_iters=1", "batch_size=8", "save_samples=false"])
    assert execute_run(spec, home).status == "ok"
    rep = dc3_fig3(load_results(home).records(), tmp_path)
    assert len(rep.made) == 1 and any("(c) z_n of DC3-GAN" in m for m in rep.missing)
    assert "no ok clustergan or full-model dc3-gan" in dc3_fig3([], tmp_path).missing[0]
