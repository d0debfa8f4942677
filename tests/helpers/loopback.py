"""A throwaway Ray cluster on loopback addresses, for the tests and the Ray benchmark.

    >>> with LoopbackCluster(tmp_path, nodes=2) as cluster:       # doctest: +SKIP
    ...     run_submission(sub, data, out, RunConfig(ray=RayOptions(address=cluster.address)))
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from harness.errors import HarnessError
from harness.run.ray_executor import CACHE_ENV
from harness.sandbox.process import proc_stat, tree_pids


class LoopbackCluster:
    """A Ray cluster of ``nodes`` nodes on this machine, node ``i`` on loopback address ``127.0.0.<i + 2>``.

    Started with ``ray start`` (a head, then the other nodes joining it), each
    node in a process group of its own with its own ports, temporary folder
    and ``cpus_per_node`` CPUs; the nodes share a cache (`node_cache`) under
    ``root``. `stop` ends exactly the cluster's processes (never ``ray stop``,
    which would end every Ray process on the machine).
    ``127.0.0.1`` itself is avoided because Ray replaces it by the machine's
    network address; every connection stays on loopback.

        >>> with LoopbackCluster(tmp_path, nodes=2) as cluster:       # doctest: +SKIP
        ...     run_submission(sub, data, out, RunConfig(ray=RayOptions(address=cluster.address)))
    """

    def __init__(self, root: str | Path, nodes: int = 2, cpus_per_node: int = 1,
                 object_store_mb: int = 100, start_seconds: float = 180.0) -> None:
        self.root = Path(root)
        self.nodes, self.cpus_per_node, self.object_store_mb = nodes, cpus_per_node, object_store_mb
        self.start_seconds = start_seconds
        self.port = _free_port()
        self.groups: list[int] = []

    @property
    def address(self) -> str:
        return f"{self.node_ip(0)}:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """Environment for the nodes and for drivers joining them: no usage report, and no token
        authentication (every connection is on loopback; a token in ``~/.ray`` would otherwise
        switch it on for some processes and not others)."""
        return {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}

    @staticmethod
    def node_ip(index: int) -> str:
        return f"127.0.0.{index + 2}"

    def start(self) -> "LoopbackCluster":
        try:
            for index in range(self.nodes):
                self._start_node(index)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """SIGTERM every process of the cluster, then SIGKILL what is left after 3 seconds."""
        import signal
        import time

        pids = self.pids()
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + 3  # gcs_server and raylet may ignore SIGTERM
        while time.monotonic() < deadline and any(_running(pid) for pid in pids):
            time.sleep(0.2)
        for pid in pids:
            _signal(pid, signal.SIGKILL)
        self.groups = []

    def pids(self) -> list[int]:
        """The cluster's processes: those of the nodes' process groups and their descendants
        (Ray puts each worker process in a group of its own)."""
        leaders = [pid for pid, (_, group) in _process_table().items() if group in self.groups]
        return sorted({p for pid in leaders for p in tree_pids(pid)})

    def __enter__(self) -> "LoopbackCluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _start_node(self, index: int) -> None:
        import subprocess
        import sys

        ip = self.node_ip(index)
        temp = self.root / f"node{index}"
        temp.mkdir(parents=True, exist_ok=True)
        first_worker_port = _free_port_range(100)
        args = [sys.executable, "-m", "ray.scripts.scripts", "start", "--node-ip-address", ip,
                "--num-cpus", str(self.cpus_per_node), "--num-gpus", "0",
                "--object-store-memory", str(self.object_store_mb << 20), "--temp-dir", str(temp),
                "--disable-usage-stats", "--node-manager-port", str(_free_port()),
                "--object-manager-port", str(_free_port()),
                "--dashboard-agent-listen-port", str(_free_port()),
                "--dashboard-agent-grpc-port", str(_free_port()),
                "--runtime-env-agent-port", str(_free_port()), "--metrics-export-port", str(_free_port()),
                "--min-worker-port", str(first_worker_port), "--max-worker-port", str(first_worker_port + 99)]
        if index == 0:
            args += ["--head", "--port", str(self.port), "--include-dashboard", "false"]
            if importlib.util.find_spec("grpc") is not None:  # else no Ray Client server (port 10001)
                args += ["--ray-client-server-port", str(_free_port())]
        else:
            args += ["--address", self.address]
        env = {**os.environ, **self.env, CACHE_ENV: str(self.root / "cache")}
        with open(temp / "ray-start.log", "wb") as log:
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
            self.groups.append(proc.pid)
            try:
                code = proc.wait(timeout=self.start_seconds)
            except subprocess.TimeoutExpired:
                code = None
        if code != 0:
            tail = (temp / "ray-start.log").read_text(errors="replace").strip().splitlines()[-3:]
            raise HarnessError(f"ray start of node {ip} failed ({'timed out' if code is None else code}): "
                               + " | ".join(tail))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _free_port_range(count: int) -> int:
    """The first of ``count`` consecutive ports that are all free now, below Linux's ephemeral
    ports (32768 and up, where `_free_port` finds the others): Ray's worker processes use them."""
    import random
    import socket

    bases = list(range(20000, 32768 - count, count))
    random.shuffle(bases)  # two clusters started at once are unlikely to race for the same range
    for base in bases:
        try:
            for port in range(base, base + count):
                with socket.socket() as sock:
                    sock.bind(("", port))
        except OSError:
            continue
        return base
    raise HarnessError(f"no {count} consecutive free ports between 20000 and 32767")


def _process_table() -> dict[int, tuple[str, int]]:
    """Every process of this machine: pid -> (state, process group), from ``/proc/<pid>/stat``."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = proc_stat(stat.parent.name)  # state, ppid, pgrp, ...
        if fields is not None:
            table[int(stat.parent.name)] = (fields[0], int(fields[2]))
    return table


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting to be reaped does not)."""
    fields = proc_stat(pid)
    return fields is not None and fields[0] != "Z"
