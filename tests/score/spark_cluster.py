"""A throwaway Spark standalone cluster on 127.0.0.1: one master and N workers, started with
the `spark-class` launcher that ships inside pyspark, and torn down (whole process trees) on exit."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    url: str
    """The master, ``spark://127.0.0.1:PORT``."""
    ui: str
    """The master's web UI, ``http://127.0.0.1:PORT``."""
    groups: list[int] = field(default_factory=list)
    """The process groups of the master and the workers (the executors they start are inside them)."""
    logs: Path | None = None

    def state(self) -> dict:
        with urllib.request.urlopen(f"{self.ui}/json/", timeout=5) as r:
            return json.load(r)

    def log_tail(self, chars: int = 3000) -> str:
        if self.logs is None:
            return ""
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}"
                         for p in sorted(self.logs.glob("*.log")))


def _pids_in_groups(groups: list[int]) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[2]) in groups:  # state, ppid, pgrp
            found.append(int(entry.name))
    return found


def _pids_mentioning(text: str) -> list[int]:
    """Live processes whose command line names ``text`` (e.g. the cluster's own folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if text in cmd and stat[stat.rindex(")") + 2] != "Z":
            found.append(int(entry.name))
    return found


def leftover_processes(cluster: Cluster, root: Path) -> list[int]:
    return sorted(set(_pids_in_groups(cluster.groups)) | set(_pids_mentioning(str(root))))


def _kill(groups: list[int], root: Path) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for g in groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(g, sig)
        for pid in _pids_mentioning(str(root)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (_pids_in_groups(groups) or _pids_mentioning(str(root))):
            time.sleep(0.2)


@contextlib.contextmanager
def standalone_cluster(spark_class: Path, root: Path, workers: int = 2, cores: int = 1, memory: str = "1g",
                       timeout: float = 120) -> Iterator[Cluster]:
    """Start a master and ``workers`` workers with ``spark_class`` (``pyspark/bin/spark-class`` inside the package);
    logs and work folders under ``root``. Yields once the master lists every worker ALIVE."""
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    spark_home = spark_class.resolve().parents[1]  # pyspark's package folder: bin/, sbin/, jars/
    assert (spark_home / "jars").is_dir(), f"{spark_class} is not inside a pyspark package (no jars/ beside bin/)"
    env = {**os.environ, "SPARK_HOME": str(spark_home), "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(logs),
           "SPARK_WORKER_DIR": str(root / "work"), "SPARK_NO_DAEMONIZE": "1"}
    env.pop("PYSPARK_PYTHON", None)
    procs: list[subprocess.Popen] = []
    port, ui_port = free_port(), free_port()
    cluster = Cluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui_port}", logs=logs)

    def launch(name: str, *args: str) -> None:
        out = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        p = subprocess.Popen([str(spark_class), *args], stdout=out, stderr=subprocess.STDOUT, env=env,
                             cwd=root, start_new_session=True)
        out.close()
        cluster.groups.append(p.pid)  # start_new_session: the pid is the group id
        procs.append(p)

    try:
        launch("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
               "--webui-port", str(ui_port))
        for i in range(workers):
            (root / "work" / f"w{i}").mkdir(parents=True, exist_ok=True)
            launch(f"worker{i}", "org.apache.spark.deploy.worker.Worker", cluster.url, "--host", "127.0.0.1",
                   "--cores", str(cores), "--memory", memory, "--webui-port", str(free_port()),
                   "--work-dir", str(root / "work" / f"w{i}"))
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError, ValueError):
                state = cluster.state()
                if sum(w["state"] == "ALIVE" for w in state.get("workers", [])) >= workers:
                    break
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("a Spark daemon exited at start\n" + cluster.log_tail())
            if time.monotonic() > deadline:
                raise TimeoutError(f"the master did not list {workers} ALIVE workers in {timeout:.0f} s\n"
                                   + cluster.log_tail())
            time.sleep(0.5)
        yield cluster
    finally:
        _kill(cluster.groups, root)
