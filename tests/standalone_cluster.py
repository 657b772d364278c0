"""A Spark standalone cluster on loopback for tests: one master and N workers from pip's pyspark
(which has no start-master.sh), started with spark-class and stopped with everything they started."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pyspark

SPARK_CLASS = Path(pyspark.__file__).parent / "bin" / "spark-class"
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


@dataclass
class StandaloneCluster:
    root: Path
    workers: int = 2
    worker_memory: str = "6g"
    port: int = field(default_factory=free_port)
    ui_port: int = field(default_factory=free_port)
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def master_url(self) -> str:
        return f"spark://{LOOPBACK}:{self.port}"

    def env(self) -> dict[str, str]:
        return os.environ | {"SPARK_LOCAL_IP": LOOPBACK, "SPARK_LOG_DIR": str(self.root / "logs")}

    def _start(self, name: str, *args: str) -> None:
        log = (self.root / f"{name}.log").open("w")
        self.processes.append(
            subprocess.Popen([str(SPARK_CLASS), *args], stdout=log, stderr=subprocess.STDOUT, env=self.env())
        )

    def start(self) -> StandaloneCluster:
        self.root.mkdir(parents=True, exist_ok=True)
        self._start("master", "org.apache.spark.deploy.master.Master", "--host", LOOPBACK,
                    "--port", str(self.port), "--webui-port", str(self.ui_port))
        for i in range(self.workers):
            self._start(f"worker-{i}", "org.apache.spark.deploy.worker.Worker", self.master_url,
                        "--host", LOOPBACK, "--cores", "1", "--memory", self.worker_memory,
                        "--webui-port", str(free_port()), "--work-dir", str(self.root / f"work-{i}"))
        self._wait_for_workers()
        return self

    def _wait_for_workers(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://{LOOPBACK}:{self.ui_port}/json/", timeout=2) as reply:
                    if sum(w["state"] == "ALIVE" for w in json.load(reply)["workers"]) == self.workers:
                        return
            except OSError:
                pass
            time.sleep(1)
        raise TimeoutError(f"{self.workers} workers did not register with {self.master_url} in {timeout_s} s")

    def executor_logs(self) -> list[Path]:
        """Each executor's stderr, in the work folder its worker gave it (work-<worker>/<app>/<executor>/)."""
        return sorted(self.root.glob("work-*/app-*/*/stderr"))

    def descendants(self) -> list[psutil.Process]:
        """Processes the master and workers started (executors, Python workers) that are still alive."""
        found = []
        for p in self.processes:
            try:
                found += psutil.Process(p.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                pass
        return [c for c in found if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]

    def stop(self) -> None:
        for p in reversed(self.processes):
            p.terminate()
        for p in self.processes:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
