"""`silo cluster up|down|status` through the real `silo` binary (SILO_BIN, default .build/debug/silo).

Each cluster lives in a temporary directory under /var/tmp (short enough for PostgreSQL's socket path, and
reachable by the postgres user the server runs as under root), on free loopback ports, with 2 nodes and one
replica. Whatever a test starts is stopped: `silo cluster down`, then SIGKILL for any process that still
names the directory, then the directory is removed.

Until `silo gateway` accepts `--listen` (checked through its --help), clusters are started with
`--no-gateway` and the gateway's assertions are skipped; they turn on by themselves once it does.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Optional

import pytest

import grpc_helpers as gh
from conftest import port_is_free, silo_binary

UP_TIMEOUT = 180.0
COMMAND_TIMEOUT = 60.0
NODE_COUNT = 2

ENV_KEYS = ["SILO_ACCESS_KEY", "SILO_SECRET_KEY", "STORAGE_NODES", "SILO_DATABASE_URL", "SILO_CLUSTER_DIR",
            "SILO_REPLICAS"]
GATEWAY_ENV_KEYS = ["SILO_ENDPOINT", "API_BASE_URL"]
ACCESS_KEY = re.compile(r"^SILO[A-Z0-9]{16}$")
SECRET_KEY = re.compile(r"^[A-Za-z0-9+/]{40}$")


# --------------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------------

def silo(*arguments: str, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess:
    binary = silo_binary()
    if not binary.is_file():
        pytest.fail(f"silo binary not found at {binary}: build it (swift build --product silo) or set SILO_BIN",
                    pytrace=False)
    environment = {key: value for key, value in os.environ.items() if key != "SILO_DATABASE_URL"}
    return subprocess.run([str(binary), *arguments], capture_output=True, text=True, timeout=timeout,
                          env=environment, stdin=subprocess.DEVNULL)


@lru_cache(maxsize=1)
def gateway_ready() -> bool:
    """True once `silo gateway` takes --listen (the flag `silo cluster up` starts it with)."""
    try:
        result = silo("gateway", "--help", timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--listen" in result.stdout + result.stderr


GATEWAY_SKIP = "silo gateway does not take --listen yet (`silo gateway --help`): the cluster runs without it"


def free_port_run(count: int, avoid: frozenset[int] = frozenset()) -> int:
    """The first of `count` consecutive free loopback ports, none of them in `avoid`."""
    for _ in range(200):
        base = random.randrange(20000, 32000 - count)  # above the fixed ports, below the ephemeral range
        ports = range(base, base + count)
        if not avoid.intersection(ports) and all(port_is_free(port) for port in ports):
            return base
    pytest.fail(f"found no run of {count} free loopback ports", pytrace=False)


def parse_env(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


def is_running(pid: int) -> bool:
    """Alive and not a zombie (a zombie's parent may never reap it; it runs nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def processes_naming(directory: Path) -> list[int]:
    """Pids of running processes whose command line names `directory` (nodes, gateway, postgres -D …)."""
    needle = str(directory).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command_line = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in command_line and is_running(int(entry.name)):
            found.append(int(entry.name))
    return found


def recorded_pids(directory: Path) -> dict[str, int]:
    """name -> pid from DIR/pids/*.pid and PostgreSQL's postmaster.pid."""
    pids = {path.stem: int(path.read_text().split()[0]) for path in (directory / "pids").glob("*.pid")}
    postmaster = directory / "postgres" / "data" / "postmaster.pid"
    if postmaster.exists():
        pids["postgresql"] = int(postmaster.read_text().split()[0])
    return pids


class ClusterUnderTest:
    """One cluster directory with its ports; `up()` starts it, the fixture tears it down."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.node_base_port = free_port_run(NODE_COUNT)
        self.gateway_port = free_port_run(1, frozenset(range(self.node_base_port, self.node_base_port + NODE_COUNT)))
        self.with_gateway = gateway_ready()

    @property
    def node_addresses(self) -> list[str]:
        return [f"127.0.0.1:{self.node_base_port + index}" for index in range(NODE_COUNT)]

    def up_arguments(self) -> list[str]:
        arguments = ["cluster", "up", "--dir", str(self.directory), "--nodes", str(NODE_COUNT), "--replicas", "1",
                     "--gateway-port", str(self.gateway_port), "--node-base-port", str(self.node_base_port),
                     "--no-durable"]
        return arguments if self.with_gateway else arguments + ["--no-gateway"]

    def up(self, expect_ok: bool = True) -> subprocess.CompletedProcess:
        result = silo(*self.up_arguments(), timeout=UP_TIMEOUT)
        if expect_ok:
            assert result.returncode == 0, f"silo cluster up exited with {result.returncode}:\n{result.stderr}"
        return result

    def status(self, *extra: str) -> subprocess.CompletedProcess:
        return silo("cluster", "status", "--dir", str(self.directory), *extra)

    def down(self, *extra: str) -> subprocess.CompletedProcess:
        return silo("cluster", "down", "--dir", str(self.directory), *extra)

    def environment(self) -> dict[str, str]:
        return parse_env((self.directory / "cluster.env").read_text())

    def teardown(self) -> None:
        try:
            self.down()
        except subprocess.TimeoutExpired:
            pass
        for pid in processes_naming(self.directory):  # whatever `down` missed must not outlive the test
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if os.environ.get("SILO_KEEP_TMP") != "1":
            shutil.rmtree(self.directory, ignore_errors=True)


def new_cluster() -> ClusterUnderTest:
    # /var/tmp: short (sun_path holds 108 bytes) and on disk; `up` lets the postgres user through the 0700
    # directory mkdtemp makes.
    return ClusterUnderTest(Path(tempfile.mkdtemp(prefix="silo-ct-", dir="/var/tmp")))


@pytest.fixture
def cluster() -> Iterator[ClusterUnderTest]:
    """A cluster directory of its own, not started."""
    under_test = new_cluster()
    try:
        yield under_test
    finally:
        under_test.teardown()


@pytest.fixture(scope="module")
def running() -> Iterator[tuple[ClusterUnderTest, subprocess.CompletedProcess]]:
    """One cluster started for the read-only tests of this module, and the result of its `up`."""
    under_test = new_cluster()
    try:
        yield under_test, under_test.up()
    finally:
        under_test.teardown()


# --------------------------------------------------------------------------------------------------------------
# up
# --------------------------------------------------------------------------------------------------------------

class TestUp:
    def test_cluster_env_has_every_key_and_matches_stdout(self, running):
        under_test, result = running
        environment = under_test.environment()
        for key in ENV_KEYS:
            assert environment.get(key), f"{key} missing from cluster.env: {environment}"
        for key in GATEWAY_ENV_KEYS:
            assert (key in environment) == under_test.with_gateway, key
        assert environment["STORAGE_NODES"].split(",") == under_test.node_addresses
        assert environment["SILO_CLUSTER_DIR"] == str(under_test.directory)
        assert environment["SILO_REPLICAS"] == "1"
        assert ACCESS_KEY.match(environment["SILO_ACCESS_KEY"])
        assert SECRET_KEY.match(environment["SILO_SECRET_KEY"])
        assert environment["SILO_DATABASE_URL"].startswith("postgresql://")
        if under_test.with_gateway:
            assert environment["SILO_ENDPOINT"] == f"http://127.0.0.1:{under_test.gateway_port}"
            assert environment["API_BASE_URL"] == environment["SILO_ENDPOINT"]
        # What up printed is the file, line for line (progress goes to stderr).
        assert result.stdout == (under_test.directory / "cluster.env").read_text()

    def test_cluster_env_is_shell_sourceable(self, running):
        under_test, _ = running
        script = f"set -a; . '{under_test.directory}/cluster.env'; set +a; env -0"
        shell = subprocess.run(["bash", "-c", script], capture_output=True, check=True, timeout=COMMAND_TIMEOUT,
                               env={"PATH": os.environ.get("PATH", "")})
        sourced = dict(item.split("=", 1) for item in shell.stdout.decode().split("\0") if "=" in item)
        for key, value in under_test.environment().items():
            assert sourced.get(key) == value, key

    def test_layout_pid_files_and_detached_processes(self, running):
        under_test, _ = running
        directory = under_test.directory
        pids = recorded_pids(directory)
        expected = {"postgresql", *(f"node-{n}" for n in range(1, NODE_COUNT + 1))}
        if under_test.with_gateway:
            expected.add("gateway")
        assert set(pids) == expected
        for name, pid in pids.items():
            assert is_running(pid), f"{name} (pid {pid}) is not running"
        for n in range(1, NODE_COUNT + 1):
            assert (directory / "nodes" / str(n)).is_dir()
            assert (directory / "logs" / f"node-{n}.log").is_file()
            node_pid = pids[f"node-{n}"]
            # A session of its own (so a terminal's Ctrl-C does not reach it), stdin /dev/null, output to its log.
            assert os.getsid(node_pid) == node_pid
            assert os.readlink(f"/proc/{node_pid}/fd/0") == "/dev/null"
            assert os.readlink(f"/proc/{node_pid}/fd/1") == str(directory / "logs" / f"node-{n}.log")

    def test_nodes_answer_health_check_with_their_ids(self, running):
        under_test, _ = running
        for address in under_test.node_addresses:
            channel = gh.new_channel(address)
            try:
                response = gh.health(gh.new_stub(channel), timeout=10.0)
            finally:
                channel.close()
            assert response.node_id == address.replace(":", "-")

    def test_nodes_and_key_are_in_the_metadata(self, running):
        under_test, _ = running
        environment = under_test.environment()
        url = environment["SILO_DATABASE_URL"]
        nodes = json.loads(silo("admin", "nodes", "list", "--json", "--database-url", url).stdout)
        assert {node["address"]: node["state"] for node in nodes} == {a: "up" for a in under_test.node_addresses}
        keys = json.loads(silo("admin", "keys", "list", "--json", "--database-url", url).stdout)
        assert environment["SILO_ACCESS_KEY"] in [key["access_key"] for key in keys]

    def test_second_up_refuses_and_leaves_the_cluster_alone(self, running):
        under_test, _ = running
        before = recorded_pids(under_test.directory)
        again = under_test.up(expect_ok=False)
        assert again.returncode == 1, again.stderr
        assert "already running" in again.stderr
        assert recorded_pids(under_test.directory) == before
        assert all(is_running(pid) for pid in before.values())
        assert under_test.status().returncode == 0


class TestGateway:
    @pytest.fixture(autouse=True)
    def _needs_gateway(self):
        if not gateway_ready():
            pytest.skip(GATEWAY_SKIP)

    def test_health_is_green(self, running):
        under_test, _ = running
        endpoint = under_test.environment()["SILO_ENDPOINT"]
        with urllib.request.urlopen(endpoint + "/health", timeout=10) as response:
            assert response.status == 200
            assert json.loads(response.read())["status"] == "ok"

    def test_credentials_work_with_boto3(self, running):
        boto3 = pytest.importorskip("boto3")
        from botocore.config import Config

        under_test, _ = running
        environment = under_test.environment()
        client = boto3.client("s3", endpoint_url=environment["SILO_ENDPOINT"], region_name="us-east-1",
                              aws_access_key_id=environment["SILO_ACCESS_KEY"],
                              aws_secret_access_key=environment["SILO_SECRET_KEY"],
                              config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
        bucket = "cluster-smoke"
        client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=bucket, Key="hello.txt", Body=b"hello, cluster")
        assert client.get_object(Bucket=bucket, Key="hello.txt")["Body"].read() == b"hello, cluster"


# --------------------------------------------------------------------------------------------------------------
# status
# --------------------------------------------------------------------------------------------------------------

class TestStatus:
    def test_running_cluster_is_exit_0_with_every_process(self, running):
        under_test, _ = running
        result = under_test.status()
        assert result.returncode == 0, result.stdout + result.stderr
        for address in under_test.node_addresses:
            assert address in result.stdout
        report = json.loads(under_test.status("--json").stdout)
        assert report["state"] == "running"
        names = {component["name"] for component in report["components"] if component["alive"]}
        assert {"postgresql", "node-1", "node-2"} <= names
        if under_test.with_gateway:
            assert "gateway" in names
            assert report["gateway_health"]["status"] == 200

    def test_missing_directory_is_exit_3(self, tmp_path):
        result = silo("cluster", "status", "--dir", str(tmp_path / "nothing-here"))
        assert result.returncode == 3, result.stdout + result.stderr
        assert "not running" in result.stdout

    def test_partly_running_is_exit_1(self, cluster):
        cluster.up()
        node = recorded_pids(cluster.directory)["node-2"]
        os.kill(node, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while is_running(node) and time.monotonic() < deadline:
            time.sleep(0.05)
        result = cluster.status()
        assert result.returncode == 1, result.stdout + result.stderr
        assert "partly running" in result.stdout


# --------------------------------------------------------------------------------------------------------------
# down
# --------------------------------------------------------------------------------------------------------------

class TestDown:
    def test_down_stops_every_process_keeps_data_and_is_safe_twice(self, cluster):
        cluster.up()
        pids = recorded_pids(cluster.directory)
        assert pids and all(is_running(pid) for pid in pids.values())

        result = cluster.down()
        assert result.returncode == 0, result.stderr
        for name, pid in pids.items():
            assert not is_running(pid), f"{name} (pid {pid}) still runs after down"
        assert processes_naming(cluster.directory) == []
        assert not (cluster.directory / "cluster.env").exists()
        assert list((cluster.directory / "pids").glob("*.pid")) == []
        assert (cluster.directory / "postgres" / "data" / "PG_VERSION").exists()
        assert (cluster.directory / "nodes" / "1").is_dir()

        assert cluster.status().returncode == 3
        again = cluster.down()
        assert again.returncode == 0, again.stderr
        assert "nothing was running" in again.stdout

    def test_up_after_down_keeps_credentials_then_purge_removes_everything(self, cluster):
        first = parse_env(cluster.up().stdout)
        assert cluster.down().returncode == 0
        second = parse_env(cluster.up().stdout)
        assert (second["SILO_ACCESS_KEY"], second["SILO_SECRET_KEY"]) == \
            (first["SILO_ACCESS_KEY"], first["SILO_SECRET_KEY"])
        assert cluster.status().returncode == 0

        purged = cluster.down("--purge")
        assert purged.returncode == 0, purged.stderr
        assert not cluster.directory.exists()
        assert processes_naming(cluster.directory) == []

    def test_purge_keeps_a_directory_holding_foreign_files(self, cluster):
        (cluster.directory / "pids").mkdir()
        (cluster.directory / "my-notes.txt").write_text("not silo's\n")
        result = cluster.down("--purge")
        assert result.returncode == 1
        assert "my-notes.txt" in result.stderr
        assert (cluster.directory / "my-notes.txt").exists()

    def test_down_of_a_missing_directory_is_a_no_op(self, tmp_path):
        result = silo("cluster", "down", "--dir", str(tmp_path / "nothing-here"))
        assert result.returncode == 0, result.stderr
        assert not (tmp_path / "nothing-here").exists()


# --------------------------------------------------------------------------------------------------------------
# Failures of up leave nothing behind
# --------------------------------------------------------------------------------------------------------------

class TestUpFailures:
    def test_busy_node_port_is_refused_before_anything_starts(self, cluster):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as free_port_run probed it
            holder.bind(("127.0.0.1", cluster.node_base_port + 1))
            holder.listen()
            result = cluster.up(expect_ok=False)
        assert result.returncode == 1
        assert f"port {cluster.node_base_port + 1}" in result.stderr
        assert processes_naming(cluster.directory) == []
        assert not (cluster.directory / "cluster.env").exists()

    def test_failure_after_start_stops_what_was_started(self, cluster):
        # nodes/2 as a file: up starts PostgreSQL and node 1, then cannot create node 2's data directory.
        (cluster.directory / "nodes").mkdir()
        (cluster.directory / "nodes" / "2").write_text("in the way\n")
        result = cluster.up(expect_ok=False)
        assert result.returncode == 1
        assert "nodes/2" in result.stderr
        assert processes_naming(cluster.directory) == []
        assert list((cluster.directory / "pids").glob("*.pid")) == []
        assert not (cluster.directory / "cluster.env").exists()

    def test_interrupt_during_up_stops_what_was_started(self, cluster):
        process = subprocess.Popen([str(silo_binary()), *cluster.up_arguments()], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            seen = ""
            while "waiting for them to listen" not in seen:
                line = process.stderr.readline()
                if not line:
                    break
                seen += line
            assert "waiting for them to listen" in seen, seen
            process.send_signal(signal.SIGINT)
            _, rest = process.communicate(timeout=COMMAND_TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert process.returncode == 128 + signal.SIGINT, seen + rest
        assert processes_naming(cluster.directory) == []
        assert list((cluster.directory / "pids").glob("*.pid")) == []
