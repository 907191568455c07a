"""Start and stop a private one-node Slurm cluster (munged + slurmctld + slurmd) for tests and CI.

Everything lives in one folder: slurm.conf, a fresh munge key and socket, spool and state
directories, pid and log files, on free TCP ports; nothing under /etc is touched and a cluster
already running on the machine is left alone. Clients find it through ``SLURM_CONF``.
Needs root and the Debian packages ``slurmctld slurmd slurm-client munge``
(see ../shared/slurm-local.md). The daemons run in the foreground as children of this process
and are stopped by pid.

    python tests/slurm_cluster.py start DIR   # prints `export SLURM_CONF=DIR/slurm.conf`
    python tests/slurm_cluster.py stop DIR
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PACKAGES = "slurmctld slurmd slurm-client munge"
DAEMONS = {"munged": "/usr/sbin/munged", "slurmctld": "/usr/sbin/slurmctld", "slurmd": "/usr/sbin/slurmd"}


class ClusterError(RuntimeError):
    """The cluster could not be started; the message says why."""


def missing() -> str | None:
    """Why a cluster cannot be started here, or None when it can."""
    if shutil.which("sinfo") is None or any(not Path(p).exists() for p in DAEMONS.values()):
        return f"the Slurm/munge packages are not installed (apt-get install -y {PACKAGES})"
    if os.geteuid() != 0:
        return "starting slurmd/slurmctld/munged needs root"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_resources() -> tuple[int, int]:
    """(CPUs, RealMemory MB) as slurmd detects them (RealMemory capped: jobs here are tiny)."""
    out = subprocess.run(["/usr/sbin/slurmd", "-C"], capture_output=True, text=True, timeout=30).stdout
    cpus = int(re.search(r"CPUs=(\d+)", out).group(1)) if "CPUs=" in out else (os.cpu_count() or 1)
    mem = int(re.search(r"RealMemory=(\d+)", out).group(1)) if "RealMemory=" in out else 2000
    return cpus, max(500, min(mem - 200, 8000))


def write_config(root: Path) -> dict[str, str]:
    """Write slurm.conf and the munge key under ``root``; returns the paths used."""
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    munge = root / "munge"
    munge.mkdir(exist_ok=True)
    os.chmod(munge, 0o700)
    key = munge / "munge.key"
    if not key.exists():
        key.write_bytes(secrets.token_bytes(1024))
    os.chmod(key, 0o400)
    for d in ("spool", "state", "log"):
        (root / d).mkdir(exist_ok=True)
    cpus, mem = _node_resources()
    p = {
        "conf": str(root / "slurm.conf"),
        "munge_socket": str(munge / "munge.socket"),
        "munge_key": str(key),
    }
    conf = f"""# private one-node test cluster (tests/slurm_cluster.py)
ClusterName=cbtest
SlurmctldHost=localhost
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={p['munge_socket']}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmdSpoolDir={root}/spool
StateSaveLocation={root}/state
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
SlurmUser=root
SlurmdUser=root
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MailProg=/bin/true
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""
    Path(p["conf"]).write_text(conf)
    return p


def start(root: str | Path, *, timeout: float = 60.0) -> dict[str, int | str]:
    """Start munged, slurmctld and slurmd with the config under ``root``; wait until the node is
    idle. Returns the pids and the config path; raises ClusterError with the logs on failure."""
    why = missing()
    if why:
        raise ClusterError(f"cannot start a Slurm cluster: {why}")
    root = Path(root).resolve()
    p = write_config(root)
    env = {**os.environ, "SLURM_CONF": p["conf"]}
    pids: dict[str, int | str] = {"conf": p["conf"]}
    log = root / "log"
    procs = [
        ("munged", [DAEMONS["munged"], "-F", "--force", "--key-file", p["munge_key"], "--socket", p["munge_socket"],
                    "--pid-file", str(root / "munge" / "munged.pid"), "--log-file", str(log / "munged.log"),
                    "--seed-file", str(root / "munge" / "munge.seed")]),
        ("slurmctld", [DAEMONS["slurmctld"], "-D", "-i", "-f", p["conf"]]),
        ("slurmd", [DAEMONS["slurmd"], "-D", "-f", p["conf"], "-N", "localhost"]),
    ]
    try:
        for name, cmd in procs:
            out = open(log / f"{name}.stdout", "wb")
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            pids[name] = proc.pid
            _save(root, pids)
            if name == "munged":
                _wait(lambda: Path(p["munge_socket"]).exists(), 15, f"munged did not create {p['munge_socket']}", root, proc)
            else:
                time.sleep(0.5)
                if proc.poll() is not None:
                    raise ClusterError(f"{name} exited with code {proc.returncode}.\n{_logs(root)}")

        def idle() -> bool:
            r = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env=env, timeout=15)
            return r.returncode == 0 and r.stdout.strip().startswith("idle")

        _wait(idle, timeout, "the node did not become idle", root)
    except BaseException:
        stop(root)
        raise
    return pids


def _wait(cond, timeout: float, what: str, root: Path, proc=None) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if cond():
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.5)
    raise ClusterError(f"{what} within {timeout:.0f} s.\n{_logs(root)}")


def _logs(root: Path) -> str:
    parts = []
    for f in sorted((root / "log").glob("*")):
        text = f.read_text(errors="replace").strip().splitlines()[-15:]
        if text:
            parts.append(f"--- {f.name}\n" + "\n".join(text))
    return "\n".join(parts)


def _save(root: Path, pids: dict) -> None:
    (root / "pids.json").write_text(json.dumps(pids))


def queue(conf: str) -> list[str]:
    """Ids of the jobs still in the cluster's queue."""
    env = {**os.environ, "SLURM_CONF": conf}
    r = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, env=env, timeout=15)
    return r.stdout.split() if r.returncode == 0 else []


def drain(conf: str | None, *, timeout: float = 30.0) -> None:
    """Cancel every job of the cluster and wait until the queue is empty, so that no job step
    (slurmstepd, srun) outlives the daemons."""
    if not conf or not Path(conf).exists():
        return
    env = {**os.environ, "SLURM_CONF": conf}
    ids = queue(conf)
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, env=env, timeout=15)
    t0 = time.time()
    while queue(conf) and time.time() - t0 < timeout:
        time.sleep(0.5)


def stop(root: str | Path) -> None:
    """Stop the daemons started by :func:`start` (by their pids, slurmd first)."""
    root = Path(root)
    f = root / "pids.json"
    if not f.exists():
        return
    pids = json.loads(f.read_text())
    drain(pids.get("conf"))
    for name in ("slurmd", "slurmctld", "munged"):
        pid = pids.get(name)
        if not isinstance(pid, int):
            continue
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        for _ in range(50):
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    break
            except ChildProcessError:  # not our child (stop from another process): poll existence
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
            time.sleep(0.1)
        else:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    f.unlink()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("start", "stop"):
        sys.exit("usage: python tests/slurm_cluster.py start|stop DIR")
    if sys.argv[1] == "start":
        info = start(sys.argv[2])
        print(f"export SLURM_CONF={info['conf']}")
    else:
        stop(sys.argv[2])
