"""FID (evaluate/fid.py) and its Inception weights file (evaluate/weights.py)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
import torch

from clusterbench.errors import ChecksumError, DataError
from clusterbench.evaluate import EvalContext, run_evaluators
from clusterbench.evaluate import fid as F
from clusterbench.evaluate import mnist_classifier as mc
from clusterbench.evaluate import weights as W
from clusterbench.data.registry import FileSpec
from loopback import LoopbackServer

torch.set_num_threads(1)
DEBIAN = Path("/usr/share/datasets/fashion-mnist")


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(a)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def test_frechet_distance_matches_the_closed_form_of_known_gaussians():
    rng = np.random.default_rng(0)
    for d in (1, 3, 16):
        a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d))
        s1, s2 = a @ a.T + 0.1 * np.eye(d), b @ b.T + 0.5 * np.eye(d)  # non-commuting SPD
        mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
        r1 = _sqrt_psd(s1)
        expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * _sqrt_psd(r1 @ s2 @ r1))
        assert F.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, abs=1e-3)
    # 1-d: (m1 - m2)^2 + (sd1 - sd2)^2
    assert F.frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([-1.0]), np.array([[9.0]])) == pytest.approx(5.0, abs=1e-9)
    assert F.frechet_distance(np.zeros(4), np.eye(4), np.zeros(4), np.eye(4)) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_equals_pytorch_fid():
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(200, 12)), rng.normal(size=(150, 12)) * 1.3 + 0.2
    sa, sb = F.activation_statistics(a), F.activation_statistics(b)
    assert F.frechet_distance(*sa, *sb) == pytest.approx(fid_score.calculate_frechet_distance(*sa, *sb), rel=1e-9)
    # rank-deficient covariances (fewer samples than dimensions) take the eps branch in both
    a, b = rng.normal(size=(5, 20)), rng.normal(size=(5, 20))
    sa, sb = F.activation_statistics(a), F.activation_statistics(b)
    assert F.frechet_distance(*sa, *sb) == pytest.approx(fid_score.calculate_frechet_distance(*sa, *sb), rel=1e-6)


def test_inception_features_with_random_weights():
    pytest.importorskip("pytorch_fid")
    net, prov = F.inception_network("random")
    assert prov["weights"] == "random"
    x = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    f = F.inception_features(net, x, batch_size=3)
    assert f.shape == (4, 2048) and np.isfinite(f).all() and (f >= 0).all()
    np.testing.assert_allclose(F.inception_features(net, np.repeat(x, 3, axis=1)), f, rtol=1e-5, atol=1e-9)  # grey = RGB copies
    net2, _ = F.inception_network("random")  # seeded: the same network again
    np.testing.assert_array_equal(F.inception_features(net2, x[:2]), f[:2])


def _tiny_state_file(directory: Path, stem: str = "tiny") -> tuple[Path, bytes]:
    buf = io.BytesIO()
    torch.save(torch.nn.Linear(3, 2).state_dict(), buf)
    data = buf.getvalue()
    path = directory / f"{stem}-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    path.write_bytes(data)
    return path, data


def test_weights_fetch_on_loopback_mirror_and_from(tmp_path, monkeypatch, capsys):
    from clusterbench.cli import main
    from clusterbench.data.preprocessors.features import load_pinned_state_dict

    src, data = _tiny_state_file(tmp_path)
    with LoopbackServer({src.name: data}) as srv:
        monkeypatch.setitem(W.WEIGHTS, "tiny", FileSpec(name=src.name, role="weights", urls=(srv.url(src.name),)))
        with pytest.raises(DataError, match="fetch-weights tiny"):
            W.require_weights("tiny")
        path = W.fetch_weights("tiny", progress=False)
        assert path == W.weights_path("tiny") and path.read_bytes() == data and srv.count(src.name) == 1
        assert W.fetch_weights("tiny", progress=False) == path and srv.count(src.name) == 1  # cached, verified
        load_pinned_state_dict(W.require_weights("tiny"), None, torch.nn.Linear(3, 2))
        with pytest.raises(DataError, match="do not fit"):  # a file for another network
            F.inception_network(path)
    # --mirror (a directory) and --from, through the command line, with no server
    path.unlink()
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / src.name).write_bytes(data)
    main(["fetch-weights", "tiny", "--mirror", str(mirror), "--no-progress"])
    assert path.read_bytes() == data and str(path) in capsys.readouterr().out
    path.unlink()
    main(["fetch-weights", "tiny", "--from", str(src), "--no-progress"])
    assert path.read_bytes() == data


def test_weights_with_a_wrong_hash_are_refused_and_set_aside(tmp_path, monkeypatch):
    _, data = _tiny_state_file(tmp_path)
    name = "tiny-00000000.pth"  # the name's prefix is not the content's
    with LoopbackServer({name: data}) as srv:
        monkeypatch.setitem(W.WEIGHTS, "tiny", FileSpec(name=name, role="weights", urls=(srv.url(name),)))
        with pytest.raises(ChecksumError, match="00000000"):
            W.fetch_weights("tiny", progress=False)
    assert not W.weights_path("tiny").exists() and W.weights_path("tiny").with_name(name + ".bad").exists()


def test_inception_url_is_pytorch_fids():
    inception = pytest.importorskip("pytorch_fid.inception")
    assert W.WEIGHTS["inception-fid"].urls == (inception.FID_WEIGHTS_URL,)
    assert W.WEIGHTS["inception-fid"].name == inception.FID_WEIGHTS_URL.rsplit("/", 1)[1]


def _ctx(generator, real, shape, **options):
    return EvalContext(generator=generator, sample_shape=shape, n_clusters=2, seed=0, real=real,
                       options={"evaluate": ["fid"], **options})


def _fid_runs(network: str, n: int, monkeypatch) -> None:
    """Real data against itself (the generator returns the real rows) ~ 0; against noise it is
    larger; counts and the network are recorded."""
    from clusterbench import paths

    rng = np.random.default_rng(0)
    X = rng.random((40, 1, 28, 28), dtype=np.float32) * 0.3
    y = np.arange(40) % 2
    X[y == 0, :, :14] += 0.7
    mc.train_classifier(X[:30], y[:30], X[30:], y[30:], epochs=1, batch_size=10, min_accuracy=0.0,
                        directory=paths.models_dir())
    same = lambda n, cluster=None, *, seed=0: X[:n]  # noqa: E731
    noise = lambda n, cluster=None, *, seed=0: rng.random((n, 1, 28, 28), dtype=np.float32)  # noqa: E731
    monkeypatch.setattr(F, "INCEPTION_WEIGHTS", "random")
    r0 = run_evaluators(["fid"], _ctx(same, X[:n], (1, 28, 28), fid_samples=n, fid_network=network), generative=True)
    r1 = run_evaluators(["fid"], _ctx(noise, X[:n], (1, 28, 28), fid_samples=n, fid_network=network), generative=True)
    facts = r0.facts["fid"]
    assert facts["fid_network"] == network and facts["n_real"] == n and facts["n_generated"] == n
    # (sqrtm of the rank-deficient covariances of a few samples is accurate to ~1e-5 only)
    assert abs(r0.metrics["fid"]) < 1e-4 and r1.metrics["fid"] > 100 * abs(r0.metrics["fid"])
    return X, same


def test_fid_evaluator_mnist_cnn(cb_home, monkeypatch):
    X, same = _fid_runs("mnist-cnn", 40, monkeypatch)
    # fewer real samples than fid_samples: all real ones, the count recorded
    r = run_evaluators(["fid"], _ctx(same, X[:20], (1, 28, 28), fid_samples=30), generative=True)
    assert r.facts["fid"]["n_real"] == 20 and r.facts["fid"]["n_generated"] == 30
    assert r.facts["fid"]["fid_network"] == "mnist-cnn"  # auto on 1x28x28
    skipped = run_evaluators(["fid"], _ctx(same, X, (3, 32, 32), fid_network="mnist-cnn"), generative=True)
    assert "1x28x28" in skipped.facts["fid"]["skipped"] and not skipped.metrics


@pytest.mark.slow  # two 2048 x 2048 sqrtm: minutes on a shared CPU; the mnist-cnn test runs the same evaluator
def test_fid_evaluator_inception_random_weights(cb_home, monkeypatch):
    pytest.importorskip("pytorch_fid")
    _fid_runs("inception", 6, monkeypatch)


@pytest.mark.skipif(not DEBIAN.is_dir(), reason="apt-get install dataset-fashion-mnist (CI installs it)")
def test_fid_of_two_halves_of_real_fashion_mnist_is_small(cb_home):
    """Real Fashion-MNIST (the suite's fetch from Debian's copy), a small classifier trained on
    2,000 training images, FID in its penultimate space: two disjoint halves of 1,000 test images
    are close; the same images against their pixel-shuffled copies are far."""
    import clusterbench
    from clusterbench.cli import main

    main(["fetch", "fashion-mnist", "--mirror", str(DEBIAN), "--no-progress"])
    X, y, _ = clusterbench.load("fashion-mnist")
    clf, acc = mc.train_classifier(np.asarray(X[:2000]), np.asarray(y[:2000]), np.asarray(X[60000:61000]),
                                   np.asarray(y[60000:61000]), epochs=2, min_accuracy=0.6, directory=cb_home / "m")
    a = mc.penultimate_features(clf, np.asarray(X[61000:62000]))
    b = mc.penultimate_features(clf, np.asarray(X[62000:63000]))
    shuffled = np.asarray(X[61000:62000]).reshape(1000, -1)[:, np.random.default_rng(0).permutation(784)]
    c = mc.penultimate_features(clf, shuffled.reshape(1000, 1, 28, 28))
    halves, far = F.fid_from_features(a, b), F.fid_from_features(a, c)
    assert F.fid_from_features(a, a) == pytest.approx(0.0, abs=1e-6)
    assert 0 < halves < 0.1 * far, (halves, far)


@pytest.mark.slow  # a fresh interpreter importing torch: a minute on a loaded CPU; the fast test builds the same network
def test_pytorch_fid_downloads_nothing_at_import_or_with_our_loader(tmp_path):
    """Importing pytorch-fid and building its network through ``inception_network`` touches no
    torch.hub cache (pytorch-fid downloads only inside ``fid_inception_v3``, whose loader we
    replace), checked in a fresh interpreter with an empty TORCH_HOME."""
    import os
    import subprocess
    import sys

    pytest.importorskip("pytorch_fid")
    env = {**os.environ, "TORCH_HOME": str(tmp_path / "torch"), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    code = ("import pytorch_fid.inception, pytorch_fid.fid_score\n"
            "from clusterbench.evaluate.fid import inception_network\n"
            "inception_network('random')\n")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=300)
    assert not (tmp_path / "torch").exists()
