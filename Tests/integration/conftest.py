"""Fixtures of the Silo integration suite.

S3 gateway cluster (test_e2e.py, test_concurrent.py, test_grpc.py's test_chunk_distribution):
  * API_BASE_URL (or SILO_ENDPOINT)=http://host:port with SILO_ACCESS_KEY and SILO_SECRET_KEY — use a running
    gateway. STORAGE_NODES, SILO_CLUSTER_DIR (whose nodes/<n>/ are the node data directories),
    SILO_DATABASE_URL and SILO_REPLICAS are used when set; tests that need them skip, saying why, when not.
  * otherwise `$SILO_BIN cluster up` starts PostgreSQL, six nodes (127.0.0.1:19151–19156, two replicas) and a
    gateway on 127.0.0.1:18080 in a temporary directory, the suite reads its cluster.env, and
    `$SILO_BIN cluster down --purge` stops it at the end of the session, whatever happened.

Storage nodes (gRPC tests):
  * STORAGE_NODES=host:port,host:port,...  — use a running cluster (nothing is started; tests that need a
    node's data directory or start nodes of their own are skipped).
  * otherwise six nodes are started on 127.0.0.1:19051–19056 from SILO_BIN (default .build/debug/silo),
    each in its own temporary directory (data in DIR/data, log in DIR/node.log), and stopped by pid at the
    end of the session.

gRPC stubs come from Tests/integration/generated/ (written by scripts/setup.sh, git-ignored).
"""

from __future__ import annotations

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

NODE_PORTS = list(range(19051, 19057))  # fixed ports sit below 20000: random pickers (bench, test_cluster) use 20000–32000 and the kernel 32768 and up
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


def spawn_child(command: list[str], log_path: Path, cwd: Optional[Path] = None, append: bool = False) -> subprocess.Popen:
    """Starts `command` in a process group of its own, killed if pytest dies (setpriv's parent-death
    signal), without running Python in the forked child. A `preexec_fn` there runs the grpc library's fork
    handlers, which abort the child once the suite's gRPC channels are polling (seen: `epoll_wait error: Bad
    file descriptor` in the node's log, the node gone with SIGABRT before it started)."""
    prefix = ["setpriv", "--pdeathsig", "SIGKILL", "--"] if shutil.which("setpriv") else []
    with open(log_path, "ab" if append else "wb") as log:
        return subprocess.Popen(prefix + command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                cwd=cwd, process_group=0)


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
        self.process = spawn_child(self.command(), self.log_path, cwd=self.root)

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
# The S3 gateway cluster
# --------------------------------------------------------------------------------------------------------------

GATEWAY_PORT = 18080
CLUSTER_NODE_BASE_PORT = 19151
CLUSTER_NODE_COUNT = 6
CLUSTER_REPLICAS = 2
CLUSTER_UP_TIMEOUT = 240.0
CLUSTER_DOWN_TIMEOUT = 60.0
GATEWAY_READY_TIMEOUT = 60.0


@dataclasses.dataclass
class S3Cluster:
    endpoint: str
    access_key: str
    secret_key: str
    #: host:port of each storage node, when known
    storage_nodes: list[str]
    #: the directory `silo cluster up` ran in (nodes/<n>/ are the node data directories), when known
    cluster_dir: Optional[Path]
    #: a libpq URL of the metadata database, when known
    database_url: Optional[str]
    replicas: int
    #: True when this session started the cluster
    started: bool

    def node_dirs(self) -> list[Path]:
        """The data directory of each node: CLUSTER_DIR/nodes/<n>/ (empty when the directory is unknown)."""
        if self.cluster_dir is None:
            return []
        nodes = self.cluster_dir / "nodes"
        return sorted((path for path in nodes.iterdir() if path.is_dir()), key=lambda p: p.name) \
            if nodes.is_dir() else []


def external_endpoint() -> Optional[str]:
    value = (os.environ.get("API_BASE_URL") or os.environ.get("SILO_ENDPOINT") or "").strip()
    return value or None


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines (blank lines and # comments skipped, surrounding quotes removed)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        name = name.strip()
        if name.startswith("export "):
            name = name[len("export "):].strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name] = value
    return values


def _split_nodes(value: Optional[str]) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def wait_gateway_ready(endpoint: str, timeout: float, require_healthy: bool = True) -> None:
    """Polls GET /health until it answers 200, or (require_healthy=False: a gateway we did not start, whose
    health test_e2e checks) until it answers at all."""
    import requests  # the gRPC-only suites do not need it

    deadline = time.monotonic() + timeout
    last = "no attempt"
    while time.monotonic() < deadline:
        try:
            response = requests.get(endpoint.rstrip("/") + "/health", timeout=2.0)
            if response.status_code == 200 or not require_healthy:
                return
            last = f"GET /health -> {response.status_code} {response.text[:300]!r}"
        except requests.RequestException as error:
            last = f"GET /health: {error}"
        time.sleep(0.25)
    pytest.fail(f"the gateway at {endpoint} was not healthy within {timeout:.0f} s (last: {last})", pytrace=False)


def _cluster_logs(directory: Path, lines: int = 30) -> str:
    logs = sorted(directory.rglob("*.log")) if directory.is_dir() else []
    return "\n".join(f"--- {log} ---\n{_tail(log, lines)}" for log in logs) or f"(no *.log under {directory})"


def _run_cluster_command(arguments: list[str], output: Path, timeout: float) -> tuple[int, str]:
    with open(output, "wb") as sink:
        try:
            status = subprocess.run(arguments, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                    timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            status = -1
    return status, _tail(output, 60)


@pytest.fixture(scope="session")
def s3_cluster() -> Iterator[S3Cluster]:
    """The S3 cluster under test: the one named by API_BASE_URL, or one `silo cluster up` starts for the session."""
    endpoint = external_endpoint()
    if endpoint is not None:
        access_key = os.environ.get("SILO_ACCESS_KEY")
        secret_key = os.environ.get("SILO_SECRET_KEY")
        if not access_key or not secret_key:
            pytest.fail("API_BASE_URL/SILO_ENDPOINT is set but SILO_ACCESS_KEY or SILO_SECRET_KEY is not",
                        pytrace=False)
        cluster_dir = os.environ.get("SILO_CLUSTER_DIR")
        wait_gateway_ready(endpoint, GATEWAY_READY_TIMEOUT, require_healthy=False)
        yield S3Cluster(
            endpoint=endpoint.rstrip("/"), access_key=access_key, secret_key=secret_key,
            storage_nodes=_split_nodes(os.environ.get("STORAGE_NODES")),
            cluster_dir=Path(cluster_dir) if cluster_dir else None,
            database_url=os.environ.get("SILO_DATABASE_URL") or None,
            replicas=int(os.environ.get("SILO_REPLICAS", str(CLUSTER_REPLICAS))),
            started=False)
        return

    binary = silo_binary()
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail(f"silo binary not found at {binary}: build it (swift build --product silo) or set SILO_BIN, "
                    "or point API_BASE_URL at a running gateway", pytrace=False)
    ports = [GATEWAY_PORT] + [CLUSTER_NODE_BASE_PORT + index for index in range(CLUSTER_NODE_COUNT)]
    busy = [port for port in ports if not port_is_free(port)]
    if busy:
        pytest.fail(f"ports {busy} on 127.0.0.1 are busy: the test cluster needs {GATEWAY_PORT} and "
                    f"{CLUSTER_NODE_BASE_PORT}–{CLUSTER_NODE_BASE_PORT + CLUSTER_NODE_COUNT - 1}. A leftover "
                    "cluster? `silo cluster down --dir DIR` stops it; `ss -ltnp` shows who listens",
                    pytrace=False)
    # /var/tmp, not /tmp: on disk (GiB objects), and short enough for PostgreSQL's unix socket path.
    root = Path(tempfile.mkdtemp(prefix="silo-s3-", dir=os.environ.get("SILO_TEST_TMPDIR") or "/var/tmp"))
    root.chmod(0o711)  # PostgreSQL runs as the postgres user when we are root: it must traverse to its directory
    directory = root / "cluster"
    keep = os.environ.get("SILO_KEEP_TMP") == "1"
    up = [str(binary), "cluster", "up", "--dir", str(directory), "--nodes", str(CLUSTER_NODE_COUNT),
          "--replicas", str(CLUSTER_REPLICAS), "--gateway-port", str(GATEWAY_PORT),
          "--node-base-port", str(CLUSTER_NODE_BASE_PORT)]
    down = [str(binary), "cluster", "down", "--dir", str(directory)] + ([] if keep else ["--purge"])
    try:
        status, output = _run_cluster_command(up, root / "cluster-up.out", CLUSTER_UP_TIMEOUT)
        if status != 0:
            pytest.fail(f"`{' '.join(up)}` exited with {status}"
                        f"{' (timed out)' if status == -1 else ''}:\n{output}\n{_cluster_logs(directory)}",
                        pytrace=False)
        env_file = directory / "cluster.env"
        if not env_file.is_file():
            pytest.fail(f"`silo cluster up` wrote no {env_file}:\n{output}", pytrace=False)
        values = read_env_file(env_file)
        endpoint = values.get("API_BASE_URL") or values.get("SILO_ENDPOINT")
        missing = [name for name in ("SILO_ACCESS_KEY", "SILO_SECRET_KEY") if not values.get(name)]
        if not endpoint or missing:
            pytest.fail(f"{env_file} lacks {missing + ([] if endpoint else ['API_BASE_URL'])}: "
                        f"{sorted(values)}", pytrace=False)
        wait_gateway_ready(endpoint, GATEWAY_READY_TIMEOUT)
        yield S3Cluster(
            endpoint=endpoint.rstrip("/"), access_key=values["SILO_ACCESS_KEY"],
            secret_key=values["SILO_SECRET_KEY"], storage_nodes=_split_nodes(values.get("STORAGE_NODES")),
            cluster_dir=Path(values.get("SILO_CLUSTER_DIR") or directory),
            database_url=values.get("SILO_DATABASE_URL") or None,
            replicas=int(values.get("SILO_REPLICAS") or CLUSTER_REPLICAS), started=True)
    finally:
        status, output = _run_cluster_command(down, root / "cluster-down.out", CLUSTER_DOWN_TIMEOUT)
        if status != 0:
            sys.stderr.write(f"\nwarning: `{' '.join(down)}` exited with {status}:\n{output}\n")
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def s3(s3_cluster: S3Cluster):
    """An S3 client (requests + our SigV4) with the cluster's credentials."""
    import s3_helpers

    return s3_helpers.S3(s3_cluster.endpoint,
                         s3_helpers.Credentials(s3_cluster.access_key, s3_cluster.secret_key))


@pytest.fixture(scope="session")
def boto3_s3(s3_cluster: S3Cluster):
    """A boto3 S3 client on the cluster: path-style, no retries (a retry would hide the first failure)."""
    import boto3
    from botocore.config import Config

    import s3_helpers

    return boto3.client(
        "s3", endpoint_url=s3_cluster.endpoint, region_name=s3_helpers.REGION,
        aws_access_key_id=s3_cluster.access_key, aws_secret_access_key=s3_cluster.secret_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"total_max_attempts": 1},
                      max_pool_connections=64, connect_timeout=10, read_timeout=120))


@pytest.fixture
def bucket(s3) -> Iterator[str]:
    """A fresh, empty bucket for one test; emptied and deleted after it."""
    import s3_helpers

    name = s3_helpers.unique_bucket("t")
    response = s3.create_bucket(name)
    assert response.status_code == 200, f"CreateBucket {name}: {s3_helpers.describe(response)}"
    try:
        yield name
    finally:
        s3.remove_bucket(name)


@pytest.fixture
def database_url(s3_cluster: S3Cluster) -> str:
    """The metadata database of the cluster (a libpq URL for psql); skips when unknown."""
    if s3_cluster.database_url is None:
        pytest.skip("needs the metadata database: set SILO_DATABASE_URL for an external cluster")
    if shutil.which("psql") is None:
        pytest.skip("needs psql (Debian's postgresql-client)")
    return s3_cluster.database_url


@pytest.fixture
def cluster_node_dirs(s3_cluster: S3Cluster) -> list[Path]:
    """The data directory of every node of the cluster; skips when they are not on this machine."""
    dirs = s3_cluster.node_dirs()
    if not dirs:
        pytest.skip("needs the nodes' data directories: set SILO_CLUSTER_DIR for an external cluster")
    return dirs


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
