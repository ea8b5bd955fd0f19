"""Real S3 clients against the gateway: boto3, the aws cli, s5cmd, rclone and curl (its own --aws-sigv4, and
aws-chunked bodies framed by hand — aws_chunked.py — sent over plain HTTP).

Every round trip is byte-exact for 0 B, 1 B, 5 MiB+1 and 64 MiB+7, and every stored object is read back a
second way — by our own requests client, comparing size and MD5 — so a store that kept aws-chunked framing
inside an object (seaweedfs#6548) or truncated it is caught even when the client that wrote it reads its own
mistake back unchanged.

Clients whose SDK has the switch run twice: checksums on (current botocore's default, when_supported: CRC32
on every upload — a header over HTTP, an aws-chunked trailer over HTTPS) and off (when_required).

The clients' programs come from .venv/bin (scripts/setup.sh installs them from requirements.txt). Each test
gives its client a temporary HOME and configuration of its own: never the user's ~/.aws or rclone.conf.
Endpoint: the cluster's, path-style addressing, region us-east-1.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, Optional

import boto3
import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

import aws_chunked as ac
import s3_helpers as sh
from s3_helpers import KiB, MiB

VENV_BIN = Path(sys.executable).parent
#: A program that exits with 0 for every size must still finish in this time (64 MiB through a debug build).
PROGRAM_TIMEOUT = 300.0

SIZES = [0, 1, 5 * MiB + 1, 64 * MiB + 7]
SIZE_IDS = ["0B", "1B", "5MiB+1", "64MiB+7"]
#: Multipart threshold and part size given to every client: 64 MiB+7 crosses it (9 parts), 5 MiB+1 does not.
PART_BYTES = 8 * MiB
CHECKSUM_MODES = ["when_supported", "when_required"]


# --------------------------------------------------------------------------------------------------------------
# Shared fixtures and checks
# --------------------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Payload:
    size: int
    path: Path
    md5: str

    def read(self) -> bytes:
        return self.path.read_bytes()


@contextlib.contextmanager
def scratch_directory(prefix: str) -> Iterator[Path]:
    """A temporary directory removed afterwards, whatever happened (pytest's scratch keeps the last runs'
    GiB of payloads and downloads around). SILO_TEST_TMPDIR picks the parent; SILO_KEEP_TMP=1 keeps it."""
    directory = Path(tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("SILO_TEST_TMPDIR") or None))
    try:
        yield directory
    finally:
        if os.environ.get("SILO_KEEP_TMP") != "1":
            shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A temporary directory for one test: the client's HOME and config, downloads, trees to sync."""
    with scratch_directory("silo-clients-") as directory:
        yield directory


@pytest.fixture(scope="module")
def payloads() -> Iterator[dict[int, Payload]]:
    """A file per size in SIZES (deterministic bytes), written once for the module."""
    with scratch_directory("silo-payloads-") as directory:
        made = {}
        for index, size in enumerate(SIZES):
            data = sh.random_bytes(size, seed=500 + index)
            path = directory / f"payload-{size}.bin"
            path.write_bytes(data)
            made[size] = Payload(size, path, sh.md5_hex(data))
        yield made


def program(name: str) -> str:
    path = VENV_BIN / name
    assert path.is_file() and os.access(path, os.X_OK), \
        f"{path} is missing: scripts/setup.sh installs it from Tests/integration/requirements.txt"
    return str(path)


def isolated_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a client program: ours minus every AWS_*, S3_* and RCLONE_* variable, HOME in `home`."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("AWS_", "S3_", "RCLONE_", "BOTO_"))}
    home.mkdir(parents=True, exist_ok=True)
    env["HOME"] = str(home)
    env.update(extra)
    return env


def run(command: list[str], env: dict[str, str], timeout: float = PROGRAM_TIMEOUT,
        check: bool = True, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    """Runs a client program; with `check`, a non-zero exit fails the test with its output."""
    started = time.monotonic()
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                                stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"{' '.join(command)} did not finish in {timeout:.0f} s (killed)\n"
                    f"stdout: {(error.stdout or b'')[-2000:]!r}\nstderr: {(error.stderr or b'')[-2000:]!r}")
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(command)} exited with {result.returncode} after {time.monotonic() - started:.1f} s\n"
                    f"stdout: {result.stdout[-3000:]}\nstderr: {result.stderr[-3000:]}")
    return result


def assert_stored(s3: sh.S3, bucket: str, key: str, size: int, md5: str) -> None:
    """The object as our own client reads it: exactly `size` bytes with MD5 `md5` (no framing kept inside)."""
    response = s3.get(bucket, key, stream=True, timeout=sh.LONG_TIMEOUT)
    assert response.status_code == 200, sh.describe(response)
    download = sh.read_hashed(response)
    assert int(download.headers.get("Content-Length", -1)) == size, \
        f"{key}: Content-Length {download.headers.get('Content-Length')}, wrote {size} bytes"
    assert (download.size, download.md5) == (size, md5), \
        f"{key}: read back {download.size} bytes with MD5 {download.md5}, wrote {size} bytes with MD5 {md5}"


def assert_absent(s3: sh.S3, bucket: str, key: str) -> None:
    response = s3.head(bucket, key)
    assert response.status_code == 404, f"{key} exists after a refused upload: {sh.describe(response)}"


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as source:
        for piece in iter(lambda: source.read(4 * MiB), b""):
            digest.update(piece)
    return digest.hexdigest()


def assert_same_file(expected: Payload, path: Path) -> None:
    assert path.is_file(), f"{path} was not written"
    assert (path.stat().st_size, file_md5(path)) == (expected.size, expected.md5), \
        f"{path}: {path.stat().st_size} bytes, MD5 {file_md5(path)}; expected {expected.size}, {expected.md5}"


def multipart_etag(path: Path, part_bytes: int) -> str:
    """The ETag S3 gives a multipart upload of `path` cut into `part_bytes` parts: MD5 of the parts' MD5s."""
    digests = []
    with open(path, "rb") as source:
        for piece in iter(lambda: source.read(part_bytes), b""):
            digests.append(hashlib.md5(piece).digest())
    return f'"{hashlib.md5(b"".join(digests)).hexdigest()}-{len(digests)}"'


def make_tree(root: Path, seed: int) -> dict[str, bytes]:
    """A small directory tree (nested folders, an empty file, one 5 MiB+1 file); relative path -> bytes."""
    files = {
        "a.txt": b"alpha\n",
        "empty": b"",
        "dir/b.bin": sh.random_bytes(70 * KiB + 3, seed=seed),
        "dir/sub/c.bin": sh.random_bytes(1, seed=seed + 1),
        "dir/sub/deeper/d.bin": sh.random_bytes(5 * MiB + 1, seed=seed + 2),
        "space name.txt": b"a key with a space\n",
    }
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def tree_of(root: Path) -> dict[str, str]:
    """relative path -> MD5 of every file under root."""
    return {path.relative_to(root).as_posix(): file_md5(path) for path in root.rglob("*") if path.is_file()}


def expected_checksum_field(algorithm: str) -> str:
    return "Checksum" + {"crc32": "CRC32", "crc32c": "CRC32C", "sha1": "SHA1", "sha256": "SHA256",
                         "crc64nvme": "CRC64NVME"}[algorithm]


# --------------------------------------------------------------------------------------------------------------
# boto3
# --------------------------------------------------------------------------------------------------------------

def boto3_client(cluster, checksums: str = "when_supported"):
    return boto3.client(
        "s3", endpoint_url=cluster.endpoint, region_name="us-east-1",
        aws_access_key_id=cluster.access_key, aws_secret_access_key=cluster.secret_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      retries={"total_max_attempts": 1}, connect_timeout=10, read_timeout=300,
                      request_checksum_calculation=checksums, response_checksum_validation=checksums))


def error_code(error: ClientError) -> tuple[int, str]:
    return error.response["ResponseMetadata"]["HTTPStatusCode"], error.response["Error"]["Code"]


class TestBoto3:
    @pytest.mark.parametrize("checksums", CHECKSUM_MODES)
    @pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
    def test_put_get_head_list_delete(self, s3_cluster, s3, bucket, payloads, size, checksums):
        """PutObject (with the SDK's default CRC32 when checksums are on), GetObject, HeadObject, ListObjectsV2
        and DeleteObject agree on the bytes, the size and the ETag."""
        client = boto3_client(s3_cluster, checksums)
        payload = payloads[size]
        data = payload.read()
        key = f"boto3/{checksums}/{size}"
        put = client.put_object(Bucket=bucket, Key=key, Body=data)
        assert put["ETag"] == sh.quoted_etag(payload.md5)
        if checksums == "when_supported":
            assert put.get("ChecksumCRC32") == ac.checksum("crc32", data), \
                f"PutObject did not return the CRC32 boto3 sent: {put}"
        got = client.get_object(Bucket=bucket, Key=key)
        assert got["ContentLength"] == size
        assert got["Body"].read() == data
        head = client.head_object(Bucket=bucket, Key=key)
        assert (head["ContentLength"], head["ETag"]) == (size, sh.quoted_etag(payload.md5))
        listing = client.list_objects_v2(Bucket=bucket, Prefix="boto3/")
        assert [(item["Key"], item["Size"], item["ETag"]) for item in listing["Contents"]] == \
            [(key, size, sh.quoted_etag(payload.md5))]
        assert_stored(s3, bucket, key, size, payload.md5)
        client.delete_object(Bucket=bucket, Key=key)
        assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
        assert_absent(s3, bucket, key)

    @pytest.mark.parametrize("checksums", CHECKSUM_MODES)
    def test_upload_download_file_multipart(self, s3_cluster, s3, bucket, payloads, scratch, checksums):
        """upload_file/download_file with an 8 MiB threshold: 5 MiB+1 goes as one PutObject, 64 MiB+7 as a
        9-part multipart upload (its ETag the MD5 of the parts' MD5s, "-9"), downloaded back with parallel
        ranged GETs."""
        client = boto3_client(s3_cluster, checksums)
        config = TransferConfig(multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES, max_concurrency=4)
        for size in (5 * MiB + 1, 64 * MiB + 7):
            payload = payloads[size]
            key = f"transfer/{size}"
            client.upload_file(str(payload.path), bucket, key, Config=config)
            head = client.head_object(Bucket=bucket, Key=key)
            assert head["ContentLength"] == size
            if size > PART_BYTES:
                assert head["ETag"] == multipart_etag(payload.path, PART_BYTES)
            else:
                assert head["ETag"] == sh.quoted_etag(payload.md5)
            assert_stored(s3, bucket, key, size, payload.md5)
            target = scratch / f"down-{size}"
            client.download_file(bucket, key, str(target), Config=config)
            assert_same_file(payload, target)

    def test_presigned_get_and_put(self, s3_cluster, s3, bucket, payloads):
        """Presigned URLs used by plain `requests`: a PUT of 5 MiB+1 stores it, a GET reads it back."""
        client = boto3_client(s3_cluster)
        payload = payloads[5 * MiB + 1]
        put_url = client.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "presigned"},
                                                ExpiresIn=300)
        response = requests.put(put_url, data=payload.read(), timeout=120)
        assert response.status_code == 200, sh.describe(response)
        assert response.headers.get("ETag") == sh.quoted_etag(payload.md5)
        assert_stored(s3, bucket, "presigned", payload.size, payload.md5)
        get_url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "presigned"},
                                                ExpiresIn=300)
        response = requests.get(get_url, timeout=120)
        assert response.status_code == 200, sh.describe(response)
        assert hashlib.md5(response.content).hexdigest() == payload.md5

    def test_presigned_url_expires(self, s3_cluster, s3, bucket):
        """A presigned URL past its X-Amz-Expires is 403 AccessDenied, for GET and for PUT (which stores
        nothing)."""
        client = boto3_client(s3_cluster)
        s3.put_ok(bucket, "kept", b"kept")
        get_url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "kept"},
                                                ExpiresIn=1)
        put_url = client.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "late"},
                                                ExpiresIn=1)
        time.sleep(2.5)
        sh.assert_s3_error(requests.get(get_url, timeout=30), 403, "AccessDenied")
        sh.assert_s3_error(requests.put(put_url, data=b"too late", timeout=30), 403, "AccessDenied")
        assert_absent(s3, bucket, "late")

    def test_copy_object(self, s3_cluster, s3, bucket, payloads):
        """CopyObject: the copy has the source's bytes, ETag and metadata (COPY), or new metadata (REPLACE);
        the source is untouched."""
        client = boto3_client(s3_cluster)
        payload = payloads[5 * MiB + 1]
        data = payload.read()
        client.put_object(Bucket=bucket, Key="source", Body=data, ContentType="text/plain",
                          Metadata={"colour": "blue"})
        copied = client.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "source"})
        assert copied["CopyObjectResult"]["ETag"] == sh.quoted_etag(payload.md5)
        got = client.get_object(Bucket=bucket, Key="copy")
        assert got["Body"].read() == data
        assert (got["ContentType"], got["Metadata"]) == ("text/plain", {"colour": "blue"})
        client.copy_object(Bucket=bucket, Key="replaced", CopySource=f"{bucket}/source",
                           MetadataDirective="REPLACE", Metadata={"colour": "red"}, ContentType="application/x-silo")
        head = client.head_object(Bucket=bucket, Key="replaced")
        assert (head["Metadata"], head["ContentType"]) == ({"colour": "red"}, "application/x-silo")
        assert_stored(s3, bucket, "replaced", payload.size, payload.md5)
        assert_stored(s3, bucket, "source", payload.size, payload.md5)
        with pytest.raises(ClientError) as missing:
            client.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "no-such-source"})
        assert error_code(missing.value) == (404, "NoSuchKey")

    @pytest.mark.parametrize("checksums", CHECKSUM_MODES)
    def test_delete_objects(self, s3_cluster, s3, bucket, checksums):
        """DeleteObjects (the SDK sends Content-MD5 or a checksum, as the operation requires): every key listed
        as Deleted, a missing one too; Quiet lists none; the bucket is empty afterwards."""
        client = boto3_client(s3_cluster, checksums)
        keys = ["batch/a", "batch/b", "batch/with space", "batch/ünï"]
        for key in keys:
            s3.put_ok(bucket, key, key.encode())
        result = client.delete_objects(Bucket=bucket, Delete={
            "Objects": [{"Key": key} for key in keys[:3]] + [{"Key": "batch/never-existed"}]})
        assert sorted(item["Key"] for item in result.get("Deleted", [])) == \
            sorted(keys[:3] + ["batch/never-existed"])
        assert not result.get("Errors"), result.get("Errors")
        assert s3.keys(bucket) == ["batch/ünï"]
        quiet = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": keys[3]}], "Quiet": True})
        assert not quiet.get("Deleted") and not quiet.get("Errors"), quiet
        assert s3.keys(bucket) == []

    def test_conditional_put(self, s3_cluster, s3, bucket):
        """PutObject with If-None-Match: * creates a missing key and is 412 PreconditionFailed on an existing
        one, which keeps its bytes."""
        client = boto3_client(s3_cluster)
        client.put_object(Bucket=bucket, Key="once", Body=b"first", IfNoneMatch="*")
        with pytest.raises(ClientError) as refused:
            client.put_object(Bucket=bucket, Key="once", Body=b"second", IfNoneMatch="*")
        assert error_code(refused.value) == (412, "PreconditionFailed")
        assert s3.get_bytes(bucket, "once") == b"first"

    @pytest.mark.parametrize("algorithm", ["crc32", "sha1", "sha256"])
    def test_checksum_mode_returns_checksum(self, s3_cluster, bucket, algorithm):
        """PutObject with ChecksumAlgorithm: the response, GetObject and HeadObject with ChecksumMode=ENABLED
        return the checksum the SDK sent (which botocore then verifies on the body it reads)."""
        client = boto3_client(s3_cluster)
        data = sh.random_bytes(1 * MiB + 3, seed=41)
        expected = ac.checksum(algorithm, data)
        field = expected_checksum_field(algorithm)
        put = client.put_object(Bucket=bucket, Key="summed", Body=data, ChecksumAlgorithm=algorithm.upper())
        assert put.get(field) == expected, f"PutObject response lacks {field}={expected}: {put}"
        got = client.get_object(Bucket=bucket, Key="summed", ChecksumMode="ENABLED")
        assert got.get(field) == expected, f"GetObject lacks {field}={expected}"
        assert got["Body"].read() == data
        head = client.head_object(Bucket=bucket, Key="summed", ChecksumMode="ENABLED")
        assert head.get(field) == expected, f"HeadObject lacks {field}={expected}"

    def test_wrong_checksum_is_bad_digest(self, s3_cluster, s3, bucket):
        """A ChecksumSHA256 that does not match the body is 400 BadDigest and nothing is stored."""
        client = boto3_client(s3_cluster)
        wrong = ac.checksum("sha256", b"something else")
        with pytest.raises(ClientError) as refused:
            client.put_object(Bucket=bucket, Key="bad", Body=b"the body", ChecksumSHA256=wrong)
        assert error_code(refused.value) == (400, "BadDigest")
        assert_absent(s3, bucket, "bad")


# --------------------------------------------------------------------------------------------------------------
# aws cli (v1 from PyPI, with its own vendored botocore)
# --------------------------------------------------------------------------------------------------------------

class AwsCli:
    """`aws` with a config of its own in a temporary HOME: region us-east-1, path style, 8 MiB parts."""

    def __init__(self, cluster, home: Path, checksums: str = "when_supported"):
        home.mkdir(parents=True, exist_ok=True)
        config = home / "config"
        config.write_text(
            "[default]\n"
            "region = us-east-1\n"
            f"request_checksum_calculation = {checksums}\n"
            f"response_checksum_validation = {checksums}\n"
            "s3 =\n"
            "    addressing_style = path\n"
            f"    multipart_threshold = {PART_BYTES // MiB}MB\n"
            f"    multipart_chunksize = {PART_BYTES // MiB}MB\n"
            "    max_concurrent_requests = 4\n")
        credentials = home / "credentials"
        credentials.write_text(f"[default]\naws_access_key_id = {cluster.access_key}\n"
                               f"aws_secret_access_key = {cluster.secret_key}\n")
        self.endpoint = cluster.endpoint
        self.env = isolated_env(home, AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=str(credentials),
                                AWS_EC2_METADATA_DISABLED="true", AWS_MAX_ATTEMPTS="1",
                                AWS_REQUEST_CHECKSUM_CALCULATION=checksums,
                                AWS_RESPONSE_CHECKSUM_VALIDATION=checksums)

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run([program("aws"), "--endpoint-url", self.endpoint, *args], self.env, check=check)

    def json(self, *args: str) -> dict:
        return json.loads(self(*args, "--output", "json").stdout or "{}")


class TestAwsCli:
    @pytest.mark.parametrize("checksums", CHECKSUM_MODES)
    @pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
    def test_cp_round_trip(self, s3_cluster, s3, bucket, payloads, scratch, size, checksums):
        """`aws s3 cp` up (64 MiB+7 as a multipart upload) and down, byte-exact."""
        aws = AwsCli(s3_cluster, scratch / "home", checksums)
        payload = payloads[size]
        uri = f"s3://{bucket}/cli/{size}.bin"
        aws("s3", "cp", str(payload.path), uri)
        assert_stored(s3, bucket, f"cli/{size}.bin", size, payload.md5)
        target = scratch / "down.bin"
        aws("s3", "cp", uri, str(target))
        assert_same_file(payload, target)

    def test_ls_and_rm(self, s3_cluster, s3, bucket, scratch):
        """`aws s3 ls` shows sizes and common prefixes; `aws s3 rm` removes one key, --recursive the rest."""
        aws = AwsCli(s3_cluster, scratch / "home")
        for key, data in {"top.txt": b"12345", "dir/one": b"1", "dir/two": b"22", "dir/sub/three": b""}.items():
            s3.put_ok(bucket, key, data)
        listing = aws("s3", "ls", f"s3://{bucket}/").stdout
        lines = [line.split() for line in listing.splitlines()]
        assert ["PRE", "dir/"] in lines, listing
        assert any(line[-2:] == ["5", "top.txt"] for line in lines), listing
        recursive = aws("s3", "ls", "--recursive", f"s3://{bucket}/dir/").stdout
        assert sorted((line.split()[-1], line.split()[-2]) for line in recursive.splitlines()) == \
            [("dir/one", "1"), ("dir/sub/three", "0"), ("dir/two", "2")], recursive
        aws("s3", "rm", f"s3://{bucket}/top.txt")
        assert "top.txt" not in s3.keys(bucket)
        aws("s3", "rm", "--recursive", f"s3://{bucket}/dir/")
        assert s3.keys(bucket) == []

    def test_sync_both_ways(self, s3_cluster, s3, bucket, scratch):
        """`aws s3 sync` up and down: the trees match; a second sync in either direction transfers nothing
        (it compares sizes and Last-Modified from ListObjectsV2 with the files' mtimes); a changed file is the
        only one sent again; --delete removes a key whose file is gone."""
        cli = AwsCli(s3_cluster, scratch / "home")

        def sync(*args: str) -> list[str]:
            """The transfers `aws s3 sync` reports (upload:/download:/delete: lines)."""
            output = cli("s3", "sync", "--no-progress", *args).stdout
            return [line for line in output.splitlines() if line.split(":")[0] in ("upload", "download", "delete")]

        source = scratch / "source"
        files = make_tree(source, seed=60)
        sync(str(source), f"s3://{bucket}/tree")
        assert sorted(s3.keys(bucket, "tree/")) == sorted(f"tree/{name}" for name in files)
        for name, data in files.items():
            assert_stored(s3, bucket, f"tree/{name}", len(data), sh.md5_hex(data))
        again = sync(str(source), f"s3://{bucket}/tree")
        assert again == [], f"a second sync up transferred again: {again}"

        mirror = scratch / "mirror"
        sync(f"s3://{bucket}/tree", str(mirror))
        assert tree_of(mirror) == tree_of(source)
        again = sync(f"s3://{bucket}/tree", str(mirror))
        assert again == [], f"a second sync down transferred again: {again}"

        (source / "a.txt").write_bytes(b"alpha, longer now\n")
        (source / "dir" / "b.bin").unlink()
        changed = sorted(sync("--delete", str(source), f"s3://{bucket}/tree"))
        assert len(changed) == 2 and changed[0].startswith("delete:") and changed[0].endswith("/tree/dir/b.bin") \
            and changed[1].startswith("upload:") and changed[1].endswith("/tree/a.txt"), \
            f"sync --delete did not send exactly the change: {changed}"
        assert s3.get_bytes(bucket, "tree/a.txt") == b"alpha, longer now\n"
        assert "tree/dir/b.bin" not in s3.keys(bucket, "tree/")

    def test_s3api_calls(self, s3_cluster, s3, bucket, payloads, scratch):
        """`aws s3api put-object` (with an explicit SHA256 checksum), `head-object`, `list-objects-v2`."""
        aws = AwsCli(s3_cluster, scratch / "home")
        payload = payloads[5 * MiB + 1]
        put = aws.json("s3api", "put-object", "--bucket", bucket, "--key", "api/object", "--body", str(payload.path),
                       "--checksum-algorithm", "SHA256", "--metadata", "origin=cli")
        assert put.get("ETag") == sh.quoted_etag(payload.md5), put
        assert put.get("ChecksumSHA256") == ac.checksum("sha256", payload.read()), put
        head = aws.json("s3api", "head-object", "--bucket", bucket, "--key", "api/object")
        assert (head["ContentLength"], head["ETag"], head.get("Metadata")) == \
            (payload.size, sh.quoted_etag(payload.md5), {"origin": "cli"}), head
        listing = aws.json("s3api", "list-objects-v2", "--bucket", bucket, "--prefix", "api/")
        assert [(item["Key"], item["Size"]) for item in listing.get("Contents", [])] == \
            [("api/object", payload.size)], listing
        assert_stored(s3, bucket, "api/object", payload.size, payload.md5)


# --------------------------------------------------------------------------------------------------------------
# s5cmd (aws-sdk-go v1: no default checksums)
# --------------------------------------------------------------------------------------------------------------

class S5cmd:
    def __init__(self, cluster, home: Path):
        self.endpoint = cluster.endpoint
        self.env = isolated_env(home, AWS_ACCESS_KEY_ID=cluster.access_key,
                                AWS_SECRET_ACCESS_KEY=cluster.secret_key, AWS_REGION="us-east-1",
                                AWS_SHARED_CREDENTIALS_FILE=str(home / "no-credentials"),
                                AWS_CONFIG_FILE=str(home / "no-config"), AWS_EC2_METADATA_DISABLED="true")

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run([program("s5cmd"), "--endpoint-url", self.endpoint, "--retry-count", "0", *args], self.env,
                   check=check)


class TestS5cmd:
    @pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
    def test_cp_round_trip(self, s3_cluster, s3, bucket, payloads, scratch, size):
        """`s5cmd cp` up (8 MiB parts: 64 MiB+7 is multipart) and down (parallel ranged GETs), byte-exact."""
        s5cmd = S5cmd(s3_cluster, scratch / "home")
        payload = payloads[size]
        uri = f"s3://{bucket}/s5cmd/{size}.bin"
        s5cmd("cp", "--part-size", str(PART_BYTES // MiB), "--concurrency", "4", str(payload.path), uri)
        assert_stored(s3, bucket, f"s5cmd/{size}.bin", size, payload.md5)
        target = scratch / "down.bin"
        s5cmd("cp", "--part-size", str(PART_BYTES // MiB), "--concurrency", "4", uri, str(target))
        assert_same_file(payload, target)

    def test_ls_and_rm(self, s3_cluster, s3, bucket, scratch):
        """`s5cmd ls` (ListObjectsV2 with a prefix, a wildcard, and the bucket list) and `s5cmd rm` of a wildcard."""
        s5cmd = S5cmd(s3_cluster, scratch / "home")
        for key, data in {"s5/a": b"a", "s5/b": b"bb", "s5/sub/c": b"ccc", "other": b""}.items():
            s3.put_ok(bucket, key, data)
        buckets = s5cmd("ls").stdout
        assert f"s3://{bucket}" in buckets, buckets
        listing = s5cmd("ls", f"s3://{bucket}/s5/*").stdout
        entries = sorted((line.split()[-2], line.split()[-1]) for line in listing.splitlines())
        assert entries == [("1", "a"), ("2", "b"), ("3", "sub/c")], listing
        top = s5cmd("ls", f"s3://{bucket}/").stdout
        assert "DIR" in top and "s5/" in top and "other" in top, top
        s5cmd("rm", f"s3://{bucket}/s5/*")
        assert s3.keys(bucket) == ["other"]


# --------------------------------------------------------------------------------------------------------------
# rclone (aws-sdk-go-v2, remote configured by environment variables)
# --------------------------------------------------------------------------------------------------------------

class Rclone:
    REMOTE = "silo"

    def __init__(self, cluster, home: Path):
        home.mkdir(parents=True, exist_ok=True)
        config = home / "rclone.conf"
        config.write_text("")
        prefix = f"RCLONE_CONFIG_{self.REMOTE.upper()}_"
        self.env = isolated_env(home, RCLONE_CONFIG=str(config), **{
            prefix + "TYPE": "s3", prefix + "PROVIDER": "Other", prefix + "ENV_AUTH": "false",
            prefix + "ACCESS_KEY_ID": cluster.access_key, prefix + "SECRET_ACCESS_KEY": cluster.secret_key,
            prefix + "ENDPOINT": cluster.endpoint, prefix + "REGION": "us-east-1",
            prefix + "FORCE_PATH_STYLE": "true", prefix + "BUCKET_ACL": "", prefix + "ACL": "",
        })

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run([program("rclone"), "--retries", "1", "--low-level-retries", "1",
                    "--s3-upload-cutoff", f"{PART_BYTES // MiB}M", "--s3-chunk-size", f"{PART_BYTES // MiB}M",
                    "--s3-upload-concurrency", "4", *args], self.env, check=check)

    def path(self, bucket: str, key: str = "") -> str:
        return f"{self.REMOTE}:{bucket}/{key}"


class TestRclone:
    @pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
    def test_copy_round_trip(self, s3_cluster, s3, bucket, payloads, scratch, size):
        """`rclone copyto` up (64 MiB+7 as 8 MiB parts) and down, byte-exact; `rclone check` agrees."""
        rclone = Rclone(s3_cluster, scratch / "home")
        payload = payloads[size]
        key = f"rclone/{size}.bin"
        rclone("copyto", str(payload.path), rclone.path(bucket, key))
        assert_stored(s3, bucket, key, size, payload.md5)
        target = scratch / "down.bin"
        rclone("copyto", rclone.path(bucket, key), str(target))
        assert_same_file(payload, target)

    def test_copy_ls_check_delete(self, s3_cluster, s3, bucket, scratch):
        """`rclone copy` of a tree, `rclone ls` (sizes), `rclone check` (sizes and MD5s: ETags, or the
        X-Amz-Meta-Md5chksum rclone stores), `rclone delete`."""
        rclone = Rclone(s3_cluster, scratch / "home")
        source = scratch / "source"
        files = make_tree(source, seed=70)
        rclone("copy", str(source), rclone.path(bucket, "tree"))
        for name, data in files.items():
            assert_stored(s3, bucket, f"tree/{name}", len(data), sh.md5_hex(data))
        listing = rclone("ls", rclone.path(bucket, "tree")).stdout
        listed = {}
        for line in listing.splitlines():
            size, _, name = line.strip().partition(" ")
            listed[name] = int(size)
        assert listed == {name: len(data) for name, data in files.items()}, listing
        rclone("check", str(source), rclone.path(bucket, "tree"))
        (source / "a.txt").write_bytes(b"changed!")
        differs = rclone("check", str(source), rclone.path(bucket, "tree"), check=False)
        assert differs.returncode != 0, "rclone check missed a changed file"
        rclone("delete", rclone.path(bucket, "tree"))
        assert s3.keys(bucket) == []


# --------------------------------------------------------------------------------------------------------------
# curl: --aws-sigv4, and aws-chunked bodies over plain HTTP
# --------------------------------------------------------------------------------------------------------------

def curl_base(s3: sh.S3) -> list[str]:
    credentials = f"{s3.credentials.access_key}:{s3.credentials.secret_key}"
    return ["curl", "-sS", "--aws-sigv4", f"aws:amz:{sh.REGION}:s3", "--user", credentials]


def curl_put(s3: sh.S3, url: str, source: Path, headers: dict[str, str], env: dict[str, str],
             output: Path) -> tuple[int, bytes]:
    """PUT `source` with curl's SigV4 and `headers`: (status, response body)."""
    command = curl_base(s3) + ["-T", str(source), "-w", "%{http_code}", "-o", str(output)]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    result = run(command + [url], env)
    return int(result.stdout), output.read_bytes() if output.exists() else b""


def streaming_send(upload: ac.StreamingUpload, s3: sh.S3) -> requests.Response:
    headers = {name: value for name, value in upload.headers.items() if name != "Host"}
    return requests.put(s3.endpoint + upload.path, data=upload.body, headers=headers, timeout=300)


def checksum_of_object(s3: sh.S3, bucket: str, key: str, algorithm: str) -> Optional[str]:
    response = s3.head(bucket, key, headers={"x-amz-checksum-mode": "ENABLED"})
    assert response.status_code == 200, sh.describe(response)
    return response.headers.get(ac.header_name(algorithm))


class TestCurl:
    def test_chunk_signer_matches_aws_example(self):
        """Our aws-chunked signer reproduces the signatures of AWS's documented streaming example."""
        assert ac.aws_documented_example() == {
            "seed": "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
            "first": "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
            "second": "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
            "final": "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
            "body_length": "66824",
        }

    @pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
    def test_sigv4_round_trip(self, s3, bucket, payloads, scratch, size):
        """curl --aws-sigv4 PUT (UNSIGNED-PAYLOAD) and GET, byte-exact."""
        payload = payloads[size]
        env = isolated_env(scratch / "home")
        url = s3.url(bucket, f"curl/{size}")
        status, body = curl_put(s3, url, payload.path, {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}, env,
                                scratch / "put.out")
        assert status == 200, body[:500]
        assert_stored(s3, bucket, f"curl/{size}", size, payload.md5)
        target = scratch / "down.bin"
        result = run(curl_base(s3) + ["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "-w", "%{http_code}",
                                      "-o", str(target), url], env)
        assert result.stdout == "200"
        assert_same_file(payload, target)

    @pytest.mark.parametrize("algorithm", ac.ALGORITHMS)
    @pytest.mark.parametrize("size", [0, 1, 1 * MiB + 5], ids=["0B", "1B", "1MiB+5"])
    def test_unsigned_trailer_via_curl(self, s3, bucket, scratch, algorithm, size):
        """STREAMING-UNSIGNED-PAYLOAD-TRAILER (what boto3 ≥ 1.36 sends over HTTPS) sent by curl over HTTP:
        the object is exactly the decoded bytes, and x-amz-checksum-mode: ENABLED returns the trailer's
        checksum."""
        data = sh.random_bytes(size, seed=80 + size)
        upload = ac.streaming_put(s3, bucket, "trailer", data, ac.UNSIGNED_TRAILER, algorithm=algorithm)
        body = scratch / "body.aws-chunked"
        body.write_bytes(upload.body)
        headers = {name: value for name, value in upload.headers.items()
                   if name.lower() not in ("host", "authorization", "x-amz-date", "content-length")}
        status, reply = curl_put(s3, s3.url(bucket, "trailer"), body, headers, isolated_env(scratch / "home"),
                                 scratch / "put.out")
        assert status == 200, reply[:500]
        assert_stored(s3, bucket, "trailer", size, sh.md5_hex(data))
        assert checksum_of_object(s3, bucket, "trailer", algorithm) == ac.checksum(algorithm, data)

    def test_unsigned_trailer_large(self, s3, bucket, payloads, scratch):
        """64 MiB+7 as STREAMING-UNSIGNED-PAYLOAD-TRAILER with a CRC32 trailer, in botocore's 1 MiB chunks:
        several gateway chunks' worth of framing, none of it kept."""
        payload = payloads[64 * MiB + 7]
        data = payload.read()
        upload = ac.streaming_put(s3, bucket, "large", data, ac.UNSIGNED_TRAILER, algorithm="crc32",
                                  chunk_bytes=1 * MiB)
        response = streaming_send(upload, s3)
        assert response.status_code == 200, sh.describe(response)
        assert response.headers.get("ETag") == sh.quoted_etag(payload.md5)
        assert_stored(s3, bucket, "large", payload.size, payload.md5)
        assert checksum_of_object(s3, bucket, "large", "crc32") == ac.checksum("crc32", data)

    @pytest.mark.parametrize("size", [0, 1, 5 * MiB + 1], ids=["0B", "1B", "5MiB+1"])
    def test_signed_streaming(self, s3, bucket, size):
        """STREAMING-AWS4-HMAC-SHA256-PAYLOAD with real chunk signatures (64 KiB chunks)."""
        data = sh.random_bytes(size, seed=90 + size)
        upload = ac.streaming_put(s3, bucket, "signed", data, ac.SIGNED)
        response = streaming_send(upload, s3)
        assert response.status_code == 200, sh.describe(response)
        assert response.headers.get("ETag") == sh.quoted_etag(sh.md5_hex(data))
        assert_stored(s3, bucket, "signed", size, sh.md5_hex(data))

    @pytest.mark.parametrize("algorithm", ac.ALGORITHMS)
    def test_signed_trailer(self, s3, bucket, algorithm):
        """STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: signed chunks, a checksum trailer and its
        x-amz-trailer-signature; the checksum is returned with checksum mode."""
        data = sh.random_bytes(300 * KiB + 7, seed=95)
        upload = ac.streaming_put(s3, bucket, "signed-trailer", data, ac.SIGNED_TRAILER, algorithm=algorithm)
        response = streaming_send(upload, s3)
        assert response.status_code == 200, sh.describe(response)
        assert_stored(s3, bucket, "signed-trailer", len(data), sh.md5_hex(data))
        assert checksum_of_object(s3, bucket, "signed-trailer", algorithm) == ac.checksum(algorithm, data)

    # -- refusals: nothing stored, an existing key keeps its version ---------------------------------------

    def _assert_refused(self, s3: sh.S3, bucket: str, upload: ac.StreamingUpload, key: str, status: int,
                        code: str) -> sh.S3ErrorBody:
        response = streaming_send(upload, s3)
        error = sh.assert_s3_error(response, status, code)
        if key == "existing":
            assert s3.get_bytes(bucket, key) == b"old version", "a refused upload replaced the object"
        else:
            assert_absent(s3, bucket, key)
        return error

    @pytest.mark.parametrize("mode", [ac.UNSIGNED_TRAILER, ac.SIGNED_TRAILER])
    @pytest.mark.parametrize("algorithm", ["crc32", "crc32c", "sha256"])
    def test_wrong_trailer_checksum_is_bad_digest(self, s3, bucket, mode, algorithm):
        """A trailer checksum that does not match the decoded body: 400 BadDigest naming the algorithm."""
        s3.put_ok(bucket, "existing", b"old version")
        data = sh.random_bytes(200 * KiB + 1, seed=96)
        wrong = ac.checksum(algorithm, data + b"x")
        for key in ("new", "existing"):
            upload = ac.streaming_put(s3, bucket, key, data, mode, algorithm=algorithm, trailer_value=wrong)
            error = self._assert_refused(s3, bucket, upload, key, 400, "BadDigest")
            assert algorithm in (error.message or "").lower(), \
                f"BadDigest message does not name {algorithm.upper()}: {error.message!r}"

    def test_wrong_checksum_header_is_bad_digest(self, s3, bucket):
        """What botocore sends over HTTP: a plain PUT with an x-amz-checksum-crc32 header; a wrong one is 400
        BadDigest and nothing is stored."""
        data = b"checksummed in a header"
        response = s3.put(bucket, "header", data, headers={"x-amz-checksum-crc32": ac.checksum("crc32", b"other"),
                                                           "x-amz-sdk-checksum-algorithm": "CRC32"})
        sh.assert_s3_error(response, 400, "BadDigest")
        assert_absent(s3, bucket, "header")
        right = s3.put(bucket, "header", data, headers={"x-amz-checksum-crc32": ac.checksum("crc32", data)})
        assert right.status_code == 200, sh.describe(right)
        assert checksum_of_object(s3, bucket, "header", "crc32") == ac.checksum("crc32", data)

    @pytest.mark.parametrize("mode", ac.MODES)
    @pytest.mark.parametrize("delta", [1, -1], ids=["announced-more", "announced-less"])
    def test_decoded_length_mismatch_is_incomplete_body(self, s3, bucket, mode, delta):
        """x-amz-decoded-content-length that is not the size of the decoded chunks: 400 IncompleteBody."""
        s3.put_ok(bucket, "existing", b"old version")
        data = sh.random_bytes(150 * KiB + 3, seed=97)
        for key in ("new", "existing"):
            upload = ac.streaming_put(s3, bucket, key, data, mode, algorithm="crc32",
                                      decoded_length=len(data) + delta)
            self._assert_refused(s3, bucket, upload, key, 400, "IncompleteBody")

    @pytest.mark.parametrize("mode", [ac.SIGNED, ac.SIGNED_TRAILER])
    @pytest.mark.parametrize("which", ["first", "second", "final"])
    def test_bad_chunk_signature(self, s3, bucket, mode, which):
        """A chunk whose signature does not match its bytes (one signature altered): 403
        SignatureDoesNotMatch."""
        s3.put_ok(bucket, "existing", b"old version")
        data = sh.random_bytes(150 * KiB + 3, seed=98)  # chunks of 64 KiB, 64 KiB, 22 KiB+3, then the final
        for key in ("new", "existing"):
            upload = ac.streaming_put(s3, bucket, key, data, mode, algorithm="crc32c")
            marks = [index for index in range(len(upload.body))
                     if upload.body.startswith(b";chunk-signature=", index)]
            position = {"first": marks[0], "second": marks[1], "final": marks[-1]}[which] + len(";chunk-signature=")
            body = bytearray(upload.body)
            body[position] = ord("0") if body[position] != ord("0") else ord("1")
            upload.body = bytes(body)
            self._assert_refused(s3, bucket, upload, key, 403, "SignatureDoesNotMatch")

    def test_bad_trailer_signature(self, s3, bucket):
        """A signed trailer whose value changed after signing: 403 SignatureDoesNotMatch."""
        data = sh.random_bytes(100 * KiB, seed=99)
        upload = ac.streaming_put(s3, bucket, "new", data, ac.SIGNED_TRAILER, algorithm="sha256")
        right = ac.checksum("sha256", data).encode()
        tampered = ac.checksum("sha256", data + b"!").encode()
        assert upload.body.count(right) == 1
        upload.body = upload.body.replace(right, tampered)
        self._assert_refused(s3, bucket, upload, "new", 403, "SignatureDoesNotMatch")

    def test_chunk_data_altered(self, s3, bucket):
        """Signed chunks whose bytes changed in transit (signatures intact): 403 SignatureDoesNotMatch."""
        data = sh.random_bytes(100 * KiB, seed=100)
        upload = ac.streaming_put(s3, bucket, "new", data, ac.SIGNED)
        start = upload.body.index(b"\r\n") + 2 + 1000
        body = bytearray(upload.body)
        body[start] ^= 0x01
        upload.body = bytes(body)
        self._assert_refused(s3, bucket, upload, "new", 403, "SignatureDoesNotMatch")
