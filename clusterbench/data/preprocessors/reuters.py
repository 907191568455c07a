"""RCV1-v2 (Reuters) with DEC's recipe: ``reuters`` (685,071 documents) and ``reuters10k``.

Raw files (JMLR, Lewis et al. 2004, appendices 8 and 12)::

    tokens-test-pt0 .. tokens-test-pt3, tokens-train   lyrl2004_tokens_*.dat.gz
    qrels                                                rcv1-v2.topics.qrels.gz

Token file format (one block per document; blank lines between blocks)::

    .I 2286
    .W
    mexico bank rate ...      <- any number of text lines (already lower-cased, stemmed tokens)

qrels format: ``CATEGORY DOCID 1`` per line.

The recipe is ``make_reuters_data`` of piiswrong/dec (``dec/dec.py``), re-implemented so that the
685k x 2000 matrix is never densified and the gz files are streamed:

1. qrels: keep the document ids that carry **exactly one** of CCAT, GCAT, MCAT, ECAT (a repeated
   qrels line counts twice, as in DEC); classes CCAT 0, GCAT 1, MCAT 2, ECAT 3.
2. Parse the token files in the order test_pt0, test_pt1, test_pt2, test_pt3, train (this order
   is the row order before the shuffle). The text of a document is every line after ``.W`` up to
   the next ``.I``.
3. Count words as ``CountVectorizer()`` does (lower-case, token pattern ``(?u)\\b\\w\\w+\\b``) over
   the kept documents and keep the ``max_features`` = 2000 most frequent words (total count over
   the corpus), columns in alphabetical order (as sklearn's).
4. tf-idf as ``TfidfTransformer(norm='l2', sublinear_tf=True)`` (smooth idf): ``1 + ln(tf)``
   times ``ln((1 + n) / (1 + df)) + 1``, rows l2-normalised; then multiplied by
   ``sqrt(n_features)`` = sqrt(2000), so every non-empty row has norm sqrt(2000).
5. ``np.random.seed(1234); p = np.random.permutation(N)``; rows and labels permuted by ``p``.
6. ``reuters10k``: the first 10,000 rows **after** the shuffle (DEC's ``reutersidf10k``;
   DEC-keras takes them before the shuffle, a different subset). The vocabulary and the idf are
   those of the full corpus.

Choices where DEC's code is not a specification:

* **The last document.** DEC appends a document when it meets the *next* ``.I`` line, so the
  last document of the last file (``train``) is never appended. DEC then asserts that the number
  of appended documents equals the number of single-label ids in the qrels; since DEC's published
  count (685,071) passed that assertion, the dropped document cannot have been a single-label one,
  and both behaviours give the same 685,071 rows on the real files. The default
  (``drop_last_document=False``) parses every document, which does not depend on that argument;
  ``drop_last_document=True`` reproduces DEC's parser literally.
* **Ties at the vocabulary cut.** sklearn ranks words with an *unstable* ``argsort`` of the
  counts, so which of several equally frequent words at rank 2000 survives depends on the numpy
  version and CPU. Here ties are broken alphabetically (stable sort over the alphabetically
  ordered vocabulary); the recipe records whether such a tie occurred (``tie_at_cutoff``).
* **Completeness.** As DEC asserts, every single-label id of the qrels must be found in the
  token files, once; a missing or repeated document means a truncated or wrong token file
  (``DataError``). Every file must start with a ``.I`` header (DEC would silently glue leading
  text to the previous file's last document).

Memory: the counts are accumulated per chunk of documents as int32 CSR pieces over the full
vocabulary, cut to the 2000 kept columns, and transformed in place; nothing is densified (except
the 10k subset when ``dense=True``). The peak is a few bytes per token of the corpus.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import re
import zlib
from array import array
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from clusterbench.data.hdf5 import Prepared
from clusterbench.data.registry import DatasetSpec
from clusterbench.errors import ConfigError, DataError

VERSION = 1

TOKEN_ROLES = ("tokens-test-pt0", "tokens-test-pt1", "tokens-test-pt2", "tokens-test-pt3", "tokens-train")
QRELS_ROLE = "qrels"
CATEGORIES = ("CCAT", "GCAT", "MCAT", "ECAT")  # class ids 0..3, DEC's cat_to_cid
TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # sklearn CountVectorizer's default
_CHUNK_DOCS = 20_000
_FIX = "Delete the raw files and run `clusterbench fetch {name} --force` to download them again."


# ---------------------------------------------------------------------------------------------
# small pure helpers
# ---------------------------------------------------------------------------------------------


def _gz_lines(path: Path, *, name: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` of a gzip text file, turning corruption into ``DataError``."""
    try:
        with gzip.open(path, "rb") as raw, io.TextIOWrapper(raw, encoding="utf-8") as fh:
            yield from enumerate(fh, start=1)
    except (gzip.BadGzipFile, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise DataError(
            f"The Reuters raw file {path.name} is corrupt or truncated ({type(exc).__name__}: {exc}).",
            hint=_FIX.format(name=name),
        ) from None


def read_qrels(path: Path, *, categories: tuple[str, ...] = CATEGORIES, name: str = "reuters") -> dict[int, int]:
    """Single-label documents of the qrels: ``{doc_id: class}`` with class = index in ``categories``.

    A document is kept when exactly one (category, doc) line among ``categories`` names it.
    """
    cat_index = {c: i for i, c in enumerate(categories)}
    seen: dict[int, list[int]] = defaultdict(list)
    n_lines = 0
    for lineno, line in _gz_lines(path, name=name):
        fields = line.split()
        if not fields:
            continue
        n_lines += 1
        if len(fields) < 2 or not fields[1].isdigit():
            raise DataError(
                f"{path.name} line {lineno} is not a qrels line 'CATEGORY DOCID 1': {line.strip()[:80]!r}.",
                hint=_FIX.format(name=name),
            )
        c = cat_index.get(fields[0])
        if c is not None:
            seen[int(fields[1])].append(c)
    if n_lines == 0:
        raise DataError(f"The qrels file {path.name} is empty.", hint=_FIX.format(name=name))
    return {did: cats[0] for did, cats in seen.items() if len(cats) == 1}


def iter_token_documents(
    paths: list[Path], *, drop_last_document: bool = False, dropped: list[int] | None = None, name: str = "reuters"
) -> Iterator[tuple[int, str]]:
    """Stream ``(doc_id, text)`` from LYRL2004 token files, in the order of ``paths``.

    ``drop_last_document=True`` skips the last document of the last file, as DEC's parser does;
    its id is appended to ``dropped`` when given.
    """
    pending: tuple[int, list[str]] | None = None
    for path in paths:
        in_text = header_seen = False
        for lineno, line in _gz_lines(path, name=name):
            if line.startswith(".I"):
                header_seen = True
                if pending is not None:
                    yield pending[0], "".join(pending[1])
                parts = line.split()
                if len(parts) != 2 or not parts[1].isdigit():
                    raise DataError(
                        f"{path.name} line {lineno}: expected '.I <doc id>', got {line.strip()[:80]!r}.",
                        hint=_FIX.format(name=name),
                    )
                pending = (int(parts[1]), [])
                in_text = False
            elif line.startswith(".W"):
                if not header_seen or pending[1] or in_text:
                    raise DataError(
                        f"{path.name} line {lineno}: '.W' outside a document header.",
                        hint=_FIX.format(name=name),
                    )
                in_text = True
            elif not header_seen:  # every file starts with a header (DEC would glue it to the last document)
                if line.strip():
                    raise DataError(
                        f"{path.name} line {lineno}: text before the first '.I' line; not a LYRL2004 token file.",
                        hint=_FIX.format(name=name),
                    )
            else:
                pending[1].append(line)
    if pending is not None:
        if not drop_last_document:
            yield pending[0], "".join(pending[1])
        elif dropped is not None:
            dropped.append(pending[0])


def _count_chunk(ids: array, lengths: list[int]) -> sp.csr_matrix:
    """CSR (n_docs x 2**31) of word counts from concatenated word ids and per-document lengths."""
    n = len(lengths)
    tok = np.frombuffer(ids, dtype=np.int32).astype(np.int64)
    rows = np.repeat(np.arange(n, dtype=np.int64), np.asarray(lengths, dtype=np.int64))
    keys, counts = np.unique((rows << 31) | tok, return_counts=True)
    r = (keys >> 31).astype(np.int64)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=n), out=indptr[1:])
    return sp.csr_matrix(
        (counts.astype(np.int32), (keys & 0x7FFFFFFF).astype(np.int32), indptr.astype(np.int32)),
        shape=(n, 2**31 - 1),
    )


def select_vocabulary(terms: list[str], totals: np.ndarray, *, max_features: int) -> tuple[np.ndarray, bool]:
    """Ids of the ``max_features`` most frequent words, in alphabetical order of the words.

    terms: (V,) words by id; totals: (V,) total count of each word. Ties at the cut are broken
    alphabetically. Returns ``(ids, tie_at_cutoff)``.
    """
    alpha = np.array(sorted(range(len(terms)), key=terms.__getitem__), dtype=np.int64)
    if max_features >= len(terms):
        return alpha, False
    t = totals[alpha]
    rank = np.argsort(-t, kind="stable")
    tie = bool(t[rank[max_features - 1]] == t[rank[max_features]])
    return alpha[np.sort(rank[:max_features])], tie


def tfidf_inplace(X: sp.csr_matrix, *, scale: float) -> np.ndarray:
    """``TfidfTransformer(norm='l2', sublinear_tf=True)`` then ``* scale``, in place on float64 ``X``.

    X: (N, D) counts as float64 CSR. Returns the idf (D,).
    """
    from sklearn.preprocessing import normalize

    n = X.shape[0]
    df = np.bincount(X.indices, minlength=X.shape[1]).astype(np.float64)
    idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
    np.log(X.data, out=X.data)
    X.data += 1.0
    X.data *= idf[X.indices]
    normalize(X, norm="l2", copy=False)
    X.data *= scale
    return idf


# ---------------------------------------------------------------------------------------------
# the preprocessor
# ---------------------------------------------------------------------------------------------


def reuters(
    files: dict[str, Path],
    *,
    spec: DatasetSpec | None = None,
    max_features: int = 2000,
    categories: list[str] | tuple[str, ...] = CATEGORIES,
    seed: int = 1234,
    scale: str | float = "sqrt_features",
    drop_last_document: bool = False,
    first: int | None = None,
    dense: bool = False,
) -> Prepared:
    """DEC's Reuters (see the module docstring for the recipe and the choices).

    files: roles ``tokens-test-pt0..3``, ``tokens-train`` and ``qrels`` (gzip files).
    max_features: vocabulary size (DEC: 2000). categories: the root topics, in class order.
    seed: seed of the legacy ``np.random.permutation`` (DEC: 1234).
    scale: ``"sqrt_features"`` (DEC: x sqrt(n_features)) or a number.
    drop_last_document: reproduce DEC's parser, which never appends the last document.
    first: keep only the first ``first`` rows after the shuffle (reuters10k: 10000).
    dense: return a dense array (only sensible with ``first``).

    Returns X: (N, max_features) float32 CSR (dense when ``dense``), y: (N,) int64 in 0..3.
    """
    name = getattr(spec, "name", "reuters")
    if max_features < 1:
        raise ConfigError(f"reuters: max_features must be >= 1, got {max_features}.")
    if not (scale == "sqrt_features" or isinstance(scale, (int, float))):
        raise ConfigError(f"reuters: scale must be 'sqrt_features' or a number, got {scale!r}.")
    if first is not None and first < 1:
        raise ConfigError(f"reuters: first must be a positive number of rows or omitted, got {first}.")
    missing = [r for r in (*TOKEN_ROLES, QRELS_ROLE) if r not in files]
    if missing:
        raise DataError(f"{name}: raw files missing for roles {missing}.", hint=_FIX.format(name=name))
    categories = tuple(categories)

    # 1. single-label documents of the qrels
    labels_of = read_qrels(Path(files[QRELS_ROLE]), categories=categories, name=name)

    # 2-3. stream the token files; count words per chunk of documents over the growing vocabulary
    token_re = re.compile(TOKEN_PATTERN)
    vocab: defaultdict[str, int] = defaultdict()
    vocab.default_factory = vocab.__len__  # a new word gets the next id
    word_id = vocab.__getitem__
    chunks: list[sp.csr_matrix] = []
    ids, lengths, y_list, found = array("i"), [], array("b"), set()
    n_parsed = 0
    dropped: list[int] = []

    def flush() -> None:
        nonlocal ids, lengths
        if lengths:
            chunks.append(_count_chunk(ids, lengths))
        ids, lengths = array("i"), []

    paths = [Path(files[r]) for r in TOKEN_ROLES]
    for did, text in iter_token_documents(paths, drop_last_document=drop_last_document, dropped=dropped, name=name):
        n_parsed += 1
        c = labels_of.get(did)
        if c is None:
            continue
        if did in found:
            raise DataError(f"{name}: document {did} occurs twice in the token files.", hint=_FIX.format(name=name))
        found.add(did)
        toks = token_re.findall(text.lower())
        ids.extend(map(word_id, toks))
        lengths.append(len(toks))
        y_list.append(c)
        if len(lengths) >= _CHUNK_DOCS:
            flush()
    flush()

    # DEC asserts len(data) == len(did_to_cat); the document DEC's parser drops is excused
    absent_ids = set(labels_of) - found - set(dropped)
    if absent_ids:
        absent = len(absent_ids)
        example = sorted(absent_ids)[:5]
        raise DataError(
            f"{name}: {absent} single-label documents of the qrels are not in the token files "
            f"(e.g. {example}); the token files are incomplete or not the LYRL2004 ones.",
            hint=_FIX.format(name=name),
        )
    if not found:
        raise DataError(f"{name}: no document of the token files has exactly one of {categories}.", hint=_FIX.format(name=name))
    del found, labels_of

    terms = list(vocab)
    V = len(terms)
    del vocab
    totals = np.zeros(V, dtype=np.float64)
    for ch in chunks:
        totals += np.bincount(ch.indices, weights=ch.data, minlength=V)
    kept, tie = select_vocabulary(terms, totals, max_features=max_features)
    D = len(kept)

    # cut every chunk to the kept columns (alphabetical order) and stack
    col = np.full(V, -1, dtype=np.int32)
    col[kept] = np.arange(D, dtype=np.int32)
    for i, ch in enumerate(chunks):
        new = col[ch.indices]
        keep = new >= 0
        kept_before = np.zeros(keep.size + 1, dtype=np.int64)  # kept entries before each position
        np.cumsum(keep, out=kept_before[1:])
        indptr = kept_before[ch.indptr]
        piece = sp.csr_matrix((ch.data[keep].astype(np.float64), new[keep], indptr), shape=(ch.shape[0], D))
        piece.sort_indices()
        chunks[i] = piece
    X = sp.vstack(chunks, format="csr") if len(chunks) > 1 else chunks[0]
    chunks.clear()  # free the pieces (a del would leave flush() above a dangling name)
    del col
    y = np.frombuffer(y_list, dtype=np.int8).astype(np.int64)
    N = X.shape[0]

    # 4. tf-idf (sklearn's formula, in place), x sqrt(n_features)
    factor = math.sqrt(D) if scale == "sqrt_features" else float(scale)
    tfidf_inplace(X, scale=factor)
    X = X.astype(np.float32)

    # 5. DEC's permutation (legacy RandomState == np.random.seed(seed); np.random.permutation)
    p = np.random.RandomState(seed).permutation(N)
    X, y = X[p], y[p]
    X.sort_indices()

    # 6. subset
    if first is not None:
        if first > N:
            raise DataError(f"{name}: asked for the first {first} rows but only {N} documents were built.", hint=_FIX.format(name=name))
        X, y = X[:first], y[:first]
    if dense:
        X = X.toarray()

    words = [terms[i] for i in kept]
    recipe = {
        "preprocessor": "reuters-dec",
        "version": VERSION,
        "source": "DEC make_reuters_data (piiswrong/dec dec/dec.py)",
        "options": {
            "max_features": max_features,
            "categories": list(categories),
            "seed": seed,
            "scale": scale,
            "drop_last_document": drop_last_document,
            "first": first,
            "dense": dense,
        },
        "token_pattern": TOKEN_PATTERN,
        "file_order": list(TOKEN_ROLES),
        "documents_parsed": n_parsed,
        "document_dropped_as_dec": dropped[0] if dropped else None,
        "documents_kept": int(N),
        "vocabulary_size_before_cut": V,
        "tie_at_cutoff": tie,
        "scale_factor": factor,
        "vocabulary_sha256": hashlib.sha256("\n".join(words).encode()).hexdigest(),
        "numpy_version": np.__version__,
    }
    return Prepared(
        X=X,
        y=y,
        recipe=recipe,
        attrs={"vocabulary": json.dumps(words)},
    )
