"""The papers' per-data-set settings (``methods/dataset_settings.toml``): plan-time defaults under
``--set``, recorded in the run's config and key, required and printed by the report's cells."""

from __future__ import annotations

import numpy as np

from clusterbench import paths, plugins
from clusterbench.cli import main
from clusterbench.data.hdf5 import Prepared, write_dataset
from clusterbench.data.registry import load_registry
from clusterbench.methods import get_method
from clusterbench.methods.base import make_config
from clusterbench.report import spec as S
from clusterbench.report.render import _settings_text, fill_command, fill_table, load_results
from clusterbench.runner import expand_grid


def _cell(spec: S.TableSpec, row_label: str, col_label: str) -> S.CellSpec:
    i = next(i for i, r in enumerate(spec.rows) if r["label"] == row_label)
    j = next(j for j, c in enumerate(spec.columns) if c["label"] == col_label)
    return spec.cells[i][j]


def test_every_entry_names_a_method_a_data_set_and_config_fields_that_round_trip():
    table = plugins._all_dataset_settings()
    registry = load_registry()
    assert {"dls", "clustergan", "dc3-gan"} <= set(table)
    for method, per in table.items():
        assert method in plugins.BUILTIN_METHODS, method
        cls = get_method(method)
        for dataset, settings in per.items():
            assert dataset in registry, (method, dataset)
            assert settings, (method, dataset)
            # the fill command passes them as text: the text must give the same value and type,
            # so the run key of `run M -d D` equals that of the fill command's run
            cfg = make_config(cls.Config, {k: _settings_text(v) for k, v in settings.items()}, method=method)
            for k, v in settings.items():
                got = getattr(cfg, k)
                assert got == v and type(got) is type(v), (method, dataset, k, got, v)


def test_papers_latent_sizes():
    ds = plugins.dataset_settings
    assert ds("dls", "fashion-mnist") == {"latent_dim": 40} and ds("dls", "mnist") == {"latent_dim": 25}
    assert ds("dls", "ytf") == {"latent_dim": 60} and ds("dls", "pendigits")["latent_dim"] == 5
    assert ds("dls", "10x_73k")["latent_dim"] == 30 and ds("dc3-gan", "cifar10")["latent_dim"] == 128
    # the DLS reference code's per-data-set lengths (issue 28 item 8), for DLS and DC3-GAN
    for m in ("dls", "dc3-gan"):
        assert ds(m, "pendigits")["iterations"] == 500_000 and ds(m, "10x_73k")["iterations"] == 100_000
    assert ds("clustergan", "fashion-mnist") == {"latent_dim": 40, "beta_n": 0.0}
    assert ds("clustergan", "mnist") == {"latent_dim": 30}
    assert ds("kmeans", "fashion-mnist") == {} and ds("dls", "digits") == {} and ds(None, "mnist") == {}


def test_plan_time_defaults_under_set_and_in_the_key(monkeypatch):
    table = {"dls": {"digits": {"latent_dim": 3, "beta3": 2.0}}}
    monkeypatch.setattr(plugins, "_all_dataset_settings", lambda: table)
    dls, km = expand_grid(["dls", "kmeans"], ["digits"], subset=100)
    assert dls.config["latent_dim"] == 3 and dls.config["beta3"] == 2.0
    assert km.config == expand_grid(["kmeans"], ["digits"], subset=100)[0].config  # other methods untouched
    explicit, = expand_grid(["dls"], ["digits"], subset=100, overrides=["latent_dim=3", "beta3=2.0"])
    assert explicit.key == dls.key                      # the same experiment, the same key
    mine, = expand_grid(["dls"], ["digits"], subset=100, overrides=["dls.latent_dim=4"])
    assert mine.config["latent_dim"] == 4 and mine.config["beta3"] == 2.0 and mine.key != dls.key
    monkeypatch.setattr(plugins, "_all_dataset_settings", lambda: {})
    plain, = expand_grid(["dls"], ["digits"], subset=100)
    assert plain.config["latent_dim"] is None and plain.key != dls.key


def test_fill_commands_carry_the_papers_settings():
    t3 = S.get_table("dls", 3)
    cmd = fill_command(_cell(t3, "Our Method", "Fashion-10 ACC"), 5)
    assert cmd == "clusterbench run dls --dataset fashion-mnist --seeds 5 --set latent_dim=40"
    assert fill_command(_cell(t3, "Our Method", "MNIST NMI"), 5).endswith("--set latent_dim=25")
    assert fill_command(_cell(t3, "ClusterGAN [34]", "Fashion-10 ACC"), 5) == (
        "clusterbench run clustergan --dataset fashion-mnist --seeds 5 --set beta_n=0.0 --set latent_dim=40")
    assert fill_command(_cell(t3, "K-means [30]", "Fashion-10 ACC"), 5) == (
        "clusterbench run kmeans --dataset fashion-mnist --seeds 5")
    t4 = S.get_table("dc3", 4)
    assert _cell(t4, "Ours", "Fashion-10 ACC").settings == {"latent_dim": 40}
    assert _cell(t4, "Ours", "YTF NMI").settings == {"latent_dim": 60}
    # a table's own `set` wins over the data-set settings (ablation rows keep theirs)
    t8 = S.get_table("dc3", 8)
    assert _cell(t8, "No L_CE", "ACC").settings == {"latent_dim": 25, "loss_ce": False}


def test_report_prints_them(capsys):
    main(["report", "--paper", "dls", "--table", "3"])
    out = capsys.readouterr().out
    assert "clusterbench run dls --dataset fashion-mnist --seeds 5 --set latent_dim=40" in out
    assert "clusterbench run dls --dataset mnist --seeds 5 --set latent_dim=25" in out


def _tiny_fashion() -> None:
    """A 40-image stand-in for fashion-mnist (1x28x28 uint8, 10 classes) in the test's home."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 4)
    X = (rng.random((40, 1, 28, 28)) * 255).astype(np.uint8)
    X[np.arange(40), 0, y * 2, :] = 255  # a class-dependent stripe
    path = paths.dataset_file("fashion-mnist")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_dataset(path, Prepared(X=X, y=y, recipe={"test": "tiny"}, x_divisor=255.0),
                  name="fashion-mnist", n_clusters=10)


def test_a_run_made_with_the_fill_command_fills_its_cell(cb_home):
    _tiny_fashion()
    t3 = S.get_table("dls", 3)
    cell = _cell(t3, "Our Method", "Fashion-10 ACC")
    short = ["--seeds", "1", "--device", "cpu", "--set", "iterations=1", "--set", "batch_size=8",
             "--set", "save_samples=false"]
    # a run with MNIST's latent size (the shape's default before) does not fill the Fashion cell
    main(["run", "dls", "--dataset", "fashion-mnist", *short, "--set", "latent_dim=25"])
    res = fill_table(t3, load_results(paths.results_home()))
    assert res.cells[cell.row][cell.col].status == "missing"
    # the fill command, shortened (1 seed, 1 generator iteration), fills it
    args = fill_command(cell, t3.seeds).split()[1:]
    i = args.index("--seeds")
    del args[i:i + 2]
    main([*args, *short])
    res = fill_table(t3, load_results(paths.results_home()))
    got = res.cells[cell.row][cell.col]
    assert got.status == "measured" and got.n == 1 and 0 < got.value <= 1
    # so does the plain `run dls -d fashion-mnist`: the same key, nothing new to run
    before = len(load_results(paths.results_home()).frame)
    main(["run", "dls", "--dataset", "fashion-mnist", *short])
    assert len(load_results(paths.results_home()).frame) == before


def _fill_command_sets(cmd: str) -> tuple[str, str, list[str]]:
    """(method, data set, --set items) of the first command of a fill command."""
    import shlex

    args = shlex.split(cmd.split(" && ")[0])
    sets = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
    return args[2], args[args.index("--dataset") + 1], sets


def test_no_set_gives_the_papers_setting_on_every_table_pair():
    """Issue 28 defect 4: for every (method, data set) a table names, `clusterbench run M -d D`
    without --set resolves to the config of the cell's fill command, up to the evaluators'
    options (what is measured after fit), the model selection, the retrieval command's --bits
    and the switches a paper declares for its ablation rows (``[paper.method_defaults]``)."""
    from clusterbench.evaluate import EVAL_OPTION_KEYS
    from clusterbench.results.records import SELECTION_KEY
    from clusterbench.runner.spec import resolve_configs

    free = {*EVAL_OPTION_KEYS, SELECTION_KEY}
    checked, variants = set(), set()
    for t in S.all_tables():
        for row in t.cells:
            for c in row:
                if c.reported or not c.method or c.method not in plugins.BUILTIN_METHODS:
                    continue
                method, dataset, sets = _fill_command_sets(fill_command(c, t.seeds, t.command))
                assert (method, dataset) == (c.method, c.dataset)
                [(_, plain)] = resolve_configs([method], None, dataset).values()
                [(_, filled)] = resolve_configs([method], sets, dataset).values()
                differ = {k for k in plain if plain[k] != filled[k]} - free
                if t.command == "retrieval":
                    differ -= {"hash_bits"}
                switches = set(t.method_defaults.get(method, {}))
                assert differ <= switches, (t.paper, t.number, method, dataset, {k: (plain[k], filled[k]) for k in differ})
                (variants if differ else checked).add((method, dataset))
    assert ("dc3-gan", "cifar10-test") in checked and ("clustergan", "10x_73k") in checked
    assert ("dc3-gan", "mnist") in checked and ("dc3-gan", "mnist") in variants  # Table 8's ablations


def test_clustergan_10x_73k_has_the_references_latent_size():
    """Issue 28 defect 2: the reference README and gene script use --dz 30 on 10x_73k."""
    from clusterbench.runner.spec import resolve_configs

    cells = [c for t in S.all_tables() for row in t.cells for c in row
             if c.method == "clustergan" and c.dataset == "10x_73k" and not c.reported]
    assert cells
    for c in cells:
        method, dataset, sets = _fill_command_sets(fill_command(c, 5))
        [(_, cfg)] = resolve_configs([method], sets, dataset).values()
        assert cfg["latent_dim"] == 30 and cfg["iterations"] == 100_000


def test_cifar10_settings_are_the_settings_files():
    from clusterbench.methods.gan.dc3.cifar import CIFAR10_SETTINGS

    assert CIFAR10_SETTINGS["variant"] == "cifar10" and CIFAR10_SETTINGS["iterations"] == 500_000
    for split in ("cifar10", "cifar10-train", "cifar10-test"):
        assert plugins.dataset_settings("dc3-gan", split) == {"latent_dim": 128, **CIFAR10_SETTINGS}
