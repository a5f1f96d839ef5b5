"""A real single-node Slurm cluster on this machine, for the slurm backend's tests and benchmark.

Everything lives in one temporary folder: the munge key and socket, MariaDB's
data, ``slurm.conf``/``slurmdbd.conf``, the daemons' state, spool and logs.
The daemons run in the foreground as children of this process (each in its
own session) and are stopped by PID; nothing is started through systemd,
nothing binds outside 127.0.0.1, and no system-wide file is written. The
Slurm client commands find the cluster through ``SLURM_CONF`` (see
:meth:`Cluster.env`).

Start order (Debian 12, Slurm 22.05, as root): ``munged`` as the munge user,
MariaDB, ``slurmdbd`` (after ``slurm.conf`` is written), ``slurmctld``,
``slurmd``; then one warm-up job must run to COMPLETED and show in ``sacct``.

Needs the Debian packages listed in ``.ci/apt-packages.txt`` (``slurmctld
slurmd slurm-client slurmdbd munge mariadb-server``) and root. By hand::

    PYTHONPATH=. python plugins/agybatch-slurm/tests/slurm_cluster.py up /tmp/agyslurm   # prints SLURM_CONF=...
    PYTHONPATH=. python plugins/agybatch-slurm/tests/slurm_cluster.py down /tmp/agyslurm

(from the repository root: it uses ``tests.helpers``).
"""
from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.helpers.net import free_port

#: Run this file as shown in the module docstring; skip messages name it.
SCRIPT = "plugins/agybatch-slurm/tests/slurm_cluster.py"
PACKAGES = "slurmctld slurmd slurm-client slurmdbd munge mariadb-server"
BINARIES = ("sbatch", "squeue", "sacct", "scancel", "slurmctld", "slurmd", "slurmdbd", "munged",
            "mariadbd", "mariadb-install-db", "mariadb", "munge")
CLUSTER_NAME = "agytest"
PARTITIONS = ("debug", "batch")
#: An account that exists in the cluster's accounting (``[batch.slurm] account``).
ACCOUNT = "nightly"
STARTUP_TIMEOUT = 90.0
#: Where every Slurm 22.05 client and daemon reaches munged.
MUNGE_SOCKET = Path("/run/munge/munge.socket.2")
#: MiB of memory the node offers (``--mem`` requests are checked against it).
NODE_MEMORY = 2000


def slurm_missing() -> str | None:
    """Why a cluster cannot be started here, or None."""
    missing = [name for name in BINARIES if not shutil.which(name)]
    if missing:
        return (f"Slurm is not installed ({', '.join(missing)} not found): apt-get install {PACKAGES}, "
                f"then the tests start a cluster with {SCRIPT}")
    if os.geteuid() != 0:
        return f"{SCRIPT} starts the Slurm daemons as root; run the tests as root"
    try:
        pwd.getpwnam("munge")
    except KeyError:
        return f"no 'munge' user (apt-get install munge); needed by {SCRIPT}"
    return None


def munge_answers() -> bool:
    """True if a munged answers on the default socket."""
    if not MUNGE_SOCKET.exists():
        return False
    try:
        return subprocess.run(["munge", "-n"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


class Cluster:
    """A cluster's folder and daemons. ``conf`` is its ``slurm.conf``; ``env()`` points clients at it."""

    def __init__(self, root: Path, cpus: int | None = None) -> None:
        self.root = Path(root)
        #: Logical CPUs of the node: at least 4, so a long job and a 2-CPU job run side by side.
        self.cpus = cpus or max(4, os.cpu_count() or 1)
        self.conf = self.root / "etc" / "slurm.conf"
        self.procs: dict = {}  # name -> Popen (only when started by this process)
        self.ports: dict = {}
        self.node = socket.gethostname().split(".")[0]

    # -- the environment for clients ------------------------------------------

    def env(self, base: dict | None = None) -> dict:
        """``base`` (default ``os.environ``) with ``SLURM_CONF`` set and other Slurm variables removed."""
        env = {k: v for k, v in (os.environ if base is None else base).items()
               if not k.startswith(("SLURM_", "SBATCH_", "SQUEUE_", "SACCT_"))}
        env["SLURM_CONF"] = str(self.conf)
        return env

    def run(self, *argv, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a Slurm client command against this cluster."""
        return subprocess.run(list(argv), env=self.env(), capture_output=True, text=True, check=check,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def sql(self, statement: str) -> str:
        """Run one SQL statement on the accounting database (as MariaDB's root, through its socket)."""
        proc = subprocess.run(["mariadb", f"--socket={self.root / 'mysql' / 'mysqld.sock'}", "-u", "root",
                               "-N", "-B", "slurm_acct_db", "-e", statement],
                              capture_output=True, text=True, check=True, timeout=30)
        return proc.stdout

    def log(self, name: str, lines: int = 20) -> str:
        try:
            text = (self.root / "log" / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""
        return "".join(text.splitlines(True)[-lines:])

    # -- start ----------------------------------------------------------------

    def start(self) -> "Cluster":
        """Write the configuration and start every daemon; return once a job runs and is accounted."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)  # the munge user must reach its own subfolder
        for sub in ("etc", "log", "state", "spool", "run"):
            (self.root / sub).mkdir(exist_ok=True)
        self.ports = {name: free_port() for name in ("slurmctld", "slurmd", "slurmdbd", "mariadb")}
        (self.root / "ports.json").write_text(json.dumps(self.ports))
        try:
            self._start_munge()
            self._start_mariadb()
            self._write_slurm_conf()
            self._start_slurmdbd()
            self._spawn("slurmctld", ["slurmctld", "-D", "-f", str(self.conf)])
            self._wait_for(lambda: self.run("scontrol", "ping", check=False).returncode == 0, "slurmctld")
            self._spawn("slurmd", ["slurmd", "-D", "-f", str(self.conf), "-N", self.node])
            self._wait_for(self._node_idle, "slurmd (node idle)")
            self._warm_up()
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, name: str, argv: list, **kwargs) -> None:
        out = open(self.root / "log" / f"{name}.out", "wb")
        try:
            self.procs[name] = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, env=self.env(), **kwargs)
        finally:
            out.close()
        (self.root / "run" / f"{name}.pid").write_text(str(self.procs[name].pid))

    def _wait_for(self, predicate, what: str) -> None:
        end = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < end:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode} while waiting for {what}:\n"
                                       f"{self.log(name)}{_read(self.root / 'log' / (name + '.out'))}")
            try:
                if predicate():
                    return
            except (OSError, subprocess.SubprocessError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{what} not ready within {STARTUP_TIMEOUT:g}s")

    def _start_munge(self) -> None:
        """Use the munged answering on the default socket, or start one there (with a fresh key).

        Slurm 22.05's accounting clients (sacct, sacctmgr) ignore ``AuthInfo=socket=``
        and always use the default socket, so the cluster's munged must listen there.
        """
        if munge_answers():
            return
        munge = pwd.getpwnam("munge")
        MUNGE_SOCKET.parent.mkdir(mode=0o755, exist_ok=True)
        os.chown(MUNGE_SOCKET.parent, munge.pw_uid, munge.pw_gid)
        folder = self.root / "munge"
        folder.mkdir(mode=0o700, exist_ok=True)
        key = folder / "munge.key"
        key.write_bytes(secrets.token_bytes(128))
        for path in (folder, key):
            os.chown(path, munge.pw_uid, munge.pw_gid)
        key.chmod(0o400)
        self._spawn("munged", [
            "munged", "--foreground", f"--socket={MUNGE_SOCKET}", f"--key-file={key}",
            f"--log-file={folder / 'munged.log'}", f"--pid-file={folder / 'munged.pid'}",
            f"--seed-file={folder / 'munged.seed'}"], user=munge.pw_uid, group=munge.pw_gid)
        self._wait_for(munge_answers, "munged")

    def _start_mariadb(self) -> None:
        data = self.root / "mysql"
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root",
                        "--auth-root-authentication-method=socket", "--skip-test-db"],
                       capture_output=True, check=True, timeout=120, stdin=subprocess.DEVNULL)
        self._spawn("mariadb", [
            "mariadbd", "--no-defaults", f"--datadir={data}", "--user=root", f"--socket={data / 'mysqld.sock'}",
            f"--pid-file={data / 'mysqld.pid'}", "--bind-address=127.0.0.1", f"--port={self.ports['mariadb']}",
            f"--log-error={self.root / 'log' / 'mariadb.log'}", "--skip-name-resolve",
            "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M", "--innodb-flush-log-at-trx-commit=2"])
        sock = str(data / "mysqld.sock")

        def answers() -> bool:
            return subprocess.run(["mariadb", f"--socket={sock}", "-u", "root", "-e", "SELECT 1"],
                                  capture_output=True, timeout=10).returncode == 0

        self._wait_for(answers, "MariaDB")
        subprocess.run(["mariadb", f"--socket={sock}", "-u", "root", "-e",
                        "CREATE DATABASE IF NOT EXISTS slurm_acct_db; "
                        "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'agytest'; "
                        "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"],
                       capture_output=True, check=True, timeout=30)

    def _write_slurm_conf(self) -> None:
        root, log, state, spool, run = (self.root / s for s in ("", "log", "state", "spool", "run"))
        lines = [
            f"ClusterName={CLUSTER_NAME}",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            f"SlurmctldPort={self.ports['slurmctld']}",
            f"SlurmdPort={self.ports['slurmd']}",
            "SlurmUser=root", "SlurmdUser=root",
            "AuthType=auth/munge", "CredType=cred/munge",
            "CommunicationParameters=NoInAddrAny,NoCtldInAddrAny",  # bind the node's address, 127.0.0.1
            f"StateSaveLocation={state}", f"SlurmdSpoolDir={spool}",
            f"SlurmctldPidFile={run / 'slurmctld.daemon.pid'}", f"SlurmdPidFile={run / 'slurmd.daemon.pid'}",
            f"SlurmctldLogFile={log / 'slurmctld.log'}", f"SlurmdLogFile={log / 'slurmd.log'}",
            "SlurmctldDebug=info", "SlurmdDebug=info",
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "SelectType=select/cons_tres", "SelectTypeParameters=CR_CPU_Memory", "DefMemPerCPU=100",
            "SchedulerType=sched/builtin",
            "MailProg=/bin/true",
            "ReturnToService=2",
            "SlurmdParameters=config_overrides",  # the node may declare more CPUs than the machine has
            "KillWait=2",  # seconds between SIGTERM and SIGKILL on cancel and time limit
            "MinJobAge=2",  # finished jobs leave squeue soon (plus slurmctld's ~60s purge cycle)
            "InactiveLimit=0", "Waittime=0",
            "AccountingStorageType=accounting_storage/slurmdbd",
            "AccountingStorageHost=127.0.0.1", f"AccountingStoragePort={self.ports['slurmdbd']}",
            "JobCompType=jobcomp/none",
            f"NodeName={self.node} NodeAddr=127.0.0.1 NodeHostname={self.node} CPUs={self.cpus} "
            f"RealMemory={NODE_MEMORY} State=UNKNOWN",
        ]
        for i, name in enumerate(PARTITIONS):
            lines.append(f"PartitionName={name} Nodes=ALL Default={'YES' if i == 0 else 'NO'} "
                         "MaxTime=INFINITE State=UP")
        self.conf.write_text("\n".join(lines) + "\n")
        (root / "etc" / "slurmdbd.conf").write_text("\n".join([
            "AuthType=auth/munge", "CommunicationParameters=NoInAddrAny",
            f"DbdHost={self.node}", "DbdAddr=127.0.0.1", f"DbdPort={self.ports['slurmdbd']}",
            "SlurmUser=root", f"PidFile={run / 'slurmdbd.daemon.pid'}",
            f"LogFile={log / 'slurmdbd.log'}", "DebugLevel=info",
            "StorageType=accounting_storage/mysql", "StorageHost=127.0.0.1",
            f"StoragePort={self.ports['mariadb']}", "StorageUser=slurm", "StoragePass=agytest",
            "StorageLoc=slurm_acct_db",
        ]) + "\n")
        (root / "etc" / "slurmdbd.conf").chmod(0o600)

    def _start_slurmdbd(self) -> None:
        # slurmdbd reads slurmdbd.conf from the folder of $SLURM_CONF.
        self._spawn("slurmdbd", ["slurmdbd", "-D"])
        self._wait_for(lambda: self.run("sacctmgr", "-n", "show", "cluster", check=False).returncode == 0,
                       "slurmdbd")
        clusters = self.run("sacctmgr", "-n", "-P", "show", "cluster", "format=cluster").stdout.split()
        if CLUSTER_NAME not in clusters:
            self.run("sacctmgr", "-i", "add", "cluster", CLUSTER_NAME)
        self.run("sacctmgr", "-i", "add", "account", ACCOUNT, f"cluster={CLUSTER_NAME}")
        self.run("sacctmgr", "-i", "add", "user", pwd.getpwuid(os.getuid()).pw_name, f"account={ACCOUNT}",
                 f"cluster={CLUSTER_NAME}")

    def _node_idle(self) -> bool:
        out = self.run("sinfo", "-h", "-N", "-o", "%T", check=False).stdout.split()
        return bool(out) and all(state.rstrip("*") == "idle" for state in out)

    def _warm_up(self) -> None:
        """One job through the whole path: scheduled, run, COMPLETED in squeue and in sacct."""
        job = self.run("sbatch", "--parsable", "--job-name", "warm-up", "--output", "/dev/null",
                       "--wrap", "true").stdout.strip().split(";")[0]
        self.warm_up_job = job

        def accounted() -> bool:
            out = self.run("sacct", "-n", "-P", "-X", "-j", job, "-o", "State", check=False).stdout
            return out.strip() == "COMPLETED"

        self._wait_for(accounted, f"warm-up job {job} in sacct")

    # -- stop ------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the daemons this process started (reverse order, by PID), then remove the folder."""
        for name in ("slurmd", "slurmctld", "slurmdbd", "mariadb", "munged"):
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.procs.clear()

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-2000:]
    except OSError:
        return ""


def start_cluster(root: Path | None = None, cpus: int | None = None) -> Cluster:
    """Start a cluster in ``root`` (default: a new temporary folder) whose node has ``cpus`` CPUs."""
    return Cluster(Path(root) if root else Path(tempfile.mkdtemp(prefix="agyslurm-")), cpus).start()


def _stop_by_pidfiles(root: Path) -> None:
    """``down``: stop the daemons an ``up`` in another process started, by their recorded PIDs."""
    for name in ("slurmd", "slurmctld", "slurmdbd", "mariadb", "munged"):
        try:
            pid = int((root / "run" / f"{name}.pid").read_text())
        except (OSError, ValueError):
            continue
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            os.kill(pid, signal.SIGKILL)


def main(argv: list) -> int:
    if len(argv) != 2 or argv[0] not in ("up", "down"):
        print(f"usage: python {SCRIPT} up|down FOLDER", file=sys.stderr)
        return 2
    root = Path(argv[1]).resolve()
    if argv[0] == "down":
        _stop_by_pidfiles(root)
        shutil.rmtree(root, ignore_errors=True)
        return 0
    reason = slurm_missing()
    if reason:
        print(reason, file=sys.stderr)
        return 1
    cluster = Cluster(root)
    cluster.start()  # the daemons run on in their own sessions; `down` stops them by PID
    print(f"SLURM_CONF={cluster.conf}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
