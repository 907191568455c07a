"""Executors: run a list of specs and report each finished run to a callback.

* :class:`LocalExecutor` — ``jobs=1``: sequential, in this process (easiest to debug, per-epoch
  progress); ``jobs>1``: a ``concurrent.futures`` process pool (spawn context), one run per task,
  each worker pinned to one GPU through ``CUDA_VISIBLE_DEVICES`` when GPUs are used.
* :class:`SlurmExecutor` — one submitit job array (``map_array``); every job writes its own record
  to the results home; the parent waits (with progress) or returns right after submission.

Every executor reports finished runs as the dicts of :func:`clusterbench.runner.execute.summary`.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import multiprocessing.connection as mp_connection
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

from clusterbench import paths
from clusterbench.errors import ClusterbenchError, ConfigError, DataError
from clusterbench.results.records import (RunRecord, artifacts_dir, has_ok_record, read_record, record_path,
                                          write_record)
from clusterbench.runner.execute import EpochCallback, execute_run, run_job, summary
from clusterbench.runner.spec import RunSpec
from clusterbench.runtime import resolve_device

OnStart = Callable[[RunSpec], None]
OnDone = Callable[[dict[str, Any]], None]
OnEpoch = Callable[[RunSpec, dict[str, float]], None]


def _job_env() -> dict[str, str]:
    """The environment a worker or job needs to find the same data and results homes."""
    env = {"CLUSTERBENCH_HOME": str(paths.home())}
    if os.environ.get("CLUSTERBENCH_RESULTS"):
        env["CLUSTERBENCH_RESULTS"] = os.environ["CLUSTERBENCH_RESULTS"]
    return env


def write_failed(spec: RunSpec, results_home: Path, reason: str) -> dict[str, Any]:
    """Record a run that died outside :func:`execute_run` (worker killed, Slurm job failed).
    An ok record of the run (written just before the worker died) is never replaced
    (``records.write_record`` puts the failure beside it)."""
    rec = RunRecord(
        key=spec.key, method=spec.method, dataset=spec.dataset, seed=spec.seed, status="failed",
        config=spec.config, dataset_checksum=spec.dataset_checksum, subset=spec.subset,
        code_version=spec.code_version, error=reason, schedule=spec.schedule,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    write_record(results_home, rec)
    return summary(rec)


# --- GPU assignment -------------------------------------------------------------------------


def visible_gpus(environ: dict[str, str] | None = None, device_count: int | None = None) -> list[str]:
    """The GPU ids this process may use: ``CUDA_VISIBLE_DEVICES`` when set, else 0..count-1."""
    environ = os.environ if environ is None else environ
    cvd = environ.get("CUDA_VISIBLE_DEVICES")
    if cvd is not None:
        return [g.strip() for g in cvd.split(",") if g.strip() and g.strip() != "-1"]
    if device_count is None:
        try:
            import torch

            device_count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        except ImportError:
            device_count = 0
    return [str(i) for i in range(device_count)]


def assign_gpus(n_workers: int, gpus: list[str]) -> list[str | None]:
    """``CUDA_VISIBLE_DEVICES`` value of each of ``n_workers`` pool workers.

    One GPU per worker, round robin: worker i gets ``gpus[i % len(gpus)]`` (with more workers than
    GPUs, workers share GPUs evenly). No GPUs -> ``None`` for every worker (leave the variable).
    """
    if n_workers < 1:
        raise ValueError("n_workers must be >= 1")
    if not gpus:
        return [None] * n_workers
    return [gpus[i % len(gpus)] for i in range(n_workers)]


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask where the OS has one (a Slurm or container
    CPU set), else ``os.cpu_count()``."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def threads_per_worker(n_workers: int, cpus: int | None = None, environ: dict[str, str] | None = None) -> int | None:
    """CPU threads (OpenMP/BLAS/torch) for each of ``n_workers`` runs side by side:
    ``cpus // n_workers`` (at least 1; ``cpus`` default :func:`usable_cpus`), so J workers do not
    each start one thread per core and oversubscribe the machine (spin-waiting OpenMP threads
    slowed scikit-learn's KMeans 10x on a loaded 2-core machine). ``n_workers=1`` is the
    sequential in-process path. None when the user set ``OMP_NUM_THREADS`` (theirs is kept)."""
    environ = os.environ if environ is None else environ
    if environ.get("OMP_NUM_THREADS"):
        return None
    return max(1, (cpus or usable_cpus()) // n_workers)


_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def capped_threads(threads: int | None) -> Iterator[None]:
    """Cap CPU threads to ``threads`` inside the block and restore them afterwards: the env vars
    (for libraries loaded later), threadpoolctl (BLAS/OpenMP pools already loaded, e.g.
    scikit-learn's) and ``torch.set_num_threads`` (torch's intra-op pool, when torch is loaded).
    ``None``: no change. The pool workers use the same caps (:func:`_apply_worker_settings`, never restored:
    the process is the worker's)."""
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency; imported only here

    saved_env = {v: os.environ.get(v) for v in _THREAD_VARS}
    torch = sys.modules.get("torch")  # not imported for that: a run that needs it imports it
    saved_torch = torch.get_num_threads() if torch is not None else None
    for v in _THREAD_VARS:
        os.environ[v] = str(threads)
    try:
        with threadpool_limits(threads):
            if torch is not None:
                torch.set_num_threads(threads)
            yield
    finally:
        for v, old in saved_env.items():
            if old is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old
        if torch is not None and saved_torch is not None:
            torch.set_num_threads(saved_torch)
        # torch first imported inside the block read the capped env at import and keeps the cap:
        # there is no earlier value of its own to restore


def _apply_worker_settings(gpu: str | None, threads: int | None) -> None:
    """In a pool worker, before torch initialises CUDA: its GPU, and its CPU threads capped for
    the life of the worker (:func:`capped_threads`, entered, never left)."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    _WORKER_CAP.enter_context(capped_threads(threads))


#: Holds a pool worker's thread cap open for the life of the process.
_WORKER_CAP = contextlib.ExitStack()


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _worker_main(conn: Any, gpu: str | None, threads: int | None) -> None:
    """A pool worker: run the tasks the parent sends, one at a time, answering each with
    ``("done", summary)`` or ``("error", reason)``; ``None`` ends it.

    Ctrl-C (SIGINT, sent to the whole terminal process group) is ignored: the parent decides. The
    parent stops a worker with SIGTERM, raised here as KeyboardInterrupt so the run unwinds (its
    temporary files are removed and no record is written).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    _apply_worker_settings(gpu, threads)
    while True:
        try:
            task = conn.recv()
            if task is None:
                return
            try:
                msg: tuple[str, Any] = ("done", run_job(*task))
            except ClusterbenchError as exc:  # e.g. the disk is full: the grid stops with this message
                msg = ("fatal", (type(exc).__name__, exc.message, exc.hint))
            except Exception as exc:  # outside execute_run (e.g. the method cannot be imported)
                msg = ("error", f"{type(exc).__name__}: {exc}")
            conn.send(msg)
        except (KeyboardInterrupt, EOFError, OSError):
            return


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "unknown exit status"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class _Worker:
    """One spawned worker process, its pipe, and the spec it is running (None when idle)."""

    def __init__(self, ctx: Any, gpu: str | None, threads: int | None) -> None:
        self.gpu = gpu
        self.conn, child = ctx.Pipe()
        # not a daemon: a run may start its own processes (joblib); a worker whose parent died
        # sees its pipe close and exits
        self.proc = ctx.Process(target=_worker_main, args=(child, gpu, threads), daemon=False)
        self.proc.start()
        child.close()
        self.spec: RunSpec | None = None
        self.started = 0.0  # time.time() when the current spec was handed over

    def stop(self, grace_s: float) -> None:
        """Ask to stop (SIGTERM = KeyboardInterrupt in the worker), then kill after ``grace_s``."""
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(grace_s)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        self.conn.close()


# --- local ----------------------------------------------------------------------------------


@dataclass
class LocalExecutor:
    """Sequential in-process runs (``jobs=1``) or ``jobs`` spawned worker processes.

    The pool is ours rather than ``concurrent.futures``' so each run is tied to its worker: a
    worker that dies (OOM kill, segfault) fails only the run it was running (its record says how
    the worker ended), a fresh worker replaces it and the runs that had not started are handed
    out as before; a failure never replaces an ok record (``records.write_record``). Ctrl-C stops
    every worker at once (SIGTERM, then SIGKILL after ``stop_grace_s``): runs in progress leave
    nothing behind and no queued run starts.
    """

    jobs: int = 1
    use_gpus: bool = False
    stop_grace_s: float = 5.0
    waits: ClassVar[bool] = True  # run() returns when every run has finished

    @classmethod
    def for_device(cls, jobs: int, device: str) -> "LocalExecutor":
        """An executor for ``device`` (auto | cpu | cuda): ``cuda`` without a GPU is a ConfigError
        here, before anything runs; with GPUs each pool worker gets one."""
        return cls(jobs=jobs, use_gpus=resolve_device(device) == "cuda")

    def run(
        self, specs: list[RunSpec], results_home: Path, *, on_start: OnStart | None = None,
        on_done: OnDone | None = None, on_epoch: OnEpoch | None = None,
    ) -> None:
        if self.jobs < 1:
            raise ConfigError(f"--jobs must be at least 1, got {self.jobs}.")
        if self.jobs == 1 or len(specs) <= 1:
            # in this process, with the threads a single pool worker would get (restored after)
            with capped_threads(threads_per_worker(1)):
                for spec in specs:
                    if on_start:
                        on_start(spec)
                    cb: EpochCallback | None = (lambda m, s=spec: on_epoch(s, m)) if on_epoch else None
                    rec = execute_run(spec, results_home, on_epoch=cb)
                    if on_done:
                        on_done(summary(rec))
            return
        self._pool(specs, results_home, on_start=on_start, on_done=on_done)

    def _pool(self, specs: list[RunSpec], results_home: Path, *, on_start: OnStart | None, on_done: OnDone | None) -> None:
        n = min(self.jobs, len(specs))
        ctx = mp.get_context("spawn")
        threads = threads_per_worker(n)
        env, sys_path = _job_env(), list(sys.path)
        queue = list(specs)  # runs not started yet, in order
        workers: list[_Worker] = []
        try:
            for gpu in assign_gpus(n, visible_gpus() if self.use_gpus else []):
                workers.append(_Worker(ctx, gpu, threads))
            while True:
                for w in workers:
                    if w.spec is None and queue:
                        w.spec, w.started = queue.pop(0), time.time()
                        w.conn.send((w.spec.to_dict(), str(results_home), env, sys_path))
                        if on_start:
                            on_start(w.spec)
                busy = [w for w in workers if w.spec is not None]
                if not busy:
                    break
                mp_connection.wait([w.conn for w in busy] + [w.proc.sentinel for w in busy])
                for i, w in enumerate(workers):
                    if w.spec is None:
                        continue
                    msg = None
                    try:
                        if w.conn.poll():
                            msg = w.conn.recv()
                        elif w.proc.is_alive():
                            continue  # still running
                    except (EOFError, OSError):
                        msg = None
                    spec, w.spec = w.spec, None
                    if msg is None:  # the worker died with this run: fail it alone, replace the worker
                        w.proc.join(5)
                        path = record_path(results_home, spec.method, spec.dataset, spec.key)
                        if has_ok_record(path) and path.stat().st_mtime >= w.started:
                            res = summary(read_record(path))  # it died after recording the run
                        else:
                            res = write_failed(spec, results_home, f"the worker process running it died "
                                               f"({_exit_reason(w.proc.exitcode)}); an out-of-memory kill is the usual cause")
                        w.stop(0)
                        workers[i] = _Worker(ctx, w.gpu, threads)
                    elif msg[0] == "done":
                        res = msg[1]
                    elif msg[0] == "fatal":  # a user-fixable condition (disk full) stops the grid
                        name, message, hint = msg[1]
                        raise (ConfigError if name == "ConfigError" else DataError)(message, hint=hint)
                    else:
                        res = write_failed(spec, results_home, msg[1])
                    if on_done:
                        on_done(res)
        except BaseException:
            for w in workers:  # Ctrl-C or a bug here: stop every worker now (SIGTERM to all first)
                if w.proc.is_alive():
                    w.proc.terminate()
            for w in workers:
                w.stop(self.stop_grace_s)
            raise
        for w in workers:
            with contextlib.suppress(OSError):
                w.conn.send(None)
        for w in workers:
            w.proc.join(self.stop_grace_s)
            w.stop(0)


def records_written_since(specs: list[RunSpec], results_home: Path, since: float) -> list[RunSpec]:
    """The specs whose record file was (re)written at or after ``since`` (a ``time.time()``):
    what a grid interrupted at any moment actually kept."""
    out = []
    for s in specs:
        try:
            if record_path(results_home, s.method, s.dataset, s.key).stat().st_mtime >= since:
                out.append(s)
        except OSError:
            continue
    return out


def checkpoints_kept(specs: list[RunSpec], results_home: Path) -> list[tuple[RunSpec, Path]]:
    """The specs (of runs without a record) whose folder holds a training checkpoint: what an
    interrupted deep run kept (the next run of the same command resumes from it)."""
    from clusterbench.training.checkpoints import CHECKPOINT_NAME  # the loop's file name (lazy: torch)

    out = []
    for s in specs:
        rec = record_path(results_home, s.method, s.dataset, s.key)
        ckpt = artifacts_dir(rec) / CHECKPOINT_NAME
        if not has_ok_record(rec) and ckpt.is_file():
            out.append((s, ckpt))
    return out


# --- Slurm ----------------------------------------------------------------------------------


def parse_time_minutes(value: str | int) -> int:
    """Slurm-style time limit -> minutes: ``90``, ``"1:30:00"``, ``"2-00:00:00"``, ``"45m"``, ``"2h"``."""
    s = str(value).strip()
    m = re.fullmatch(r"(\d+)\s*([mh]?)", s)
    if m:
        return int(m.group(1)) * (60 if m.group(2) == "h" else 1)
    m = re.fullmatch(r"(?:(\d+)-)?(\d+):(\d{2})(?::(\d{2}))?", s)
    if m:
        days, a, b, c = (int(x) if x else 0 for x in m.groups())
        h, mi, sec = (a, b, c) if m.group(4) is not None else (0, a, b)
        return max(1, days * 1440 + h * 60 + mi + (1 if sec else 0))
    raise ConfigError(f"--time {value!r} is not a time limit.", hint="Use minutes (90), H:MM:SS (1:30:00), D-HH:MM:SS, 45m or 2h.")


def parse_mem_gb(value: str | int | float) -> float:
    """Memory -> GB: ``16``, ``"16G"``, ``"16000M"``, ``"1T"``."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([MGT]?)B?", str(value).strip(), flags=re.I)
    if not m:
        raise ConfigError(f"--mem {value!r} is not a memory size.", hint="Use e.g. 16G, 16000M or 16 (GB).")
    x = float(m.group(1))
    return {"": x, "G": x, "M": x / 1024, "T": x * 1024}[m.group(2).upper()]


def _queued_ids() -> set[str] | None:
    """Ids of the jobs (one per array task, ``123_4``) Slurm still lists; None if squeue fails."""
    import subprocess

    try:
        r = subprocess.run(["squeue", "-h", "-r", "-o", "%i"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return set(r.stdout.split()) if r.returncode == 0 else None


def _log_tail(job: Any, n: int = 3) -> str:
    try:
        lines = [ln for ln in Path(job.paths.stderr).read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return ("; stderr: " + " | ".join(lines[-n:])) if lines else ""


@dataclass
class SlurmExecutor:
    """One submitit job array per grid; each job runs one spec and writes its record.

    The jobs read the data from ``$CLUSTERBENCH_HOME`` and write records to the results home of
    the submitting process (both passed to the job), so both must be on a file system the compute
    nodes share; otherwise give ``--results`` a shared folder, or merge homes later
    (``clusterbench merge``). The jobs run this interpreter (``sys.executable``) with this
    checkout on ``PYTHONPATH``. Submitit's logs and pickles go to ``<results>/.slurm/``.
    """

    partition: str | None = None
    time: str = "60"
    gpus: int = 0
    cpus: int = 1
    mem: str | None = None
    wait: bool = True
    poll_s: float = 2.0
    vanish_grace_s: float = 10.0
    folder: Path | None = None
    job_ids: list[str] = field(default_factory=list)
    submit_folder: Path | None = None

    @property
    def waits(self) -> bool:
        """False with ``wait=False`` (``--no-wait``): ``run`` returns after submission."""
        return self.wait

    def _executor(self, results_home: Path, n: int):
        try:
            import submitit
        except ImportError:
            raise ConfigError(
                "--executor slurm needs the submitit package, which is not installed.",
                hint="Install it with `pip install 'clusterbench[slurm]'`.",
            ) from None
        if shutil.which("sbatch") is None:
            raise ConfigError(
                "--executor slurm needs Slurm's `sbatch` on PATH, and it is not there.",
                hint="Run on a Slurm login node, or use --executor local.",
            )
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        folder = Path(self.folder) if self.folder else Path(results_home) / ".slurm" / f"{stamp}-{os.getpid()}"
        ex = submitit.AutoExecutor(folder=folder / "%j", cluster="slurm")
        params: dict[str, Any] = {
            "timeout_min": parse_time_minutes(self.time),
            "cpus_per_task": int(self.cpus),
            "slurm_array_parallelism": max(1, n),
            "name": "clusterbench",
        }
        if self.partition:
            params["slurm_partition"] = self.partition
        if self.gpus:
            params["gpus_per_node"] = int(self.gpus)
        if self.mem:
            params["mem_gb"] = parse_mem_gb(self.mem)
        setup = []
        root = paths.repo_root()
        if root is not None:  # jobs import this checkout's clusterbench
            setup.append(f'export PYTHONPATH="{root}${{PYTHONPATH:+:$PYTHONPATH}}"')
        if not os.environ.get("OMP_NUM_THREADS"):  # as many CPU threads as CPUs allocated
            setup.append(f"export OMP_NUM_THREADS={int(self.cpus)}")
        params["slurm_setup"] = setup
        ex.update_parameters(**params)
        self.submit_folder = folder
        return ex

    def run(
        self, specs: list[RunSpec], results_home: Path, *, on_start: OnStart | None = None,
        on_done: OnDone | None = None, on_epoch: OnEpoch | None = None,
    ) -> None:
        if not specs:
            return
        jobs = self.submit(specs, results_home)
        if on_start:
            for s in specs:
                on_start(s)
        if not self.wait:
            return
        self.wait_for(dict(zip(jobs, specs)), results_home, on_done=on_done)

    def submit(self, specs: list[RunSpec], results_home: Path) -> list[Any]:
        """Submit ``specs`` as one job array; returns the submitit jobs (ids also in ``job_ids``)."""
        ex = self._executor(results_home, len(specs))
        # without Slurm accounting submitit warns on every poll that sacct failed and falls back
        # to squeue (../shared/slurm-local.md); the states are still right, so keep it quiet
        logging.getLogger("submitit").setLevel(logging.ERROR)
        env, sys_path = _job_env(), list(sys.path)
        n = len(specs)
        self._submitted_at = time.time()
        jobs = ex.map_array(
            run_job, [s.to_dict() for s in specs], [str(results_home)] * n, [env] * n, [sys_path] * n
        )
        self.job_ids += [j.job_id for j in jobs]
        return jobs

    def wait_for(self, pending: dict[Any, RunSpec], results_home: Path, *, on_done: OnDone | None = None) -> None:
        """Poll the submitted ``pending`` jobs (job -> spec) until every one has finished; a job
        that died without a result gets a failed record naming why."""
        submitted_at = getattr(self, "_submitted_at", time.time())
        pending = dict(pending)
        gone_since: dict[Any, float] = {}
        while pending:
            queued = _queued_ids()
            for job in list(pending):
                if job.done():
                    spec = pending.pop(job)
                    try:
                        res = job.result()
                    except Exception as exc:  # killed by Slurm (time limit, OOM, node failure)
                        res = self._failed(spec, results_home, job, exc, submitted_at)
                elif queued is not None and job.job_id not in queued and not job.paths.result_pickle.exists():
                    # Without Slurm accounting submitit cannot tell that a job which died without
                    # writing its result has ended (it keeps the last squeue state): a job that
                    # left the queue for a while without a result is finished, and failed.
                    first = gone_since.setdefault(job, time.time())
                    if time.time() - first < self.vanish_grace_s:
                        continue
                    spec = pending.pop(job)
                    res = self._failed(spec, results_home, job, RuntimeError(
                        "the job left the queue without a result (killed or crashed)" + _log_tail(job)), submitted_at)
                else:
                    continue
                if on_done:
                    on_done(res)
            if pending:
                time.sleep(self.poll_s)

    @staticmethod
    def _failed(spec: RunSpec, results_home: Path, job: Any, exc: Exception, submitted_at: float) -> dict[str, Any]:
        path = record_path(results_home, spec.method, spec.dataset, spec.key)
        if path.exists() and path.stat().st_mtime >= submitted_at:
            return summary(read_record(path))  # the job wrote its record before it was stopped
        msg = str(exc).strip().splitlines()
        short = " ".join(msg[:3])[:500] if msg else ""
        return write_failed(
            spec, results_home,
            f"Slurm job {job.job_id} failed: {type(exc).__name__}: {short} (logs: {getattr(job, 'paths', None) and job.paths.stderr})",
        )
