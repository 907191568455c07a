"""Preprocessors of the non-image data sets (HAR, Reuters, Pendigits, 10x_73k) on fake raw files."""

from __future__ import annotations

import gzip
import inspect
import io
import tarfile
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp

from clusterbench.data.hdf5 import read_dataset, write_dataset
from clusterbench.data.preprocessors import PREPROCESSORS, har, pendigits, reuters, tenx
from clusterbench.data.registry import load_registry
from clusterbench.errors import DataError
from fakes_text import (
    FAKE_TEXT,
    REUTERS_TOKEN_FILES,
    reuters_expected_labels,
    write_har,
    write_pendigits,
    write_reuters,
    write_tenx,
)

TEXT_SETS = ("hhar", "reuters", "reuters10k", "pendigits", "10x_73k")


# ------------------------------------------------------------------------------------ registry


@pytest.mark.parametrize("name", TEXT_SETS)
def test_registry_entry_matches_preprocessor_and_fake(name, tmp_path):
    spec = load_registry()[name]
    fn = PREPROCESSORS[spec.preprocessor]
    params = inspect.signature(fn).parameters
    assert set(spec.options) <= set(params), f"unknown options {set(spec.options) - set(params)}"
    files = FAKE_TEXT[name](tmp_path)
    names = {p.name for p in files.values()}
    assert {f.name for f in spec.files} == names
    assert {f.role for f in spec.files} == set(files)
    prepared = fn(files, spec=spec, **spec.options)
    assert prepared.X.shape[1:] == tuple(spec.sample_shape)
    assert prepared.y.min() >= 0 and prepared.y.max() < spec.n_clusters
    assert prepared.recipe["version"] >= 1 and prepared.recipe["preprocessor"] == spec.preprocessor
    if name == "reuters10k":
        assert prepared.X.shape[0] == spec.n_samples and isinstance(prepared.X, np.ndarray)
    if spec.source == "user":
        assert "--from" in spec.obtain


# ----------------------------------------------------------------------------------------- HAR


def _zip_text(path, member):
    with zipfile.ZipFile(path) as zf:
        return zf.read(member).decode()


def test_har_merges_train_then_test(tmp_path):
    files = write_har(tmp_path, n_train=12, n_test=6)
    p = har.har(files)
    assert p.X.shape == (18, 561) and p.X.dtype == np.float32
    assert p.y.dtype == np.int64 and set(p.y) == set(range(6))
    first_test = np.array(_zip_text(files["zip"], "UCI HAR Dataset/test/X_test.txt").splitlines()[0].split(), float)
    np.testing.assert_allclose(p.X[12], first_test, rtol=1e-6)
    y_test = np.array(_zip_text(files["zip"], "UCI HAR Dataset/test/y_test.txt").split(), int)
    assert np.array_equal(p.y[12:], y_test - 1)


def _rezip(src, dst, *, drop=(), change=None):
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst, "w") as b:
        for m in a.namelist():
            if m in drop:
                continue
            data = a.read(m)
            b.writestr(m, change(m, data) if change else data)
    return {"zip": dst}


def test_har_missing_member_is_a_data_error(tmp_path):
    src = write_har(tmp_path / "a")["zip"]
    files = _rezip(src, tmp_path / "b.zip", drop={"UCI HAR Dataset/test/y_test.txt"})
    with pytest.raises(DataError, match="y_test.txt"):
        har.har(files)


def test_har_wrong_column_count_is_a_data_error(tmp_path):
    src = write_har(tmp_path / "a", n_features=560)["zip"]
    with pytest.raises(DataError, match="560 columns"):
        har.har({"zip": src})

    def ragged(m, data):  # one row one value short
        if m != "UCI HAR Dataset/train/X_train.txt":
            return data
        lines = data.decode().splitlines(keepends=True)
        lines[3] = " ".join(lines[3].split()[:-1]) + "\n"
        return "".join(lines).encode()

    files = _rezip(write_har(tmp_path / "c")["zip"], tmp_path / "d.zip", change=ragged)
    with pytest.raises(DataError, match="numeric matrix"):
        har.har(files)


def test_har_truncated_zip_is_a_data_error(tmp_path):
    path = write_har(tmp_path)["zip"]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match="zip"):
        har.har({"zip": path})


# ----------------------------------------------------------------------------------- Pendigits


def test_pendigits_merge_and_scale(tmp_path):
    files = write_pendigits(tmp_path, n_train=20, n_test=10)
    p = pendigits.pendigits(files)
    assert p.X.shape == (30, 16) and p.X.dtype == np.float32 and p.y.dtype == np.int64
    raw = np.loadtxt(files["test"], delimiter=",")
    np.testing.assert_allclose(p.X[20:], raw[:, :16] / 100, rtol=1e-6)
    assert np.array_equal(p.y[20:], raw[:, 16].astype(int))
    assert p.X.min() == 0.0 and p.X.max() == 1.0


def test_pendigits_bad_files_are_data_errors(tmp_path):
    files = write_pendigits(tmp_path)
    files["test"].write_text("  1,  2,  3\n")
    with pytest.raises(DataError, match="3 columns"):
        pendigits.pendigits(files)
    files["test"].write_text("<html>not found</html>\n")
    with pytest.raises(DataError, match="comma-separated"):
        pendigits.pendigits(files)
    files["test"].write_text(",".join(["101"] * 16) + ",3\n")
    with pytest.raises(DataError, match="ranges"):
        pendigits.pendigits(files)


# ----------------------------------------------------------------------------------------- 10x


def test_tenx_log2_and_global_max(tmp_path):
    files = write_tenx(tmp_path, n_cells=40)
    p = tenx.tenx_73k(files)
    with zipfile.ZipFile(files["archive"]) as zf:
        import scipy.io

        M = scipy.io.mmread(io.BytesIO(zf.read("10x_73k/sub_set-720.mtx"))).toarray()
        raw = np.array(zf.read("10x_73k/labels.txt").split(), int)
    ref = np.log2(M + 1)
    ref /= ref.max()
    assert p.X.shape == (40, 720) and p.X.dtype == np.float32
    np.testing.assert_allclose(p.X, ref, rtol=1e-6)
    assert p.X.max() == 1.0
    lmap = {0: 0, 1: 1, 2: 2, 4: 3, 6: 4, 7: 5, 8: 6, 9: 7}
    assert np.array_equal(p.y, [lmap[v] for v in raw]) and set(p.y) == set(range(8))


def test_tenx_accepts_a_tar_gz_with_loose_files(tmp_path):
    z = write_tenx(tmp_path / "z", folder="")["archive"]
    tgz = tmp_path / "mine.tar.gz"
    with zipfile.ZipFile(z) as zf, tarfile.open(tgz, "w:gz") as tf:
        for m in zf.namelist():
            data = zf.read(m)
            info = tarfile.TarInfo(m)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    a = tenx.tenx_73k({"archive": tgz})
    b = tenx.tenx_73k({"archive": z})
    assert np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y)


def test_tenx_bad_inputs_are_data_errors(tmp_path):
    src = write_tenx(tmp_path / "a")["archive"]
    files = _rezip(src, tmp_path / "nolabels.zip", drop={"10x_73k/labels.txt"})
    with pytest.raises(DataError, match="labels.txt"):
        tenx.tenx_73k({"archive": files["zip"]})
    bad = _rezip(src, tmp_path / "lab3.zip", change=lambda m, d: b"3\n" * 40 if m.endswith("labels.txt") else d)
    with pytest.raises(DataError, match=r"labels \[3\]"):
        tenx.tenx_73k({"archive": bad["zip"]})
    short = _rezip(src, tmp_path / "short.zip", change=lambda m, d: b"0\n" * 39 if m.endswith("labels.txt") else d)
    with pytest.raises(DataError, match="40 rows but"):
        tenx.tenx_73k({"archive": short["zip"]})
    junk = tmp_path / "page.zip"
    junk.write_text("<html>Google Drive: virus scan warning</html>")
    with pytest.raises(DataError, match="neither a zip nor a tar"):
        tenx.tenx_73k({"archive": junk})
    notmm = _rezip(src, tmp_path / "notmm.zip", change=lambda m, d: b"1 2 3\n" if m.endswith(".mtx") else d)
    with pytest.raises(DataError, match="MatrixMarket"):
        tenx.tenx_73k({"archive": notmm["zip"]})


# ------------------------------------------------------------------------------------- Reuters

N_DOCS = 70


@pytest.fixture(scope="module")
def rfiles(tmp_path_factory):
    return write_reuters(tmp_path_factory.mktemp("reuters"), n_docs=N_DOCS)


@pytest.fixture(scope="module")
def rfull(rfiles):
    return reuters.reuters(rfiles)


def _dec_reference(files, *, max_features):
    """DEC's make_reuters_data on the fake with sklearn itself (dense; fine at this size)."""
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

    labels = reuters_expected_labels(N_DOCS)
    data, target = [], []
    for role in REUTERS_TOKEN_FILES:
        with gzip.open(files[role], "rt") as fh:
            did, doc = None, ""
            for line in list(fh) + [".I 0\n"]:  # sentinel flushes the last document
                if line.startswith(".I"):
                    if did is not None and did in labels:
                        data.append(doc)
                        target.append(labels[did])
                    did, doc = int(line.split()[1]), ""
                elif not line.startswith(".W"):
                    doc += line
    cv = CountVectorizer(max_features=max_features)
    X = TfidfTransformer(norm="l2", sublinear_tf=True).fit_transform(cv.fit_transform(data))
    X = X.toarray() * np.sqrt(X.shape[1])
    p = np.random.RandomState(1234).permutation(X.shape[0])
    vocab = sorted(cv.vocabulary_, key=cv.vocabulary_.get)
    return X[p], np.asarray(target)[p], vocab


def _tie_free_cut(files):
    """A vocabulary size at which the word counts of the fake have no tie at the cut."""
    from sklearn.feature_extraction.text import CountVectorizer

    labels = reuters_expected_labels(N_DOCS)
    docs = []
    for role in REUTERS_TOKEN_FILES:
        with gzip.open(files[role], "rt") as fh:
            for block in fh.read().split(".I ")[1:]:
                did, _, text = block.partition("\n.W\n")
                if int(did) in labels:
                    docs.append(text)
    tf = np.sort(np.asarray(CountVectorizer().fit_transform(docs).sum(0)).ravel())[::-1]
    return next(k for k in range(60, 5, -1) if tf[k - 1] > tf[k])


def test_reuters_is_sparse_float32_single_label(rfull):
    expected = reuters_expected_labels(N_DOCS)
    X, y = rfull.X, rfull.y
    assert sp.isspmatrix_csr(X) and X.dtype == np.float32
    assert X.shape == (len(expected), 2000)  # the fake has 2100 words: the cut is real
    assert rfull.recipe["vocabulary_size_before_cut"] == 2100
    assert rfull.recipe["documents_parsed"] == N_DOCS and rfull.recipe["documents_kept"] == len(expected)
    # undo the seed-1234 permutation: labels in file order (test_pt0..3, train), classes 0..3
    p = np.random.RandomState(1234).permutation(len(expected))
    unshuffled = np.empty_like(y)
    unshuffled[p] = y
    assert np.array_equal(unshuffled, list(expected.values()))
    assert set(y) == {0, 1, 2, 3}


def test_reuters_matches_dec_recipe_with_sklearn(rfiles):
    k = _tie_free_cut(rfiles)
    ours = reuters.reuters(rfiles, max_features=k)
    ref_X, ref_y, vocab = _dec_reference(rfiles, max_features=k)
    assert ours.recipe["tie_at_cutoff"] is False
    assert ours.X.shape == (len(ref_y), k)
    assert np.array_equal(ours.y, ref_y)
    np.testing.assert_allclose(ours.X.toarray(), ref_X, rtol=1e-5, atol=1e-5)
    import json

    assert json.loads(ours.attrs["vocabulary"]) == vocab


def test_reuters_rows_have_norm_sqrt_features(rfiles, rfull):
    norms = np.sqrt(np.asarray(rfull.X.multiply(rfull.X).sum(axis=1)).ravel())
    np.testing.assert_allclose(norms, np.sqrt(2000), rtol=1e-5)  # after DEC's x sqrt(2000)
    unscaled = reuters.reuters(rfiles, scale=1.0)
    n1 = np.sqrt(np.asarray(unscaled.X.multiply(unscaled.X).sum(axis=1)).ravel())
    np.testing.assert_allclose(n1, 1.0, rtol=1e-5)  # before: tf-idf rows are l2-normalised
    np.testing.assert_allclose(unscaled.X.toarray() * np.sqrt(2000), rfull.X.toarray(), rtol=1e-5)
    assert rfull.recipe["scale_factor"] == pytest.approx(np.sqrt(2000))


def test_reuters_ties_at_the_cut_go_alphabetically():
    terms = ["delta", "alpha", "charlie", "bravo"]
    totals = np.array([5.0, 2.0, 2.0, 2.0])
    ids, tie = reuters.select_vocabulary(terms, totals, max_features=2)
    assert tie and [terms[i] for i in ids] == ["alpha", "delta"]
    ids, tie = reuters.select_vocabulary(terms, totals, max_features=10)
    assert not tie and [terms[i] for i in ids] == ["alpha", "bravo", "charlie", "delta"]


def test_reuters_is_deterministic_and_10k_is_its_head(rfiles, rfull):
    again = reuters.reuters(rfiles)
    assert (again.X != rfull.X).nnz == 0 and np.array_equal(again.y, rfull.y)
    other = reuters.reuters(rfiles, seed=7)
    assert not np.array_equal(other.y, rfull.y) or (other.X != rfull.X).nnz > 0
    head = reuters.reuters(rfiles, first=10, dense=True)
    assert isinstance(head.X, np.ndarray) and head.X.shape == (10, 2000) and head.X.dtype == np.float32
    assert np.array_equal(head.X, rfull.X[:10].toarray()) and np.array_equal(head.y, rfull.y[:10])
    with pytest.raises(DataError, match="first 1000 rows"):
        reuters.reuters(rfiles, first=1000)


def test_reuters_round_trips_through_hdf5_sparse(rfull, tmp_path):
    write_dataset(tmp_path / "r.h5", rfull, name="reuters", n_clusters=4)
    X, y, info = read_dataset(tmp_path / "r.h5")
    assert info.sparse and sp.isspmatrix_csr(X) and (X != rfull.X).nnz == 0
    assert info.recipe["options"]["seed"] == 1234


def test_reuters_dec_drop_last_document(rfiles, rfull):
    # the fake's last document (last of the train file) is a single-label one
    dec = reuters.reuters(rfiles, drop_last_document=True)
    assert dec.X.shape[0] == rfull.X.shape[0] - 1
    assert dec.recipe["documents_parsed"] == N_DOCS - 1
    last_train_id = max(reuters_layout_ids_of_train())
    assert dec.recipe["document_dropped_as_dec"] == last_train_id
    assert rfull.recipe["document_dropped_as_dec"] is None


def reuters_layout_ids_of_train():
    from fakes_text import reuters_layout

    return [d["id"] for d in reuters_layout(N_DOCS) if d["role"] == "tokens-train"]


def _rewrite_gz(path, text):
    with gzip.open(path, "wt") as fh:
        fh.write(text)


@pytest.fixture
def rcopy(rfiles, tmp_path):
    out = {}
    for role, p in rfiles.items():
        out[role] = tmp_path / p.name
        out[role].write_bytes(p.read_bytes())
    return out


def test_reuters_truncated_gz_is_a_data_error(rcopy):
    p = rcopy["tokens-test-pt2"]
    p.write_bytes(p.read_bytes()[:-40])
    with pytest.raises(DataError, match="lyrl2004_tokens_test_pt2.dat.gz is corrupt or truncated"):
        reuters.reuters(rcopy)


def test_reuters_bad_gz_is_a_data_error(rcopy):
    rcopy["qrels"].write_bytes(b"<html>503 Service Unavailable</html>")
    with pytest.raises(DataError, match="rcv1-v2.topics.qrels.gz is corrupt"):
        reuters.reuters(rcopy)


def test_reuters_missing_documents_or_roles_are_data_errors(rcopy):
    _rewrite_gz(rcopy["tokens-test-pt1"], "")
    with pytest.raises(DataError, match="not in the token files"):
        reuters.reuters(rcopy)
    del rcopy["qrels"]
    with pytest.raises(DataError, match="qrels"):
        reuters.reuters(rcopy)


def test_reuters_malformed_lines_are_data_errors(rcopy, rfiles):
    _rewrite_gz(rcopy["qrels"], "CCAT 2286 1\nthis is not qrels\n")
    with pytest.raises(DataError, match="line 2 is not a qrels line"):
        reuters.reuters(rcopy)
    rcopy["qrels"].write_bytes(rfiles["qrels"].read_bytes())
    _rewrite_gz(rcopy["tokens-train"], "some words before any header\n.I 2286\n.W\nabc\n")
    with pytest.raises(DataError, match="text before the first '.I'"):
        reuters.reuters(rcopy)
    _rewrite_gz(rcopy["tokens-train"], ".I 2286\n.W\nabc def\n.W\n")
    with pytest.raises(DataError, match="'.W' outside"):
        reuters.reuters(rcopy)
