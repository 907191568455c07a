"""The committed records of the classical rows measured on real MNIST / Fashion-MNIST (issue 24,
``results/classical``) load and fill the cells of the papers' tables they were run for.

The records are data committed with the code: this test fails when a record no longer reads
(schema change), when a table spec stops matching them (a method, data set, metric or setting
renamed), or when a posterior file (``.h5``: data, not metrics) is committed beside them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clusterbench.report.render import fill_table, load_results
from clusterbench.report.spec import get_table

HOME = Path(__file__).resolve().parents[1] / "results" / "classical"

#: (paper, table) -> {(row label, column label)} that the committed records fill.
_MNIST_HASH = [f"MNIST {m} {b}" for m in ("precision@1000", "mAP", "mAP@1000") for b in (32, 64)]
_FOUR = ("MNIST ACC", "MNIST NMI", "Fashion-10 ACC", "Fashion-10 NMI")
EXPECTED: dict[tuple[str, str], set[tuple[str, str]]] = {
    ("dual-aae", "I"): {("K-means", "MNIST"), ("N-Cuts", "MNIST"), ("GMM", "MNIST")},
    ("dls", "3"): {(r, c) for r in ("K-means [30]", "NMF [27]", "SC [39]", "AGGLO [50]") for c in _FOUR},
    ("dc3", "4"): {(r, c) for r in ("K-means", "NMF") for c in _FOUR},
    ("clustergan-bspl", "2"): {(r, c) for r in ("K-means", "N-Cuts [42]") for c in ("MNIST NMI", "MNIST ACC")},
    ("clustergan-bspl", "3"): {(r, c) for r in ("LSH [17]", "PCAH [45]", "ITQ [18]", "SpeH [48]", "SphH [21]", "KMH [20]")
                               for c in _MNIST_HASH},
}


def _measured(paper: str, table: str) -> dict[tuple[str, str], object]:
    spec = get_table(paper, table)
    t = fill_table(spec, load_results(HOME))
    return {(spec.rows[c.spec.row]["label"], spec.columns[c.spec.col]["label"]): c
            for row in t.cells for c in row if c.status == "measured"}


def test_only_metrics_and_configs_are_committed():
    files = [p for p in HOME.rglob("*") if p.is_file() and p.name != "README.md"]
    assert files and all(p.suffix == ".json" for p in files), [p.name for p in files if p.suffix != ".json"]
    for p in files:
        r = json.loads(p.read_text())
        assert r["status"] == "ok" and r["dataset"] in ("mnist", "fashion-mnist") and r["subset"] is None
        assert p.parent.name == r["dataset"] and p.stem == r["key"]


@pytest.mark.parametrize(("paper", "table"), sorted(EXPECTED))
def test_committed_records_fill_the_classical_cells(paper, table):
    cells = _measured(paper, table)
    missing = EXPECTED[(paper, table)] - set(cells)
    assert not missing, f"cells no longer filled by results/classical: {sorted(missing)}"
    for key in EXPECTED[(paper, table)]:
        c = cells[key]
        assert c.n >= 1 and c.value is not None and c.diff is not None
        assert 0 < c.value <= (100 if get_table(paper, table).scale == 100 else 1)


def test_a_cell_aggregates_its_tables_number_of_seeds():
    """K-means on MNIST has 10 committed seeds (Dual-AAE Table I: mean over 10); DLS Table 3 takes
    the best of 5 and BSPL Table 2 the mean of 5: seeds 0-4, never the best of all 10."""
    import numpy as np

    recs = [json.loads(p.read_text()) for p in (HOME / "kmeans" / "mnist").glob("*.json")]
    acc = {r["seed"]: r["metrics"]["acc"] for r in recs}
    assert sorted(acc) == list(range(10))
    dual = _measured("dual-aae", "I")[("K-means", "MNIST")]
    assert dual.n == 10 and dual.value == pytest.approx(100 * np.mean(list(acc.values())))
    dls = _measured("dls", "3")[("K-means [30]", "MNIST ACC")]
    assert dls.n == 5 and dls.seeds == [0, 1, 2, 3, 4]
    assert dls.value == pytest.approx(max(acc[s] for s in range(5)))
    bspl = _measured("clustergan-bspl", "2")[("K-means", "MNIST ACC")]
    assert bspl.n == 5 and bspl.value == pytest.approx(np.mean([acc[s] for s in range(5)]))
