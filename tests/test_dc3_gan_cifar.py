"""DC3-GAN's CIFAR-10 variant (``--set variant=cifar10``, methods/gan/dc3/cifar.py): the Table 12
SN-ResNet G/D and the frozen SimCLR encoder trained through the single loop, its option and
encoder errors, the CIFAR-10 test split, and DC3 Tables 6-7 filled by the printed command
(SimCLR pre-trained on tiny data through ``clusterbench simclr``, FID with a random-weight
Inception, CIFAR data in the real python-pickle archive format)."""

from __future__ import annotations

import dataclasses
import hashlib
import shlex
import warnings

import numpy as np
import pytest
import torch
from fakes_images import fake_cifar10

from clusterbench import paths
from clusterbench.data.hdf5 import write_dataset
from clusterbench.data.preprocessors import PREPROCESSORS
from clusterbench.data.registry import get_spec
from clusterbench.errors import ConfigError, DataError
from clusterbench.evaluate import fid as F
from clusterbench.methods.base import make_config
from clusterbench.methods.gan.dc3.cifar import CIFAR10_SETTINGS
from clusterbench.methods.gan.dc3.dc3_gan import DC3GAN
from clusterbench.methods.pretrain import simclr
from clusterbench.report import spec as S
from clusterbench.report.render import fill_table, load_results
from clusterbench.results.records import iter_records
from clusterbench.training.checkpoints import load_final_weights
from tests.cli_helper import run_cli

#: tiny networks and schedule for CPU tests (everything else: the paper's CIFAR-10 settings)
TINY = {"iterations": "2", "batch_size": "4", "g_channels": "8", "d_channels": "8", "save_samples": "false"}


def _cfg(**kw):
    over = {k: str(v) for k, v in CIFAR10_SETTINGS.items()}
    over.update(TINY)
    over.update({k: str(v) for k, v in kw.items()})
    return make_config(DC3GAN.Config, over, method="dc3-gan")


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "my-simclr.pt"
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in simclr.resnet18_cifar().state_dict().items()}}, path)
    return path


def _fit(cfg, X, seed, workdir):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = DC3GAN(cfg).fit(X, 10, seed=seed, device="cpu", workdir=workdir)
    return out, [str(w.message) for w in caught]


def test_cifar_variant_trains_through_the_loop(checkpoint, tmp_path):
    X = np.random.default_rng(0).random((12, 3, 32, 32), dtype=np.float32)
    cfg = _cfg(simclr=checkpoint)
    out, msgs = _fit(cfg, X, 0, tmp_path / "a")
    # 5 D steps per G/E step (Appendix A.2), 2 generator iterations, the non-saturating D loss
    last = out.history[-1]
    assert (last["g_iterations"], last["critic_iterations"]) == (2, 10)
    assert {"d_real", "d_fake", "L_adv", "L_ae", "L_mmd", "L_n", "L_ce"} <= set(last)
    assert out.proba.shape == (12, 10) and out.embedding.shape == (12, 128)  # z_n 128 (Table 9)
    arch = out.extras["architecture"]
    assert arch["arch"] == "sn-resnet" and arch["z_n"] == 128 and arch["z_c"] == 10
    assert arch["encoder"]["sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert arch["encoder"]["source"] == "user checkpoint"
    # the run's length is not the paper's: said in a warning and in the record
    assert arch["paper_settings_differ"] == {"iterations": {"paper": 500000, "run": 2}}
    assert any("iterations=2 (paper 500000)" in m for m in msgs)
    # spectral norm on G and D; E = the frozen backbone (weights as loaded) + MLP 512 -> 138
    nets = load_final_weights(out.artifacts["model"])
    assert set(nets) == {"G", "D", "E"}
    assert any("parametrizations.weight.original" in k for k in nets["G"])
    assert any("parametrizations.weight.original" in k for k in nets["D"])
    loaded = simclr.load_encoder(checkpoint).state_dict()
    assert all(torch.equal(nets["E"][f"backbone.{k}"], v) for k, v in loaded.items())
    assert nets["E"]["mlp.0.weight"].shape == (512, 512) and nets["E"]["mlp.2.weight"].shape == (138, 512)
    # G is driven by z_c through the conditional batch norms
    assert any(".gamma.weight" in k for k in nets["G"])
    x = out.generator(6, 3, seed=1)
    assert x.shape == (6, 3, 32, 32) and x.min() >= 0 and x.max() <= 1
    # deterministic for a seed
    again, _ = _fit(cfg, X, 0, tmp_path / "b")
    np.testing.assert_allclose(again.proba, out.proba, rtol=1e-5, atol=1e-6)


def test_wasserstein_form_runs_on_the_same_networks(checkpoint, tmp_path):
    X = np.random.default_rng(1).random((8, 3, 32, 32), dtype=np.float32)
    out, _ = _fit(_cfg(simclr=checkpoint, gan_loss="wasserstein", gp_weight=10, iterations=1), X, 0, tmp_path)
    last = out.history[-1]
    assert "wasserstein" in last and "gp" in last and last["g_iterations"] == 1


def test_options_and_data_are_checked(checkpoint):
    with pytest.raises(ConfigError, match="variant"):
        make_config(DC3GAN.Config, {"variant": "cifar"}, method="dc3-gan")
    with pytest.raises(ConfigError, match="non-saturating"):
        make_config(DC3GAN.Config, {"gan_loss": "non-saturating"}, method="dc3-gan")
    cfg = _cfg(simclr=checkpoint)
    with pytest.raises(ConfigError, match="3 x 32 x 32"):
        DC3GAN(cfg).fit(np.zeros((8, 1, 28, 28), np.float32), 10, seed=0)
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        DC3GAN(cfg).fit(np.full((8, 3, 32, 32), 2.0, np.float32), 10, seed=0)


def test_missing_simclr_encoder_is_a_one_paragraph_error(cb_home, tmp_path):
    with pytest.raises(DataError, match="has not been fetched") as e:
        simclr.resolve_weights("cifar10-train")
    assert "clusterbench simclr cifar10-train" in str(e.value.hint)
    with pytest.raises(DataError, match="does not exist"):
        simclr.resolve_weights(str(tmp_path / "nope.pt"))
    with pytest.raises(DataError, match="no finished model"):
        simclr.resolve_weights("simclr-0123456789abcdef")
    _store("cifar10-train", tmp_path)  # fetched, never pre-trained
    with pytest.raises(DataError, match="holds none") as e:
        simclr.resolve_weights("cifar10-train")
    assert "--set simclr=" in str(e.value.hint)


def _store(name: str, tmp_path, per_batch: int = 4) -> None:
    """The registered data set ``name`` from a fake archive in the real pickle format, written
    where ``fetch`` puts it (the fetch path itself is tested in test_fetch_all)."""
    files = fake_cifar10(tmp_path / f"raw-{name}", per_batch=per_batch)
    spec = get_spec(name)
    prepared = PREPROCESSORS[spec.preprocessor](files, spec=spec, **spec.options)
    paths.dataset_file(name).parent.mkdir(parents=True, exist_ok=True)
    write_dataset(paths.dataset_file(name), prepared, name=name, n_clusters=spec.n_clusters)


def test_cifar10_splits_share_one_archive(cb_home, tmp_path):
    import clusterbench

    for name in ("cifar10-train", "cifar10-test", "cifar10"):
        _store(name, tmp_path, per_batch=3)
    sizes = {n: clusterbench.load(n)[0].shape for n in ("cifar10-train", "cifar10-test", "cifar10")}
    assert sizes == {"cifar10-train": (15, 3, 32, 32), "cifar10-test": (3, 3, 32, 32), "cifar10": (18, 3, 32, 32)}
    assert get_spec("cifar10-train").raw_name == get_spec("cifar10-test").raw_name == get_spec("cifar10").raw_name


def _ours(table: str):
    t = S.get_table("dc3", table)
    return next(c for row in t.cells for c in row if c.method == "dc3-gan")


def test_tables_6_and_7_name_the_paper_settings_and_share_runs():
    c6, c7 = _ours("6"), _ours("7")
    assert c6.settings == c7.settings and c6.dataset == c7.dataset == "cifar10-test"
    assert {k: c6.settings[k] for k in CIFAR10_SETTINGS} == CIFAR10_SETTINGS
    assert c7.settings["fid_real"] == "cifar10-train" and c7.settings["fid_network"] == "inception"
    assert c6.metric == "purity" and c7.metric == "fid"


def test_printed_command_fills_tables_6_and_7(cb_home, tmp_path, monkeypatch, capsys):
    """Acceptance: SimCLR pre-trains a few steps on tiny 32x32x3 data (``clusterbench simclr``),
    the DC3 CIFAR model finds it in the cache, trains a few iterations through the runner with
    the printed Table 6/7 command (shortened), and both cells fill."""
    _store("cifar10-train", tmp_path, per_batch=4)  # 20 training images
    _store("cifar10-test", tmp_path, per_batch=12)  # 12 test images (at least K = 10)
    rc, out, err = run_cli(capsys, "simclr", "cifar10-train", "--device", "cpu", "--set", "epochs=1",
                           "--set", "batch_size=8", "--set", "proj_hidden=16", "--set", "proj_dim=8")
    assert rc == 0, err
    monkeypatch.setattr(F, "INCEPTION_WEIGHTS", "random")  # no Inception download here
    res = load_results(paths.results_home())
    cell = fill_table(S.get_table("dc3", "7"), res).cells[-1][0]
    assert cell.status == "missing"
    args = shlex.split(cell.command)[1:]  # the printed command, without "clusterbench"
    assert args[:3] == ["run", "dc3-gan", "--dataset"] and "--seeds" in args
    args[args.index("--seeds") + 1] = "1"
    short = {**TINY, "iterations": "1", "fid_samples": "4"}
    for k, v in short.items():
        args += ["--set", f"{k}={v}"]
    rc, out, err = run_cli(capsys, *args, "--device", "cpu")
    assert rc == 0, out + err
    [(_, rec)] = list(iter_records(paths.results_home()))
    assert rec.status == "ok", rec.error
    assert rec.extras["architecture"]["encoder"]["source"] == "clusterbench simclr"
    fid = rec.extras["evaluation"]["fid"]
    assert fid["fid_real"] == "cifar10-train" and fid["n_real"] == 4 and fid["n_generated"] == 4
    assert fid["fid_network"] == "inception" and fid["weights"] == "random"
    # the cells read this run once the settings shortened for the test are the run's
    res = load_results(paths.results_home())
    for table, metric in (("6", "purity"), ("7", "fid")):
        t = S.get_table("dc3", table)
        cells = [[dataclasses.replace(c, settings={**c.settings, **{k: rec.config[k] for k in short if k in c.settings}})
                  if c.method == "dc3-gan" else c for c in row] for row in t.cells]
        filled = fill_table(dataclasses.replace(t, cells=cells), res)
        ours = next(c for row in filled.cells for c in row if c.spec.method == "dc3-gan" and c.spec.metric == metric)
        assert ours.status == "measured" and ours.value == pytest.approx(rec.metrics[metric]), table


def test_simclr_cache_lookup_prefers_the_default_configuration(cb_home, tmp_path):
    """Several pre-trainings on one data set: the default SimCLRConfig's is taken; among
    non-default ones only a named entry (``simclr-<key>``) decides."""
    import json

    from clusterbench.data.hdf5 import read_info

    _store("cifar10-train", tmp_path)
    checksum = read_info(paths.dataset_file("cifar10-train")).checksum
    root = paths.models_dir()

    def entry(key: str, **config) -> None:
        (root / f"simclr-{key}").mkdir(parents=True)
        (root / f"simclr-{key}" / "model.pt").write_bytes(key.encode())
        cfg = {**dataclasses.asdict(simclr.SimCLRConfig()), **config}
        (root / f"simclr-{key}.json").write_text(json.dumps({"key": key, "config": cfg, "data": checksum, "seed": 0}))

    entry("a" * 16, epochs=5)
    assert simclr.resolve_weights("cifar10-train")["key"] == "a" * 16  # the only one
    entry("b" * 16, epochs=7)
    with pytest.raises(DataError, match="Several SimCLR pre-trainings"):
        simclr.resolve_weights("cifar10-train")
    entry("c" * 16, checkpoint_every=3)  # bookkeeping only: the default configuration
    got = simclr.resolve_weights("cifar10-train")
    assert got["key"] == "c" * 16 and got["sha256"] == hashlib.sha256(b"c" * 16).hexdigest()
    assert simclr.resolve_weights("simclr-" + "b" * 16)["config"]["epochs"] == 7
    with pytest.raises(DataError, match="holds none"):
        simclr.resolve_weights("cifar10-train", seed=1)
