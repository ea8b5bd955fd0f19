"""Fixtures of the Silo integration suite.

Storage nodes:
  * STORAGE_NODES=host:port,host:port,...  — use a running cluster (nothing is started; tests that need a
    node's data directory or start nodes of their own are skipped).
  * otherwise six nodes are started on 127.0.0.1:50051–50056 from SILO_BIN (default .build/debug/silo),
    each in its own temporary directory (data in DIR/data, log in DIR/node.log), and stopped by pid at the
    end of the session.

gRPC stubs come from Tests/integration/generated/ (written by scripts/setup.sh, git-ignored).
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, Optional

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
GENERATED = HERE / "generated"

if str(GENERATED) not in sys.path:
    sys.path.insert(0, str(GENERATED))
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import grpc  # noqa: E402

import grpc_helpers as gh  # noqa: E402

NODE_PORTS = list(range(50051, 50057))
READY_TIMEOUT = 60.0
STOP_GRACE = 10.0


# --------------------------------------------------------------------------------------------------------------
# Node processes
# --------------------------------------------------------------------------------------------------------------

def silo_binary() -> Path:
    value = os.environ.get("SILO_BIN")
    path = Path(value) if value else REPO_ROOT / ".build" / "debug" / "silo"
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


def external_nodes() -> Optional[list[str]]:
    value = os.environ.get("STORAGE_NODES", "").strip()
    if not value:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it if pytest dies, so no orphan node keeps its port."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except Exception:
        pass
    os.setpgrp()  # Ctrl-C in the terminal reaches pytest only; pytest stops the node.


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as error:
        return f"(no log: {error})"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


@dataclasses.dataclass
class NodeProcess:
    """One `silo node` started by the suite."""

    port: int
    node_id: str
    extra_args: tuple[str, ...] = ()
    binary: Path = dataclasses.field(default_factory=silo_binary)
    root: Optional[Path] = None
    process: Optional[subprocess.Popen] = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        assert self.root is not None
        return self.root / "node.log"

    @property
    def pid(self) -> Optional[int]:
        return self.process.pid if self.process else None

    def command(self) -> list[str]:
        return [
            str(self.binary), "node",
            "--data-dir", str(self.data_dir),
            "--listen", self.address,
            "--node-id", self.node_id,
            *self.extra_args,
        ]

    def start(self) -> None:
        if not self.binary.is_file() or not os.access(self.binary, os.X_OK):
            pytest.fail(
                f"silo binary not found at {self.binary}: build it (swift build) or set SILO_BIN, "
                "or point STORAGE_NODES at a running cluster",
                pytrace=False,
            )
        if not port_is_free(self.port):
            pytest.fail(
                f"port {self.port} on 127.0.0.1 is busy: another silo node or program is listening there. "
                f"Stop it (e.g. `ss -ltnp 'sport = :{self.port}'` shows who), or run the suite against it "
                "with STORAGE_NODES=...",
                pytrace=False,
            )
        base = os.environ.get("SILO_TEST_TMPDIR") or None
        self.root = Path(tempfile.mkdtemp(prefix=f"silo-{self.node_id}-", dir=base))
        self.data_dir.mkdir()
        log = open(self.log_path, "wb")
        try:
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                preexec_fn=_die_with_parent,
            )
        finally:
            log.close()

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        def check_alive() -> None:
            if self.process is not None and self.process.poll() is not None:
                pytest.fail(
                    f"silo node {self.node_id} ({' '.join(self.command())}) exited with status "
                    f"{self.process.returncode} before it was ready. Log tail ({self.log_path}):\n"
                    f"{_tail(self.log_path)}",
                    pytrace=False,
                )

        last_error = poll_health(self.address, timeout, interval=0.2, check_alive=check_alive)
        if last_error is not None:
            pytest.fail(
                f"silo node {self.node_id} on {self.address} did not answer HealthCheck within {timeout:.0f} s "
                f"(last error: {last_error}). Log tail ({self.log_path}):\n{_tail(self.log_path)}",
                pytrace=False,
            )

    def stop(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            try:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_GRACE)
            except ProcessLookupError:
                pass

    def cleanup(self) -> None:
        self.stop()
        if self.root is not None and os.environ.get("SILO_KEEP_TMP") != "1":
            shutil.rmtree(self.root, ignore_errors=True)

    def peak_rss_bytes(self) -> Optional[int]:
        """VmHWM of the running node, from /proc; None when unknown."""
        if self.process is None or self.process.poll() is not None:
            return None
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None


def start_nodes(nodes: list[NodeProcess]) -> None:
    """Starts all, then waits for all (they boot in parallel). On failure stops what was started."""
    try:
        for node in nodes:
            node.start()
        for node in nodes:
            node.wait_ready()
    except BaseException:
        for node in nodes:
            node.cleanup()
        raise


# --------------------------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Cluster:
    addresses: list[str]
    #: address -> the node we started (None for an external cluster)
    processes: dict[str, Optional[NodeProcess]]

    @property
    def external(self) -> bool:
        return all(process is None for process in self.processes.values())


@pytest.fixture(scope="session")
def _cluster() -> Iterator[Cluster]:
    addresses = external_nodes()
    if addresses is not None:
        for address in addresses:
            wait_external_ready(address)
        yield Cluster(addresses, {address: None for address in addresses})
        return
    nodes = [NodeProcess(port=port, node_id=f"node-{index + 1}") for index, port in enumerate(NODE_PORTS)]
    start_nodes(nodes)
    try:
        yield Cluster([node.address for node in nodes], {node.address: node for node in nodes})
    finally:
        for node in nodes:
            node.cleanup()


def poll_health(address: str, timeout: float, interval: float,
                check_alive: Optional[Callable[[], None]] = None) -> Optional[str]:
    """Asks `address` for HealthCheck until it answers (None) or `timeout` passes (the last error)."""
    channel = gh.new_channel(address)
    stub = gh.new_stub(channel)
    deadline = time.monotonic() + timeout
    last_error = "no attempt"
    try:
        while time.monotonic() < deadline:
            if check_alive is not None:
                check_alive()
            try:
                gh.health(stub, timeout=1.0)
                return None
            except grpc.RpcError as error:
                last_error = gh.describe_error(error)
            time.sleep(interval)
    finally:
        channel.close()
    return last_error


def wait_external_ready(address: str, timeout: float = READY_TIMEOUT) -> None:
    last_error = poll_health(address, timeout, interval=0.5)
    if last_error is not None:
        pytest.fail(f"storage node {address} (from STORAGE_NODES) did not answer HealthCheck within "
                    f"{timeout:.0f} s: {last_error}", pytrace=False)


@pytest.fixture(scope="session")
def storage_nodes(_cluster: Cluster) -> list[str]:
    """Addresses (host:port) of the storage nodes under test."""
    return list(_cluster.addresses)


@pytest.fixture(scope="session")
def node_processes(_cluster: Cluster) -> dict[str, Optional[NodeProcess]]:
    """address -> NodeProcess for nodes the suite started; None for external ones."""
    return dict(_cluster.processes)


@pytest.fixture(scope="session")
def data_dir(_cluster: Cluster) -> dict[str, Optional[Path]]:
    """address -> data directory of each node the suite started; None for external nodes."""
    return {address: (process.data_dir if process else None) for address, process in _cluster.processes.items()}


@pytest.fixture
def node_data_dir(storage_nodes, data_dir) -> Path:
    """The first node's data directory; skips the test when the nodes are external (STORAGE_NODES)."""
    path = data_dir[storage_nodes[0]]
    if path is None:
        pytest.skip("needs the node's data directory: not available with STORAGE_NODES")
    return path


@pytest.fixture(scope="session")
def node_channels(storage_nodes) -> Iterator[dict[str, grpc.Channel]]:
    channels = {address: gh.new_channel(address) for address in storage_nodes}
    try:
        yield channels
    finally:
        for channel in channels.values():
            channel.close()


@pytest.fixture(scope="session")
def node_stubs(storage_nodes, node_channels) -> list:
    """A ChunkStoreStub per node, in the order of storage_nodes."""
    return [gh.new_stub(node_channels[address]) for address in storage_nodes]


@pytest.fixture(scope="session")
def node_stub(node_stubs):
    """A ChunkStoreStub for the first node."""
    return node_stubs[0]


@pytest.fixture
def node_launcher(_cluster: Cluster) -> Iterator[Callable[..., NodeProcess]]:
    """Starts extra nodes for one test (e.g. with --capacity-bytes or --io-backend) and stops them after it.

    launch(port, node_id, *extra_args) -> NodeProcess (ready). Skipped with STORAGE_NODES: the suite then
    starts no process of its own.
    """
    if external_nodes() is not None:
        pytest.skip("starts its own node: not done when STORAGE_NODES names an external cluster")
    started: list[NodeProcess] = []

    def launch(port: int, node_id: str, *extra_args: str) -> NodeProcess:
        node = NodeProcess(port=port, node_id=node_id, extra_args=tuple(extra_args))
        started.append(node)
        node.start()
        node.wait_ready()
        return node

    try:
        yield launch
    finally:
        for node in started:
            node.cleanup()


# --------------------------------------------------------------------------------------------------------------
# Throughput report (printed in the terminal summary, so it shows without -s)
# --------------------------------------------------------------------------------------------------------------

_PERF_LINES: list[str] = []


@pytest.fixture(scope="session")
def perf_report() -> Callable[[str], None]:
    def report(line: str) -> None:
        _PERF_LINES.append(line)
        print(line)

    return report


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _PERF_LINES:
        terminalreporter.section("Silo throughput")
        for line in _PERF_LINES:
            terminalreporter.write_line(line)
