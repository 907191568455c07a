"""CPU thread caps: the in-process (``--jobs 1``) path caps BLAS/OpenMP/torch threads like a pool
worker is capped, and gives the caller's settings back afterwards."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info

from clusterbench.methods.base import Method, MethodOutput, one_hot
from clusterbench.results.records import iter_records
from clusterbench.runner import LocalExecutor, expand_grid
from clusterbench.runner import executors


@dataclass
class _Cfg:
    pass


class ReportsThreads(Method):
    """Records the thread settings it runs under."""

    name = "reportsthreads"
    Config = _Cfg

    def fit(self, X, n_clusters, *, seed, device="cpu", workdir=None, monitor=None):
        pools = {i["user_api"]: i["num_threads"] for i in threadpool_info()}
        return MethodOutput(proba=one_hot(np.arange(X.shape[0]) % n_clusters, n_clusters),
                            extras={"torch": torch.get_num_threads(), "pools": pools,
                                    "omp_env": os.environ.get("OMP_NUM_THREADS")})


def _blas_threads() -> dict[str, int]:
    return {i["user_api"]: i["num_threads"] for i in threadpool_info()}


@pytest.fixture
def two_threads():
    """torch and the BLAS/OpenMP pools at 2 threads (the tests run with OMP_NUM_THREADS=1)."""
    from threadpoolctl import threadpool_limits

    old = torch.get_num_threads()
    torch.set_num_threads(2)
    with threadpool_limits(2):
        yield
    torch.set_num_threads(old)


def test_capped_threads_caps_and_restores(monkeypatch, two_threads):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before_pools = _blas_threads()
    assert set(before_pools.values()) == {2}
    with executors.capped_threads(1):
        assert torch.get_num_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "1"
        assert set(_blas_threads().values()) == {1}
    assert torch.get_num_threads() == 2 and _blas_threads() == before_pools
    assert "OMP_NUM_THREADS" not in os.environ
    with executors.capped_threads(None):  # the user's OMP_NUM_THREADS: nothing changes
        assert torch.get_num_threads() == 2


def test_sequential_runs_get_the_one_worker_cap(monkeypatch, tmp_path, two_threads):
    from clusterbench.methods import METHODS

    monkeypatch.setitem(METHODS, "reportsthreads", ReportsThreads)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    # pretend the process may use 1 CPU (an affinity mask / Slurm CPU set): the cap is 1
    monkeypatch.setattr(executors, "usable_cpus", lambda: 1)
    specs = expand_grid(["reportsthreads"], ["digits"], subset=100)
    LocalExecutor(jobs=1).run(specs, tmp_path)
    (_, rec), = iter_records(tmp_path)
    assert rec.status == "ok", rec.error
    assert rec.extras["torch"] == 1 and rec.extras["omp_env"] == "1"
    assert set(rec.extras["pools"].values()) == {1}
    assert torch.get_num_threads() == 2 and set(_blas_threads().values()) == {2}  # given back after the grid
    # the user's OMP_NUM_THREADS wins (no cap)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert executors.threads_per_worker(1) is None
