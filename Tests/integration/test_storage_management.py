"""Storage management on real processes: membership, heartbeats, repair, scrub, drain and rebalance.

Each test runs its own cluster: a database of its own in the suite's PostgreSQL, `silo node` processes it
can kill -9, wipe, corrupt or add to, and one or two `silo gateway` processes with quick repair settings.
Names follow the reference system's phase-2 list (../shared/reference): dynamic server addition, server
removal, failover, heartbeat monitoring, hash ring refresh.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Callable, Iterator, Optional

import boto3
import pytest
from botocore.config import Config

from conftest import NodeProcess, port_is_free, silo_binary, spawn_child

CHUNK_BYTES = 256 << 10
REPLICAS = 2
LOST_AFTER = 4
#: Gateways in these tests: small chunks (many of them in a few MiB), no repair rate cap, a short GC grace.
GATEWAY_ARGS = ("--replicas", str(REPLICAS), "--chunk-bytes", str(CHUNK_BYTES), "--node-lost-after", str(LOST_AFTER),
                "--repair-bytes-per-second", "0", "--gc-grace-seconds", "1")
COMMAND_TIMEOUT = 60
_used_ports: set[int] = set()


def free_port() -> int:
    """A free loopback port in 20000–32000 (fixed ports sit below 20000, the kernel's above 32768)."""
    for _ in range(200):
        port = random.randint(20000, 32000)
        if port not in _used_ports and port_is_free(port):
            _used_ports.add(port)
            return port
    raise RuntimeError("no free port in 20000–32000")


def spawn(command: list[str], log_path: Path, cwd: Optional[Path] = None) -> subprocess.Popen:
    return spawn_child(command, log_path, cwd=cwd, append=True)


def wait_until(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})", pytrace=False)


def payload(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


class Gateway:
    def __init__(self, root: Path, database_url: str, extra: tuple[str, ...]):
        self.port = free_port()
        self.log_path = root / f"gateway-{self.port}.log"
        command = [str(silo_binary()), "gateway", "--listen", f"127.0.0.1:{self.port}", "--database-url", database_url,
                   *GATEWAY_ARGS, *extra]
        self.process = spawn(command, self.log_path)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def health(self) -> Optional[dict]:
        try:
            with urllib.request.urlopen(self.endpoint + "/health", timeout=5) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            return json.loads(error.read())
        except (OSError, ValueError):
            return None

    def node_states(self) -> dict[str, str]:
        report = self.health() or {}
        return {node["id"]: node["state"] for node in report.get("nodes", [])}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


class ManagedCluster:
    """Nodes, gateways and a database of one test."""

    def __init__(self, server_url: str, node_count: int, node_args: tuple[str, ...] = (),
                 gateway_args: tuple[str, ...] = (), gateways: int = 1):
        self.root = Path(tempfile.mkdtemp(prefix="silo-sm-", dir=os.environ.get("SILO_TEST_TMPDIR") or None))
        self.server_url = server_url
        self.database = f"sm_{uuid.uuid4().hex[:12]}"
        self.psql(f"CREATE DATABASE {self.database}", url=server_url)
        parts = urllib.parse.urlsplit(server_url)
        self.database_url = urllib.parse.urlunsplit(parts._replace(path="/" + self.database))
        self.node_args = node_args
        self.nodes: dict[str, NodeProcess] = {}
        self.gateways: list[Gateway] = []
        self._counter = 0
        try:
            for _ in range(node_count):
                self.add_node()
            keys = json.loads(self.admin("keys", "create", "--json").stdout)
            self.access_key, self.secret_key = keys["access_key"], keys["secret_key"]
            for _ in range(gateways):
                self.start_gateway(gateway_args)
        except BaseException:
            self.close()
            raise

    # -- processes --------------------------------------------------------------------------------------------

    def add_node(self, *extra: str, register: bool = True) -> NodeProcess:
        self._counter += 1
        node = NodeProcess(port=free_port(), node_id=f"sm-{self._counter}", extra_args=(*self.node_args, *extra))
        self.nodes[node.node_id] = node
        node.root = self.root / node.node_id
        node.root.mkdir()
        node.data_dir.mkdir()
        node.process = spawn(node.command(), node.log_path, cwd=node.root)
        node.wait_ready()
        if register:
            self.admin("nodes", "add", node.address, "--node-id", node.node_id)
        return node

    def start_gateway(self, extra: tuple[str, ...] = ()) -> Gateway:
        gateway = Gateway(self.root, self.database_url, extra)
        self.gateways.append(gateway)
        wait_until(lambda: (gateway.health() or {}).get("status") == "ok", 60,
                   f"gateway {gateway.endpoint} healthy (log {gateway.log_path})")
        return gateway

    def kill9(self, node: NodeProcess) -> None:
        assert node.process is not None
        node.process.send_signal(signal.SIGKILL)
        node.process.wait(timeout=10)

    def respawn(self, node: NodeProcess) -> None:
        """Starts a stopped node again on its own data directory."""
        node.data_dir.mkdir(parents=True, exist_ok=True)
        node.process = spawn(node.command(), node.log_path, cwd=node.root)
        node.wait_ready()

    def close(self) -> None:
        for gateway in self.gateways:
            gateway.stop()
        for node in self.nodes.values():
            node.cleanup()
        try:
            self.psql(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)", url=self.server_url)
        except AssertionError:
            pass
        if os.environ.get("SILO_KEEP_TMP") != "1":
            shutil.rmtree(self.root, ignore_errors=True)

    # -- clients ----------------------------------------------------------------------------------------------

    def s3(self, gateway: int = 0, attempts: int = 1):
        return boto3.client("s3", endpoint_url=self.gateways[gateway].endpoint, region_name="us-east-1",
                            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                            config=Config(s3={"addressing_style": "path"},
                                          retries={"max_attempts": attempts, "mode": "standard"},
                                          connect_timeout=10, read_timeout=60))

    def admin(self, *arguments: str, expect_ok: bool = True) -> subprocess.CompletedProcess:
        command = [str(silo_binary()), "admin", *arguments, "--database-url", self.database_url]
        result = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
        if expect_ok:
            assert result.returncode == 0, f"{' '.join(command)}: {result.returncode}\n{result.stderr}"
        return result

    def psql(self, sql: str, url: Optional[str] = None) -> list[list[str]]:
        result = subprocess.run(["psql", url or self.database_url, "-X", "-q", "-A", "-t", "-F", "|",
                                 "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True,
                                timeout=COMMAND_TIMEOUT)
        assert result.returncode == 0, f"psql: {result.stderr}"
        return [line.split("|") for line in result.stdout.splitlines() if line]

    def status(self) -> dict:
        return json.loads(self.admin("cluster", "status", "--json").stdout)

    def node_rows(self) -> dict[str, dict]:
        return {row["id"]: row for row in json.loads(self.admin("nodes", "list", "--json").stdout)}

    def replicas(self) -> dict[str, list[str]]:
        """Every object chunk's replica list, by chunk id."""
        rows = self.psql("SELECT chunk_id, array_to_string(replica_node_ids, ',') FROM chunks")
        return {chunk: nodes.split(",") for chunk, nodes in rows}

    def full_chunk(self, last: bool = False) -> tuple[str, list[str]]:
        """A chunk holding a whole CHUNK_BYTES of data, and its replicas. A flipped byte must land in data: the
        tail chunk of an object of CHUNK_BYTES × n + 1 bytes is one byte long, and byte 5096 of its file is the
        alignment padding no read or scrub looks at."""
        rows = self.psql(f"SELECT chunk_id, array_to_string(replica_node_ids, ',') FROM chunks "
                         f"WHERE length_bytes = {CHUNK_BYTES} ORDER BY chunk_id {'DESC' if last else 'ASC'} LIMIT 1")
        assert rows, "no chunk of CHUNK_BYTES"
        return rows[0][0], rows[0][1].split(",")

    def garbage(self) -> int:
        return int(self.psql("SELECT count(*) FROM gc_queue")[0][0])

    def chunk_file(self, node: NodeProcess, chunk: str) -> Optional[Path]:
        found = list((node.data_dir / "chunks").glob(f"*/{chunk}"))
        return found[0] if found else None

    def fully_replicated(self, excluding: set[str] = frozenset()) -> bool:
        replicas = self.replicas()
        return bool(replicas) and all(len(set(nodes)) == REPLICAS and not excluding & set(nodes)
                                      for nodes in replicas.values())

    # -- data -------------------------------------------------------------------------------------------------

    def put_objects(self, bucket: str, count: int, size: int, seed: int = 0, gateway: int = 0) -> dict[str, str]:
        client = self.s3(gateway)
        client.create_bucket(Bucket=bucket)
        digests = {}
        for index in range(count):
            body = payload(size + index, seed + index)
            client.put_object(Bucket=bucket, Key=f"object-{index:04d}", Body=body)
            digests[f"object-{index:04d}"] = hashlib.md5(body).hexdigest()
        return digests

    def check_objects(self, bucket: str, digests: dict[str, str], gateway: int = 0, attempts: int = 1) -> None:
        client = self.s3(gateway, attempts=attempts)
        for key, digest in digests.items():
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            assert hashlib.md5(body).hexdigest() == digest, f"{key} differs"


@pytest.fixture
def server_url(database_url: str) -> str:
    """The suite's PostgreSQL server (its `postgres` database), where each test makes a database of its own."""
    parts = urllib.parse.urlsplit(database_url)
    if parts.scheme not in ("postgresql", "postgres"):
        pytest.skip("needs the metadata database as a postgresql:// URL")
    return urllib.parse.urlunsplit(parts._replace(path="/postgres"))


@pytest.fixture
def managed(server_url) -> Iterator[Callable[..., ManagedCluster]]:
    made: list[ManagedCluster] = []

    def make(node_count: int = 6, **options) -> ManagedCluster:
        cluster = ManagedCluster(server_url, node_count, **options)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.close()


# ------------------------------------------------------------------------------------------------------------
# The reference system's phase-2 list
# ------------------------------------------------------------------------------------------------------------

def test_dynamic_server_addition(managed):
    """A node joins three: only the chunks it now owns move (≤ 1/N + 5% of the copies), all readable throughout."""
    cluster = managed(3)
    digests = cluster.put_objects("grow", 100, 4 * CHUNK_BYTES - 1000, seed=1)
    before = cluster.replicas()
    passes = wait_until(lambda: (cluster.status().get("repair") or {}).get("rebalancePasses"), 30,
                        "the first rebalance pass")

    stop = threading.Event()
    errors: list[str] = []

    def reader() -> None:
        client = cluster.s3()
        keys = sorted(digests)
        while not stop.is_set():
            key = random.choice(keys)
            try:
                body = client.get_object(Bucket="grow", Key=key)["Body"].read()
                if hashlib.md5(body).hexdigest() != digests[key]:
                    errors.append(f"{key}: wrong bytes")
            except Exception as error:  # noqa: BLE001 - every failure is a finding
                errors.append(f"{key}: {error}")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        added = cluster.add_node()
        wait_until(lambda: (cluster.status().get("repair") or {}).get("rebalancePasses", 0) > passes, 60,
                   "a rebalance pass after the node joined")
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not errors, errors[:5]

    after = cluster.replicas()
    assert set(after) == set(before)
    copies = sum(len(nodes) for nodes in before.values())
    moved = sum(len(set(after[chunk]) - set(before[chunk])) for chunk in before)
    gained = {node for chunk in before for node in set(after[chunk]) - set(before[chunk])}
    assert gained == {added.node_id}, f"copies moved between old nodes: {gained}"
    fraction = moved / copies
    assert 0 < fraction <= 1 / 4 + 0.05, f"moved {moved} of {copies} copies ({fraction:.3f})"
    assert cluster.fully_replicated()
    wait_until(lambda: cluster.garbage() == 0, 30, "GC of the moved copies")
    for node in list(cluster.nodes.values())[:3]:
        on_disk = {path.name for path in (node.data_dir / "chunks").glob("*/*")}
        named = {chunk for chunk, nodes in after.items() if node.node_id in nodes}
        assert on_disk == named, f"{node.node_id}: {len(on_disk - named)} stale, {len(named - on_disk)} missing"
    cluster.check_objects("grow", digests)


def test_server_removal(managed):
    """Drain, then remove: refused while the node holds copies, nothing lost, its disk emptied."""
    cluster = managed(4)
    digests = cluster.put_objects("shrink", 20, 3 * CHUNK_BYTES, seed=2)
    leaving = cluster.nodes["sm-2"]
    refused = cluster.admin("nodes", "remove", leaving.node_id, expect_ok=False)
    assert refused.returncode == 1 and "drain it first" in refused.stderr

    drained = cluster.admin("nodes", "drain", leaving.node_id)
    assert "is draining" in drained.stdout
    wait_until(lambda: cluster.node_rows()[leaving.node_id]["membership"] == "draining", 5, "membership draining")
    wait_until(lambda: cluster.fully_replicated(excluding={leaving.node_id}), 60, "every copy off the draining node")
    wait_until(lambda: cluster.garbage() == 0, 30, "GC of the drained copies")
    assert not list((leaving.data_dir / "chunks").glob("*/*")), "the drained node still holds chunk files"
    cluster.admin("nodes", "remove", leaving.node_id)
    assert leaving.node_id not in cluster.node_rows()
    cluster.check_objects("shrink", digests)


def test_failover(managed):
    """kill -9 a node under load: reads and writes go on (client retries as SDKs do), nothing acknowledged is lost."""
    cluster = managed(6)
    stop = threading.Event()
    written: dict[str, str] = {}
    failures: list[str] = []
    lock = threading.Lock()

    def writer(worker: int) -> None:
        client = cluster.s3(attempts=5)
        index = 0
        while not stop.is_set():
            key = f"w{worker}-{index}"
            body = payload(2 * CHUNK_BYTES + 17 * index, worker * 1000 + index)
            try:
                client.put_object(Bucket="failover", Key=key, Body=body)
                with lock:
                    written[key] = hashlib.md5(body).hexdigest()
            except Exception as error:  # noqa: BLE001
                failures.append(f"PUT {key}: {error}")
            index += 1

    def reader() -> None:
        client = cluster.s3(attempts=5)
        while not stop.is_set():
            with lock:
                items = list(written.items())
            if not items:
                time.sleep(0.05)
                continue
            key, digest = random.choice(items)
            try:
                body = client.get_object(Bucket="failover", Key=key)["Body"].read()
                if hashlib.md5(body).hexdigest() != digest:
                    failures.append(f"GET {key}: wrong bytes")
            except Exception as error:  # noqa: BLE001
                failures.append(f"GET {key}: {error}")

    cluster.s3().create_bucket(Bucket="failover")
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(writer, 0), pool.submit(writer, 1), pool.submit(reader), pool.submit(reader)]
        time.sleep(3)
        victim = cluster.nodes["sm-3"]
        cluster.kill9(victim)
        time.sleep(8)
        stop.set()
        for future in futures:
            future.result(timeout=120)
    assert not failures, failures[:5]
    assert len(written) > 10
    # Everything acknowledged is there, with the victim still dead.
    cluster.check_objects("failover", written, attempts=3)


def test_heartbeat_monitoring(managed):
    """Down after missed beats, up again when it answers, lost after --node-lost-after (and then repaired)."""
    cluster = managed(4)
    digests = cluster.put_objects("beats", 10, 2 * CHUNK_BYTES, seed=4)
    node = cluster.nodes["sm-1"]
    gateway = cluster.gateways[0]
    cluster.kill9(node)
    started = time.monotonic()
    wait_until(lambda: gateway.node_states().get(node.node_id) == "down", 15, "the gateway to mark the node down")
    wait_until(lambda: cluster.node_rows()[node.node_id]["state"] == "down", 10, "the table to record it down")
    assert time.monotonic() - started < LOST_AFTER + 10
    cluster.respawn(node)
    wait_until(lambda: gateway.node_states().get(node.node_id) == "up", 15, "the node up again")
    wait_until(lambda: cluster.node_rows()[node.node_id]["state"] == "up", 10, "the table to record it up")
    assert not any(row["lost"] for row in cluster.status()["nodes"])

    cluster.kill9(node)
    wait_until(lambda: next(row for row in cluster.status()["nodes"] if row["id"] == node.node_id)["lost"],
               LOST_AFTER + 20, "the node counted lost")
    wait_until(lambda: cluster.fully_replicated(excluding={node.node_id}), 60, "its copies restored elsewhere")
    status = cluster.status()
    assert status["under_replicated_chunks"] == 0 and status["repair"]["chunksRepaired"] > 0
    cluster.check_objects("beats", digests)


def test_hash_ring_refresh(managed):
    """Two gateways see the same membership after a change: an added node and a draining one."""
    cluster = managed(3, gateways=2)
    first, second = cluster.gateways
    added = cluster.add_node()
    for gateway in (first, second):
        wait_until(lambda: gateway.node_states().get(added.node_id) == "up", 15, f"{gateway.endpoint} to see the new node")
    cluster.admin("nodes", "drain", "sm-1")
    for gateway in (first, second):
        wait_until(lambda: gateway.node_states().get("sm-1") == "draining", 15, f"{gateway.endpoint} to see the drain")
    # Neither gateway places new chunks on the draining node.
    known = set(cluster.replicas())
    for index, gateway in enumerate((0, 1)):
        cluster.put_objects(f"ring{index}", 6, 3 * CHUNK_BYTES, seed=50 + index, gateway=gateway)
    new = {chunk: nodes for chunk, nodes in cluster.replicas().items() if chunk not in known}
    assert new and not any("sm-1" in nodes for nodes in new.values())


# ------------------------------------------------------------------------------------------------------------
# Repair, scrub and capacity
# ------------------------------------------------------------------------------------------------------------

def test_lost_node_with_deleted_directory_is_repaired(managed):
    """kill -9 and rm -rf a node: full redundancy comes back, then a second node can die with nothing lost."""
    cluster = managed(6)
    digests = cluster.put_objects("lost", 40, 3 * CHUNK_BYTES, seed=6)
    victim = cluster.nodes["sm-2"]
    held = sum(1 for nodes in cluster.replicas().values() if victim.node_id in nodes)
    assert held > 0
    cluster.kill9(victim)
    shutil.rmtree(victim.data_dir)
    wait_until(lambda: cluster.fully_replicated(excluding={victim.node_id}), LOST_AFTER + 90,
               "full redundancy without the lost node")
    status = cluster.status()
    assert status["under_replicated_chunks"] == 0, status
    assert status["repair"]["chunksRepaired"] >= held
    # Every chunk has two good copies: a second node may die now.
    cluster.kill9(cluster.nodes["sm-5"])
    cluster.check_objects("lost", digests, attempts=3)


def test_node_on_an_empty_directory_is_not_trusted(managed):
    """A node restarted on a wiped directory answers with a new identity: never up until the operator says so."""
    cluster = managed(4)
    digests = cluster.put_objects("wiped", 10, 2 * CHUNK_BYTES, seed=7)
    node = cluster.nodes["sm-3"]
    wait_until(lambda: cluster.node_rows()[node.node_id]["instance_id"], 10, "the node's identity recorded")
    cluster.kill9(node)
    shutil.rmtree(node.data_dir)
    cluster.respawn(node)
    gateway = cluster.gateways[0]
    time.sleep(4)
    assert gateway.node_states().get(node.node_id) == "down", gateway.health()
    assert "another identity" in gateway.log_path.read_text()
    reset = cluster.admin("nodes", "reset-identity", node.node_id)
    assert "will be accepted" in reset.stdout
    wait_until(lambda: gateway.node_states().get(node.node_id) == "up", 15, "the node accepted again")
    wait_until(lambda: cluster.status()["under_replicated_chunks"] == 0 and cluster.status()["bad_copies"] == 0,
               60, "its lost copies repaired")
    for chunk, nodes in cluster.replicas().items():
        for holder in nodes:
            assert cluster.chunk_file(cluster.nodes[holder], chunk) is not None, f"{holder} lacks {chunk}"
    cluster.check_objects("wiped", digests)


def flip_byte(path: Path, offset: int = 4096 + 1000) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x40]))
        handle.flush()
        os.fsync(handle.fileno())


def test_flipped_byte_found_by_a_read_is_never_served_and_repaired(managed):
    cluster = managed(4)
    digests = cluster.put_objects("rot", 3, 4 * CHUNK_BYTES, seed=8)
    chunk, nodes = cluster.full_chunk()
    first = cluster.nodes[nodes[0]]
    flip_byte(cluster.chunk_file(first, chunk))
    # Every GET is right: the bad copy is caught by its block checksums and the other one serves.
    for _ in range(3):
        cluster.check_objects("rot", digests)

    def replaced() -> bool:
        cluster.check_objects("rot", digests)
        return nodes[0] not in cluster.replicas()[chunk] and len(cluster.replicas()[chunk]) == REPLICAS

    try:
        wait_until(replaced, 60, "the bad copy replaced", interval=1)
    except BaseException:
        print(cluster.status(), cluster.psql("SELECT * FROM bad_copies"),
              cluster.gateways[0].log_path.read_text()[-4000:], sep="\n")
        raise
    cluster.check_objects("rot", digests)


def test_flipped_byte_found_by_the_scrubber_is_repaired(managed):
    cluster = managed(4, node_args=("--scrub-interval", "1", "--scrub-bytes-per-second", "64MiB"))
    digests = cluster.put_objects("scrub", 3, 4 * CHUNK_BYTES, seed=9)
    chunk, nodes = cluster.full_chunk(last=True)
    holder = cluster.nodes[nodes[1]]
    flip_byte(cluster.chunk_file(holder, chunk))
    # Nobody reads it: the scrubber finds it, the node quarantines it, the gateway has it repaired.
    wait_until(lambda: holder.node_id not in cluster.replicas()[chunk], 60, "the scrubbed copy replaced")
    wait_until(lambda: cluster.chunk_file(holder, chunk) is None
               and not list((holder.data_dir / "quarantine").glob(chunk)), 30, "the bad file removed from the node")
    assert cluster.fully_replicated()
    cluster.check_objects("scrub", digests)


def test_a_node_at_capacity_does_not_fail_uploads(managed):
    cluster = managed(5)
    full = cluster.add_node("--capacity-bytes", str(3 * CHUNK_BYTES))
    # One full node of six: every upload succeeds (first try), none lands on it past its room.
    client = cluster.s3()
    client.create_bucket(Bucket="full")
    for index in range(16):
        client.put_object(Bucket="full", Key=f"k{index}", Body=payload(4 * CHUNK_BYTES, 100 + index))
    assert sum(1 for nodes in cluster.replicas().values() if full.node_id in nodes) <= 3
