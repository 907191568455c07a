"""Small raw files in the REAL formats of the non-image data sets, for tests.

Each writer takes a directory, writes the files under the names of the data set's ``[[files]]``
in ``datasets.toml`` and returns ``{role: path}``. ``FAKE_TEXT`` maps data set name -> writer.
Contents are synthetic (no real data is shipped): random features / counts and a random
vocabulary, with the quirks the real files have (``__MACOSX`` entries in the HAR zip, multi-label
and label-less documents in the Reuters qrels, padded integers in Pendigits, a folder inside the
10x archive).
"""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.io
import scipy.sparse as sp

# ----------------------------------------------------------------------------------------- HAR

HAR_ZIP = "UCI HAR Dataset.zip"


def write_har(d: Path, *, n_train: int = 12, n_test: int = 6, n_features: int = 561, seed: int = 0) -> dict[str, Path]:
    """``UCI HAR Dataset.zip`` with the real member paths; labels 1..6 cycling."""
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    path = d / HAR_ZIP
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("UCI HAR Dataset/README.txt", "Human Activity Recognition Using Smartphones (fake)\n")
        for split, n in (("train", n_train), ("test", n_test)):
            X = rng.uniform(-1, 1, size=(n, n_features))
            y = (np.arange(n) % 6) + 1
            text = "".join(" " + " ".join(f"{v: .7e}" for v in row) + "\n" for row in X)
            zf.writestr(f"UCI HAR Dataset/{split}/X_{split}.txt", text)
            zf.writestr(f"UCI HAR Dataset/{split}/y_{split}.txt", "".join(f"{v}\n" for v in y))
        zf.writestr("__MACOSX/UCI HAR Dataset/train/._X_train.txt", b"\x00\x05\x16\x07junk")
    return {"zip": path}


# ------------------------------------------------------------------------------------- Reuters

REUTERS_TOKEN_FILES = {
    "tokens-test-pt0": "lyrl2004_tokens_test_pt0.dat.gz",
    "tokens-test-pt1": "lyrl2004_tokens_test_pt1.dat.gz",
    "tokens-test-pt2": "lyrl2004_tokens_test_pt2.dat.gz",
    "tokens-test-pt3": "lyrl2004_tokens_test_pt3.dat.gz",
    "tokens-train": "lyrl2004_tokens_train.dat.gz",
}
REUTERS_QRELS = "rcv1-v2.topics.qrels.gz"
_TARGETS = ("CCAT", "GCAT", "MCAT", "ECAT")
_OTHERS = ("C15", "C151", "E11", "GDIP", "M14", "GSPO")


def fake_words(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct lower-case pseudo-words (3..9 letters)."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    out: set[str] = set()
    words: list[str] = []
    while len(words) < n:
        w = "".join(rng.choice(letters, size=int(rng.integers(3, 10))))
        if w not in out:
            out.add(w)
            words.append(w)
    return words


def reuters_layout(n_docs: int, *, seed: int = 0) -> list[dict]:
    """The fake corpus: per document its id, file role and qrels categories.

    Kinds cycle so that every class occurs: single target (+ non-target topics), two targets,
    no target. Train ids are the smallest, as in RCV1-v2 (train 2286..26150, test after).
    """
    rng = np.random.default_rng(seed)
    docs = []
    roles = list(REUTERS_TOKEN_FILES)
    n_train = max(1, n_docs // 6)
    for i in range(n_docs):
        role = "tokens-train" if i < n_train else roles[(i - n_train) * 4 // max(1, n_docs - n_train)]
        kind = i % 7
        if kind == 5:
            cats = [_TARGETS[i % 4], _TARGETS[(i + 1) % 4]]  # two targets: dropped
        elif kind == 6:
            cats = [_OTHERS[i % len(_OTHERS)]]  # no target: dropped
        else:
            cats = [_TARGETS[(i // 7 + kind) % 4]]
        cats += list(rng.choice(_OTHERS, size=int(rng.integers(0, 3)), replace=False))
        docs.append({"id": 2286 + i, "role": role, "cats": cats})
    return docs


def write_reuters(
    d: Path,
    *,
    n_docs: int = 70,
    n_words: int = 2100,
    doc_len: tuple[int, int] = (60, 120),
    seed: int = 0,
) -> dict[str, Path]:
    """Five LYRL2004 token files (.dat.gz) and the topics qrels (.gz).

    Every word of the ``n_words`` vocabulary occurs at least once (so the 2000-word cut is real)
    and word frequencies are Zipf-like; documents also hold one-letter tokens, which
    CountVectorizer's pattern ignores. Each document is wrapped over several lines.
    """
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    words = fake_words(n_words, seed)
    p = 1.0 / np.arange(1, n_words + 1) ** 1.1
    p /= p.sum()
    docs = reuters_layout(n_docs, seed=seed)
    single = [i for i, doc in enumerate(docs) if sum(c in _TARGETS for c in doc["cats"]) == 1]
    per_doc = -(-n_words // len(single))  # ceil: every word occurs in some kept document
    slot = {i: k for k, i in enumerate(single)}
    texts: dict[str, list[str]] = {r: [] for r in REUTERS_TOKEN_FILES}
    for i, doc in enumerate(docs):
        n = int(rng.integers(*doc_len))
        toks = [words[j] for j in rng.choice(n_words, size=n, p=p)]
        if i in slot:
            toks += words[slot[i] * per_doc:(slot[i] + 1) * per_doc]
        toks += ["x"] * int(rng.integers(0, 3))
        rng.shuffle(toks)
        lines = [" ".join(toks[k:k + 12]) for k in range(0, len(toks), 12)]
        texts[doc["role"]].append(f".I {doc['id']}\n.W\n" + "\n".join(lines) + "\n\n")
    out: dict[str, Path] = {}
    for role, fname in REUTERS_TOKEN_FILES.items():
        path = d / fname
        with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as fh:
            fh.write("".join(texts[role]))
        out[role] = path
    path = d / REUTERS_QRELS
    with gzip.open(path, "wt", encoding="ascii") as fh:
        for doc in sorted(docs, key=lambda x: x["id"]):
            for c in doc["cats"]:
                fh.write(f"{c} {doc['id']} 1\n")
    out["qrels"] = path
    return out


def reuters_expected_labels(n_docs: int, *, seed: int = 0) -> dict[int, int]:
    """{doc id: class} of the single-target documents of the fake, in file-parse order."""
    docs = reuters_layout(n_docs, seed=seed)
    order = {r: k for k, r in enumerate(REUTERS_TOKEN_FILES)}
    res = {}
    for doc in sorted(docs, key=lambda x: order[x["role"]]):  # stable: ids ascending per file
        t = [c for c in doc["cats"] if c in _TARGETS]
        if len(t) == 1:
            res[doc["id"]] = _TARGETS.index(t[0])
    return res


def write_reuters10k(d: Path) -> dict[str, Path]:
    """Enough short documents (> 10,000 single-label ones) for the registry's ``first = 10000``."""
    return write_reuters(d, n_docs=14_200, n_words=2100, doc_len=(3, 8))


# ----------------------------------------------------------------------------------- Pendigits


def write_pendigits(d: Path, *, n_train: int = 20, n_test: int = 10, seed: int = 0) -> dict[str, Path]:
    """``pendigits.tra`` / ``pendigits.tes``: 16 integers 0..100 then the digit, as UCI pads them."""
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for role, fname, n in (("train", "pendigits.tra", n_train), ("test", "pendigits.tes", n_test)):
        X = rng.integers(0, 101, size=(n, 16))
        X[0, 0], X[0, 1] = 0, 100
        y = np.arange(n) % 10
        path = d / fname
        path.write_text("".join(",".join(f"{v:4d}" for v in row) + f",{c:4d}\n" for row, c in zip(X, y)))
        out[role] = path
    return out


# ---------------------------------------------------------------------------------------- 10x

TENX_ARCHIVE = "10x_73k.zip"
TENX_RAW_LABELS = (0, 1, 2, 4, 6, 7, 8, 9)


def write_tenx(d: Path, *, n_cells: int = 40, n_genes: int = 720, seed: int = 0, folder: str = "10x_73k/") -> dict[str, Path]:
    """``10x_73k.zip`` holding ``10x_73k/sub_set-720.mtx`` (integer counts) and ``labels.txt``."""
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    M = sp.random(n_cells, n_genes, density=0.1, random_state=seed, data_rvs=lambda k: rng.integers(1, 50, size=k))
    buf = io.BytesIO()
    scipy.io.mmwrite(buf, M.tocoo(), field="integer")
    labels = [TENX_RAW_LABELS[i % 8] for i in range(n_cells)]
    path = d / TENX_ARCHIVE
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{folder}sub_set-720.mtx", buf.getvalue())
        zf.writestr(f"{folder}labels.txt", "".join(f"{v}\n" for v in labels))
    return {"archive": path}


FAKE_TEXT: dict[str, Callable[[Path], dict[str, Path]]] = {
    "hhar": write_har,
    "reuters": write_reuters,
    "reuters10k": write_reuters10k,
    "pendigits": write_pendigits,
    "10x_73k": write_tenx,
}
