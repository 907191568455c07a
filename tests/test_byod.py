"""Bring your own data set: `fetch --from FILE --name NAME` with .npz, .csv and .h5."""

from __future__ import annotations

import json
import tomllib

import h5py
import numpy as np
import pandas as pd
import pytest

import clusterbench
from clusterbench import paths
from clusterbench.cli import main
from clusterbench.data.byod import register_local
from clusterbench.data.fetch import fetch
from clusterbench.data.hdf5 import Prepared, write_dataset
from clusterbench.data.registry import get_spec
from clusterbench.errors import ConfigError, DataError

rng = np.random.default_rng(0)


def cli(capsys, *args):
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code
    o = capsys.readouterr()
    return code, o.out, o.err


def test_npz_images_get_a_channel_and_labels_are_remapped(tmp_path, capsys):
    X = rng.random((30, 5, 6)).astype(np.float32)
    y = np.repeat([3, 7, 11], 10)
    np.savez(tmp_path / "mine.npz", X=X, y=y)
    code, out, err = cli(capsys, "fetch", "--from", str(tmp_path / "mine.npz"), "--name", "mine")
    assert code == 0, err
    X2, y2, info = clusterbench.load("mine")
    assert X2.shape == (30, 1, 5, 6) and np.allclose(X2[:, 0], X)
    assert list(np.unique(y2)) == [0, 1, 2] and info.n_clusters == 3
    assert json.loads(info.attrs["label_values"]) == [3, 7, 11]
    spec = get_spec("mine")
    assert spec.source == "local" and spec.preprocessor == "local" and spec.user
    assert spec.sample_shape == (1, 5, 6) and spec.n_samples == 30
    # it shows up in `datasets`
    code, out, _ = cli(capsys, "datasets", "--json")
    assert any(r["name"] == "mine" and r["source"] == "local" and r["fetched"] for r in json.loads(out))


def test_rgb_images_keep_nchw(tmp_path):
    X = rng.random((8, 3, 4, 4))
    np.savez(tmp_path / "rgb.npz", X=X, y=np.arange(8) % 2)
    info = register_local(tmp_path / "rgb.npz", name="rgb")
    assert info.sample_shape == (3, 4, 4)


def test_csv_with_label_column_and_rebuild(tmp_path, capsys):
    df = pd.DataFrame(rng.random((12, 3)), columns=["a", "b", "c"])
    df["kind"] = ["x", "y", "z"] * 4
    f = tmp_path / "t.csv"
    df.to_csv(f, index=False)
    code, _, err = cli(capsys, "fetch", "--from", str(f), "--name", "tab", "--label-column", "kind", "--n-clusters", "4")
    assert code == 0, err
    X, y, info = clusterbench.load("tab")
    assert X.shape == (12, 3) and info.n_clusters == 4 and list(y[:3]) == [0, 1, 2]
    assert json.loads(info.attrs["label_values"]) == ["x", "y", "z"]
    # the "local" preprocessor rebuilds it from the recorded path
    paths.dataset_file("tab").unlink()
    info2 = fetch("tab", progress=False)
    assert info2.checksum == info.checksum and info2.n_clusters == 4
    code, _, err = cli(capsys, "fetch", "tab", "--force")
    assert code == 0, err


def test_csv_missing_label_column_lists_columns(tmp_path, capsys):
    f = tmp_path / "t.csv"
    pd.DataFrame({"f1": [1.0, 2.0], "f2": [3.0, 4.0], "target": [0, 1]}).to_csv(f, index=False)
    code, _, err = cli(capsys, "fetch", "--from", str(f), "--name", "tab")
    flat = " ".join(err.split())
    assert code == 1 and "Traceback" not in err
    assert "no column 'label'" in flat and "f1, f2, target" in flat and "--label-column" in flat
    assert not paths.dataset_file("tab").exists() and not paths.user_registry_file().exists()


def test_h5_variants(tmp_path):
    X = rng.random((10, 4)).astype(np.float32)
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f["data"] = (X * 255).astype(np.uint8)
        f["labels"] = np.arange(10) % 5 + 1
    info = register_local(tmp_path / "a.h5", name="jule-like")
    assert info.n_clusters == 5 and info.n_samples == 10
    with h5py.File(tmp_path / "b.h5", "w") as f:
        f["X"] = X
        f["y"] = np.arange(10) % 2
    assert register_local(tmp_path / "b.h5", name="xy").n_clusters == 2
    write_dataset(tmp_path / "ours.h5", Prepared(X, np.arange(10) % 3, {}), name="other", n_clusters=3)
    Xo, yo, io = clusterbench.load(register_local(tmp_path / "ours.h5", name="ours").name)
    assert np.array_equal(Xo, X) and io.n_clusters == 3
    with h5py.File(tmp_path / "c.h5", "w") as f:
        f["images"] = X
    with pytest.raises(DataError, match="holds \\['images'\\]"):
        register_local(tmp_path / "c.h5", name="c")


def test_errors(tmp_path):
    np.savez(tmp_path / "ok.npz", X=rng.random((4, 2)), y=[0, 1, 0, 1])
    with pytest.raises(ConfigError, match="built-in data set"):
        register_local(tmp_path / "ok.npz", name="digits")
    with pytest.raises(ConfigError, match="not a valid data set name"):
        register_local(tmp_path / "ok.npz", name="../evil")
    register_local(tmp_path / "ok.npz", name="ok")
    with pytest.raises(ConfigError, match="already registered"):
        register_local(tmp_path / "ok.npz", name="ok")
    assert register_local(tmp_path / "ok.npz", name="ok", force=True).n_samples == 4
    np.savez(tmp_path / "bad.npz", features=rng.random((4, 2)))
    with pytest.raises(DataError, match="'X' and 'y'"):
        register_local(tmp_path / "bad.npz", name="bad")
    np.savez(tmp_path / "short.npz", X=rng.random((4, 2)), y=[0, 1])
    with pytest.raises(DataError, match="4 samples but 2 labels"):
        register_local(tmp_path / "short.npz", name="short")
    (tmp_path / "notnpz.npz").write_bytes(b"garbage")
    with pytest.raises(DataError, match="not a readable .npz"):
        register_local(tmp_path / "notnpz.npz", name="x")
    (tmp_path / "d.txt").write_text("1 2\n")
    with pytest.raises(ConfigError, match="unsupported file type"):
        register_local(tmp_path / "d.txt", name="x")
    np.savez(tmp_path / "nan.npz", X=np.array([[np.nan, 1.0], [0.0, 1.0]]), y=[0, 1])
    with pytest.raises(DataError, match="NaN"):
        register_local(tmp_path / "nan.npz", name="nan")
    # the user registry stays valid TOML listing only the good entries
    with open(paths.user_registry_file(), "rb") as fh:
        assert list(tomllib.load(fh)) == ["ok"]


def test_moved_file_rebuild_is_a_clear_error(tmp_path):
    np.savez(tmp_path / "gone.npz", X=rng.random((4, 2)), y=[0, 1, 0, 1])
    register_local(tmp_path / "gone.npz", name="gone")
    (tmp_path / "gone.npz").unlink()
    with pytest.raises(DataError, match="is gone"):
        fetch("gone", force=True, progress=False)
    assert paths.dataset_file("gone").exists()  # the previous HDF5 is kept


# --- issue 15 class 11: what float32 / labels cannot represent faithfully is refused -------------


@pytest.mark.parametrize("X, y, why", [
    (np.array([[1e39, 0.0], [1.0, 2.0], [3.0, 4.0]]), np.array([0, 1, 0]), "beyond float32's range"),
    (np.array([[1 + 2j, 0], [1, 2], [3, 4]]), np.array([0, 1, 0]), "complex numbers"),
    (np.array([[np.inf, 0.0], [1.0, 2.0], [3.0, 4.0]]), np.array([0, 1, 0]), "NaN or infinite"),
    (np.ones((3, 2)), np.array([1j, 2j, 1j]), "labels y have dtype complex"),
    (np.ones((3, 2)), np.int64(3), "not an array"),
])
def test_unfaithful_values_are_refused_naming_the_file(tmp_path, X, y, why):
    f = tmp_path / "mine.npz"
    np.savez(f, X=X, y=y)
    with pytest.raises(DataError, match=why) as ei:
        register_local(f, name="mine")
    assert str(f) in str(ei.value)
    assert not paths.dataset_file("mine").exists()


def test_h5_labels_group_is_refused(tmp_path):
    f = tmp_path / "g.h5"
    with h5py.File(f, "w") as h:
        h["X"] = np.ones((4, 2))
        h.create_group("y")
    with pytest.raises(DataError, match="group, not an array"):
        register_local(f, name="g")


def test_csv_text_labels_still_work(tmp_path):
    f = tmp_path / "t.csv"
    pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "label": ["x", "y", "x", "y"]}).to_csv(f, index=False)
    assert register_local(f, name="t").n_clusters == 2


@pytest.mark.parametrize("name", ["Digits", "MNIST", "Fashion-MNIST"])
def test_name_colliding_case_insensitively_is_refused(tmp_path, name):
    f = tmp_path / "m.npz"
    np.savez(f, X=np.ones((4, 2)), y=np.array([0, 1, 0, 1]))
    with pytest.raises(ConfigError, match="only in letter case"):
        register_local(f, name=name)
    register_local(f, name="mine")
    with pytest.raises(ConfigError, match="only in letter case"):
        register_local(f, name="MINE")
