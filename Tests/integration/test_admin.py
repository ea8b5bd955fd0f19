"""`silo admin keys …` and `silo admin nodes …` against a real PostgreSQL, through the real `silo` binary.

The module starts a private PostgreSQL of its own, the way SiloCluster.PostgresInstance does: Debian's
initdb/pg_ctl (through `runuser -u postgres --` when root), trust authentication over a unix socket in a
temporary directory under /var/tmp, no TCP. Each test gets a fresh database in it, so listings start empty.
The server is stopped by its pid at the end of the module.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Iterator, Optional

import pytest

from conftest import silo_binary

COMMAND_TIMEOUT = 30.0
SERVER_STOP_TIMEOUT = 10.0


# --------------------------------------------------------------------------------------------------------------
# A private PostgreSQL
# --------------------------------------------------------------------------------------------------------------

def postgres_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/<major>/bin with initdb (Debian's layout), else PATH."""
    root = Path("/usr/lib/postgresql")
    versions = sorted((int(p.name) for p in root.glob("*") if p.name.isdigit()), reverse=True) if root.is_dir() else []
    for version in versions:
        candidate = root / str(version) / "bin"
        if (candidate / "initdb").is_file():
            return candidate
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    pytest.fail("no initdb under /usr/lib/postgresql/*/bin or on PATH: install postgresql (scripts/setup.sh)",
                pytrace=False)


class PrivatePostgres:
    def __init__(self) -> None:
        self.bin_dir = postgres_bin_dir()
        self.as_root = os.geteuid() == 0
        # /var/tmp, not /tmp: short enough for sun_path (108 bytes), and on disk.
        self.directory = Path(tempfile.mkdtemp(prefix="silo-admin-pg-", dir="/var/tmp"))
        self.data = self.directory / "data"
        self.log = self.directory / "postgresql.log"
        if self.as_root:
            # PostgreSQL refuses to run as root: the directory goes to the postgres user.
            user = pwd.getpwnam("postgres")
            os.chown(self.directory, user.pw_uid, user.pw_gid)

    def run_tool(self, tool: str, *arguments: str) -> None:
        command = [str(self.bin_dir / tool), *arguments]
        if self.as_root:
            command = ["/usr/sbin/runuser", "-u", "postgres", "--", *command]
        # Output to a file, not a pipe: the server `pg_ctl start` leaves behind would hold a pipe open and
        # subprocess would wait for its end forever.
        output_path = self.directory / f"{tool}.out"
        with open(output_path, "wb") as output:
            status = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                    cwd=self.directory, timeout=120).returncode
        if status != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            pytest.fail(f"{tool} {' '.join(arguments)} exited with {status}: "
                        f"{output_path.read_text(errors='replace')}\n{log}", pytrace=False)

    def start(self) -> None:
        self.run_tool("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                      "--locale=C", "--no-sync", "--no-instructions")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"\n# silo test_admin: private, throwaway\nlisten_addresses = ''\nport = 5432\n"
                       f"unix_socket_directories = '{self.directory}'\nfsync = off\nsynchronous_commit = off\n"
                       f"full_page_writes = off\n")
        self.run_tool("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-s")

    @property
    def pid(self) -> Optional[int]:
        try:
            return int((self.data / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        pid = self.pid
        if pid is not None:
            try:
                os.kill(pid, signal.SIGINT)  # PostgreSQL's fast shutdown
                deadline = time.monotonic() + SERVER_STOP_TIMEOUT
                while time.monotonic() < deadline:
                    os.kill(pid, 0)
                    time.sleep(0.02)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if os.environ.get("SILO_KEEP_TMP") != "1":
            shutil.rmtree(self.directory, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"host={self.directory} port=5432 user=postgres dbname={database}"

    def create_database(self) -> str:
        name = "admin_" + uuid.uuid4().hex[:12]
        # createdb connects over the socket like any client; trust authentication, no runuser needed.
        subprocess.run([str(self.bin_dir / "createdb"), "-h", str(self.directory), "-U", "postgres", name],
                       check=True, capture_output=True, timeout=COMMAND_TIMEOUT)
        return name


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def database_url(postgres: PrivatePostgres) -> str:
    """A fresh, empty database for one test."""
    return postgres.url(postgres.create_database())


# --------------------------------------------------------------------------------------------------------------
# Running silo
# --------------------------------------------------------------------------------------------------------------

def silo(*arguments: str, database_url: Optional[str] = None, env_url: Optional[str] = None,
         expect_ok: bool = True) -> subprocess.CompletedProcess:
    """Runs `silo admin …`; `database_url` goes in as --database-url, `env_url` as SILO_DATABASE_URL."""
    binary = silo_binary()
    if not binary.is_file():
        pytest.fail(f"silo binary not found at {binary}: build it (swift build --product silo) or set SILO_BIN",
                    pytrace=False)
    environment = {key: value for key, value in os.environ.items() if key != "SILO_DATABASE_URL"}
    if env_url is not None:
        environment["SILO_DATABASE_URL"] = env_url
    command = [str(binary), "admin", *arguments]
    if database_url is not None:
        command += ["--database-url", database_url]
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    if expect_ok:
        assert result.returncode == 0, f"{' '.join(command)} exited with {result.returncode}:\n{result.stderr}"
    else:
        assert_clean_failure(result)
    return result


def assert_clean_failure(result: subprocess.CompletedProcess) -> None:
    """Exit status 1 (not a signal, not a crash), one `Error:` line on stderr, no stack trace."""
    assert result.returncode == 1, f"expected exit status 1, got {result.returncode}:\n{result.stderr}"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), f"not one clean error line:\n{result.stderr}"
    for marker in ("Fatal error", "Stack dump", "Current stack trace", "#0 "):
        assert marker not in result.stderr


ACCESS_KEY = re.compile(r"^SILO[A-Z0-9]{16}$")
SECRET_KEY = re.compile(r"^[A-Za-z0-9+/]{40}$")


# --------------------------------------------------------------------------------------------------------------
# Access keys
# --------------------------------------------------------------------------------------------------------------

class TestAdminKeys:
    def test_create_generated_list_delete(self, database_url):
        created = json.loads(silo("keys", "create", "--json", database_url=database_url).stdout)
        access, secret = created["access_key"], created["secret_key"]
        assert ACCESS_KEY.match(access), access
        assert SECRET_KEY.match(secret), secret

        listed_json = silo("keys", "list", "--json", database_url=database_url).stdout
        assert [row["access_key"] for row in json.loads(listed_json)] == [access]
        listed_text = silo("keys", "list", database_url=database_url).stdout
        assert access in listed_text
        assert secret not in listed_text and secret not in listed_json

        silo("keys", "delete", access, database_url=database_url)
        assert json.loads(silo("keys", "list", "--json", database_url=database_url).stdout) == []
        again = silo("keys", "delete", access, database_url=database_url, expect_ok=False)
        assert f"access key {access} does not exist" in again.stderr

    def test_generated_pairs_differ(self, database_url):
        first = silo("keys", "create", database_url=database_url).stdout
        second = silo("keys", "create", database_url=database_url).stdout
        pairs = [dict(line.split("=", 1) for line in text.split()) for text in (first, second)]
        assert all(ACCESS_KEY.match(pair["SILO_ACCESS_KEY"]) and SECRET_KEY.match(pair["SILO_SECRET_KEY"])
                   for pair in pairs)
        assert pairs[0] != pairs[1]

    def test_import_then_duplicate_import_fails(self, database_url):
        access, secret = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        # Through SILO_DATABASE_URL this time, not --database-url.
        result = silo("keys", "create", "--access-key", access, "--secret-key", secret, env_url=database_url)
        assert result.stdout.split() == [f"SILO_ACCESS_KEY={access}", f"SILO_SECRET_KEY={secret}"]

        duplicate = silo("keys", "create", "--access-key", access, "--secret-key", "another-secret-1234",
                         env_url=database_url, expect_ok=False)
        assert f"access key {access} already exists" in duplicate.stderr
        listed = silo("keys", "list", env_url=database_url).stdout
        assert access in listed and secret not in listed

    @pytest.mark.parametrize("access, secret, message", [
        ("ab", "12345678", "access key is 2 characters long"),
        ("bad/key", "12345678", "access key contains '/'"),
        ("goodkey", "short", "secret key is 5 characters long"),
        ("goodkey", "has a space", "secret key contains byte 0x20"),
    ])
    def test_import_refuses_malformed_pairs(self, database_url, access, secret, message):
        result = silo("keys", "create", "--access-key", access, "--secret-key", secret,
                      database_url=database_url, expect_ok=False)
        assert message in result.stderr

    def test_access_key_without_secret_is_a_usage_error(self, database_url):
        result = subprocess.run([str(silo_binary()), "admin", "keys", "create", "--access-key", "abcdef",
                                 "--database-url", database_url], capture_output=True, text=True,
                                timeout=COMMAND_TIMEOUT)
        assert result.returncode != 0
        assert "--access-key and --secret-key go together" in result.stderr


# --------------------------------------------------------------------------------------------------------------
# Nodes
# --------------------------------------------------------------------------------------------------------------

def nodes(database_url: str) -> dict[str, dict]:
    rows = json.loads(silo("nodes", "list", "--json", database_url=database_url).stdout)
    return {row["id"]: row for row in rows}


class TestAdminNodes:
    def test_add_list_drain_remove(self, database_url):
        silo("nodes", "add", "127.0.0.1:50061", database_url=database_url)
        silo("nodes", "add", "10.0.0.2:50051", "--node-id", "node-b", "--capacity-bytes", "2GiB",
             database_url=database_url)

        listed = nodes(database_url)
        assert set(listed) == {"127.0.0.1-50061", "node-b"}
        assert listed["node-b"]["address"] == "10.0.0.2:50051"
        assert listed["node-b"]["capacity_bytes"] == 2 << 30
        assert listed["node-b"]["membership"] == "in"
        assert listed["node-b"]["state"] == "up"
        assert listed["node-b"]["last_heartbeat"] is None
        assert listed["node-b"]["down_since"] is None and listed["node-b"]["instance_id"] is None

        text = silo("nodes", "list", database_url=database_url).stdout.splitlines()
        assert text[0].split() == ["ID", "ADDRESS", "MEMBERSHIP", "STATE", "CAPACITY", "FREE", "LAST", "HEARTBEAT"]
        assert text[2].split() == ["node-b", "10.0.0.2:50051", "in", "up", "2", "GiB", "2", "GiB", "never"]

        drained = silo("nodes", "drain", "node-b", database_url=database_url)
        assert "node node-b is draining; 0 chunk copies to move" in drained.stdout
        assert nodes(database_url)["node-b"]["membership"] == "draining"
        for membership in ("out", "in", "draining"):
            silo("nodes", "set-membership", "node-b", membership, database_url=database_url)
            assert nodes(database_url)["node-b"]["membership"] == membership

        silo("nodes", "remove", "node-b", database_url=database_url)
        assert set(nodes(database_url)) == {"127.0.0.1-50061"}

    def test_duplicate_and_unknown_nodes_fail_cleanly(self, database_url):
        silo("nodes", "add", "127.0.0.1:50071", "--node-id", "n1", database_url=database_url)
        duplicate = silo("nodes", "add", "127.0.0.1:50072", "--node-id", "n1", database_url=database_url,
                         expect_ok=False)
        assert "node n1 is already registered" in duplicate.stderr
        assert nodes(database_url)["n1"]["address"] == "127.0.0.1:50071"

        for arguments in (("set-membership", "ghost", "out"), ("drain", "ghost"), ("remove", "ghost"),
                          ("reset-identity", "ghost")):
            result = silo("nodes", *arguments, database_url=database_url, expect_ok=False)
            assert "node ghost is not registered" in result.stderr

    def test_bad_arguments_are_refused_before_connecting(self):
        # No database at all: validation comes first.
        for arguments in (("add", "no-port"), ("add", "h:1", "--capacity-bytes", "lots"),
                          ("set-membership", "n1", "sideways")):
            result = subprocess.run([str(silo_binary()), "admin", "nodes", *arguments], capture_output=True,
                                    text=True, timeout=COMMAND_TIMEOUT, env={"PATH": os.environ.get("PATH", "")})
            assert result.returncode != 0 and "Error:" in result.stderr, result.stderr
            assert "no metadata database given" not in result.stderr


# --------------------------------------------------------------------------------------------------------------
# No database, or none reachable
# --------------------------------------------------------------------------------------------------------------

class TestAdminDatabase:
    @pytest.mark.parametrize("arguments", [("keys", "list"), ("keys", "create"), ("nodes", "list")])
    def test_missing_database_url_says_how_to_give_one(self, arguments):
        result = silo(*arguments, expect_ok=False)
        assert "--database-url" in result.stderr and "SILO_DATABASE_URL" in result.stderr

    def test_empty_environment_variable_counts_as_missing(self):
        result = silo("keys", "list", env_url="", expect_ok=False)
        assert "no metadata database given" in result.stderr

    def test_unreachable_database_is_one_line(self, tmp_path):
        result = silo("nodes", "list", database_url=f"host={tmp_path} port=5432 user=postgres", expect_ok=False)
        assert "cannot open the metadata database" in result.stderr
