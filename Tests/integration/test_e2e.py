"""End-to-end tests of the S3 gateway: the ten tests of the seed suite, with its names (TestBasicE2E,
TestAdvancedE2E). The rest of the S3 surface (buckets, ranges, conditions, listing, SigV4, 100-continue) is
in test_e2e_api.py.

Every test works in a bucket of its own (the `bucket` fixture), so reruns against a long-lived gateway
(API_BASE_URL) never collide. Large bodies are streamed from `PatternData` and hashed on the way, both ways.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import s3_helpers as sh
from s3_helpers import GiB, KiB, MiB, PatternData

SMALL_FILE_BYTES = 10 * 1000 * 1000   # the seed suite's "10 MB"
LARGE_FILE_BYTES = 5 * GiB
GC_TIMEOUT = 30.0


# --------------------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------------------

def upload_stream(s3: sh.S3, bucket: str, key: str, data: PatternData, headers=None,
                  timeout: float = sh.LONG_TIMEOUT) -> tuple[sh.HashingBody, float]:
    """Streams `data` (UNSIGNED-PAYLOAD); asserts 200 and ETag = MD5 of what was sent. (body, seconds)."""
    body = sh.HashingBody(data)
    started = time.monotonic()
    response = s3.put(bucket, key, body, headers=headers, timeout=timeout)
    seconds = time.monotonic() - started
    assert response.status_code == 200, sh.describe(response)
    assert body.sent == data.size
    assert response.headers.get("ETag") == sh.quoted_etag(body.md5), \
        f"PUT {key}: ETag {response.headers.get('ETag')!r}, MD5 of the body is {body.md5}"
    return body, seconds


def download_hashed(s3: sh.S3, bucket: str, key: str, timeout: float = sh.LONG_TIMEOUT) -> sh.Download:
    response = s3.get(bucket, key, stream=True, timeout=timeout)
    assert response.status_code == 200, sh.describe(response)
    return sh.read_hashed(response)


def http_date(value: str) -> dt.datetime:
    parsed = email.utils.parsedate_to_datetime(value)
    assert parsed.tzinfo is not None, f"HTTP date without zone: {value!r}"
    return parsed


def iso_date(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def chunk_files(node_dirs, chunk_id: str) -> list:
    """The committed files of `chunk_id` on every node: NODE/chunks/<2 chars>/<chunk id>."""
    return [path for node in node_dirs for path in (node / "chunks").glob(f"*/{chunk_id}")]


def mb_per_s(size: int, seconds: float) -> float:
    return size / 1e6 / max(seconds, 1e-9)


# --------------------------------------------------------------------------------------------------------------
# seed suite: basic
# --------------------------------------------------------------------------------------------------------------

class TestBasicE2E:
    def test_upload_download_small_file(self, s3, bucket):
        """10 MB round trip, once with a signed payload (SHA-256 checked by the gateway) and once streamed with
        UNSIGNED-PAYLOAD: 200, ETag = quoted MD5, the same bytes back with Content-Length and ETag."""
        data = sh.random_bytes(SMALL_FILE_BYTES, seed=1)
        md5 = sh.md5_hex(data)
        put = s3.put(bucket, "small/signed.bin", data, headers={"Content-Type": "application/octet-stream"},
                     payload="signed")
        assert put.status_code == 200, sh.describe(put)
        assert put.headers.get("ETag") == sh.quoted_etag(md5)

        got = s3.get(bucket, "small/signed.bin")
        assert got.status_code == 200, sh.describe(got)
        assert int(got.headers["Content-Length"]) == SMALL_FILE_BYTES
        assert got.headers.get("ETag") == sh.quoted_etag(md5)
        assert len(got.content) == SMALL_FILE_BYTES
        assert got.content == data, "downloaded bytes differ from the uploaded ones"

        pattern = PatternData(SMALL_FILE_BYTES, seed=2)
        body, _ = upload_stream(s3, bucket, "small/unsigned.bin", pattern)
        back = download_hashed(s3, bucket, "small/unsigned.bin")
        assert (back.size, back.md5) == (SMALL_FILE_BYTES, body.md5)
        assert back.headers.get("ETag") == sh.quoted_etag(body.md5)

    @pytest.mark.slow
    @pytest.mark.large_file
    @pytest.mark.timeout(7200)
    def test_upload_download_large_file(self, s3, bucket, perf_report):
        """5 GiB streamed up and down (never held in memory): ETag = MD5, HEAD size, the same MD5 back, and
        ranges at a chunk boundary and at the very end."""
        data = PatternData(LARGE_FILE_BYTES, seed=5)
        key = "large/5GiB.bin"
        body, up_seconds = upload_stream(s3, bucket, key, data)
        head = s3.head(bucket, key)
        assert head.status_code == 200, sh.describe(head)
        assert int(head.headers["Content-Length"]) == LARGE_FILE_BYTES
        back = download_hashed(s3, bucket, key)
        assert back.size == LARGE_FILE_BYTES
        assert back.md5 == body.md5, "the 5 GiB download differs from the upload"
        perf_report(f"gateway 5 GiB: upload {mb_per_s(data.size, up_seconds):.0f} MB/s, "
                    f"download {mb_per_s(back.size, back.seconds):.0f} MB/s (one stream, Python client)")
        for start, end in [(sh.CHUNK_BYTES * 100 - 17, sh.CHUNK_BYTES * 100 + 16),
                           (LARGE_FILE_BYTES - MiB, LARGE_FILE_BYTES - 1)]:
            ranged = s3.get(bucket, key, headers={"Range": f"bytes={start}-{end}"})
            assert ranged.status_code == 206, sh.describe(ranged)
            assert ranged.content == data.read(start, end - start + 1)
        assert s3.delete(bucket, key).status_code == 204

    def test_upload_exceeds_max_size(self, s3, bucket):
        """11 GiB declared in Content-Length is refused from the header alone, 400 EntityTooLarge, without the
        body: with `Expect: 100-continue` before any 100, and without it before a single body byte is sent.
        Nothing is stored."""
        declared = 11 * GiB
        key = "too/large.bin"
        for expect in (True, False):
            headers = {"Content-Length": str(declared), "Content-Type": "application/octet-stream"}
            if expect:
                headers["Expect"] = "100-continue"
            target, all_headers = sh.raw_signed_head(s3, "PUT", bucket, key, headers)
            with sh.RawConnection(s3.hostname, s3.port) as connection:
                connection.send_head("PUT", target, all_headers)
                try:
                    response = connection.read_response(timeout=15.0)
                except TimeoutError:
                    pytest.fail(f"PUT with Content-Length {declared} (Expect: {expect}): no answer within 15 s "
                                "without a body; the gateway waits for the body instead of refusing the length")
                assert response.status != 100, \
                    "the gateway answered 100 Continue to an 11 GiB PUT: it must refuse from Content-Length alone"
                assert response.status == 400, f"Expect {expect}: {response.status} {response.body[:400]!r}"
                assert sh.parse_error(response.body).code == "EntityTooLarge", response.body[:400]
        head = s3.head(bucket, key)
        assert head.status_code == 404, sh.describe(head)

        # The limit is the size itself: one byte over is refused too.
        target, all_headers = sh.raw_signed_head(
            s3, "PUT", bucket, key, {"Content-Length": str(sh.OBJECT_BYTES_MAX + 1), "Expect": "100-continue"})
        with sh.RawConnection(s3.hostname, s3.port) as connection:
            connection.send_head("PUT", target, all_headers)
            response = connection.read_response(timeout=15.0)
            assert (response.status, sh.parse_error(response.body).code) == (400, "EntityTooLarge"), \
                f"Content-Length = max + 1: {response.status} {response.body[:400]!r}"

    def test_download_nonexistent_file(self, s3, bucket):
        """A missing key is 404 NoSuchKey (XML with RequestId) for GET and ranged GET, a bare 404 for HEAD; a
        missing bucket is 404 NoSuchBucket."""
        missing = "does/not/exist.bin"
        error = sh.assert_s3_error(s3.get(bucket, missing), 404, "NoSuchKey")
        if "Key" in error.fields:
            assert error.fields["Key"] == missing
        sh.assert_s3_error(s3.get(bucket, missing, headers={"Range": "bytes=0-9"}), 404, "NoSuchKey")
        head = s3.head(bucket, missing)
        assert head.status_code == 404, sh.describe(head)
        assert head.content == b""
        sh.assert_s3_error(s3.get(sh.unique_bucket("missing"), "x"), 404, "NoSuchBucket")

        # A key that existed and was deleted is just as missing.
        s3.put_ok(bucket, "gone", b"here for a moment")
        assert s3.delete(bucket, "gone").status_code == 204
        sh.assert_s3_error(s3.get(bucket, "gone"), 404, "NoSuchKey")

    def test_list_files(self, s3, bucket, boto3_s3):
        """Pagination over 300 keys (ListObjectsV2, max-keys 100 then boto3's paginator at 37): every key once,
        in UTF-8 byte order, sizes and ETags as uploaded; prefix, delimiter with CommonPrefixes and
        start-after select what S3 selects."""
        keys = [f"dir{index % 3}/file-{index:04d}.bin" for index in range(294)]
        keys += ["top-level.txt", "a b+c/d%e.txt", "ünïcode/ключ", "z~tilde", "Zed", "dir1/sub/deeper.txt"]
        bodies = {key: sh.random_bytes(1 + index % 97, seed=index) for index, key in enumerate(keys)}
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda key: s3.put_ok(bucket, key, bodies[key]), keys))
        expected = sorted(keys, key=lambda key: key.encode("utf-8"))

        pages = s3.list_all(bucket, page=100)
        assert [len(page.keys) for page in pages] == [100, 100, 100], \
            f"page sizes {[len(page.keys) for page in pages]} for 300 keys at max-keys=100"
        for page in pages:
            if page.key_count is not None:
                assert page.key_count == len(page.keys) + len(page.common_prefixes)
        assert [page.is_truncated for page in pages] == [True, True, False]
        listed = [key for page in pages for key in page.keys]
        assert listed == expected, "ListObjectsV2 pages are not every key once in byte order"
        for page in pages:
            for key in page.keys:
                assert page.sizes[key] == len(bodies[key]), key
                assert page.etags[key] == sh.quoted_etag(sh.md5_hex(bodies[key])), key

        paginator = boto3_s3.get_paginator("list_objects_v2")
        boto_keys = [item["Key"] for page in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 37})
                     for item in page.get("Contents", [])]
        assert boto_keys == expected

        assert s3.keys(bucket, prefix="dir1/") == [key for key in expected if key.startswith("dir1/")]
        assert s3.keys(bucket, prefix="nothing-here/") == []

        # Delimiter: top-level keys as Contents, everything under a "/" rolled up, across small pages.
        contents, prefixes, token, rounds = [], [], None, 0
        while True:
            response = s3.list_v2(bucket, delimiter="/", max_keys="2", continuation_token=token)
            assert response.status_code == 200, sh.describe(response)
            page = sh.parse_list_v2(response.content)
            assert len(page.keys) + len(page.common_prefixes) <= 2
            contents += page.keys
            prefixes += page.common_prefixes
            rounds += 1
            assert rounds < 50, "delimiter listing does not end"
            if not page.is_truncated:
                break
            token = page.next_token
        assert contents == sorted((key for key in keys if "/" not in key), key=lambda key: key.encode())
        assert prefixes == sorted({key.split("/")[0] + "/" for key in keys if "/" in key},
                                  key=lambda prefix: prefix.encode())

        response = s3.list_v2(bucket, prefix="dir1/", delimiter="/")
        page = sh.parse_list_v2(response.content)
        assert page.common_prefixes == ["dir1/sub/"]
        assert "dir1/sub/deeper.txt" not in page.keys and len(page.keys) == 98

        after = "dir1/file-0150.bin"
        response = s3.list_v2(bucket, start_after=after, max_keys="1000")
        assert response.status_code == 200, sh.describe(response)
        assert sh.parse_list_v2(response.content).keys == [key for key in expected if key.encode() > after.encode()]


# --------------------------------------------------------------------------------------------------------------
# seed suite: advanced
# --------------------------------------------------------------------------------------------------------------

class TestAdvancedE2E:
    def test_delete_file(self, s3, s3_cluster, bucket, database_url, cluster_node_dirs):
        """Cascade: a deleted object is gone at once (204, then 404 and absent from listings), its chunk rows
        leave the metadata in the same transaction, and the gateway's GC removes every replica's chunk file
        from the nodes' data directories within 30 s."""
        key = "cascade/three-chunks.bin"
        size = 2 * sh.CHUNK_BYTES + 5 * MiB + 3
        upload_stream(s3, bucket, key, PatternData(size, seed=6))
        chunks = sh.object_chunk_ids(database_url, bucket, key)
        assert len(chunks) == -(-size // sh.CHUNK_BYTES), f"{len(chunks)} chunk rows for {size} bytes: {chunks}"
        ids = [chunk_id for chunk_id, _ in chunks]
        for chunk_id, replicas in chunks:
            assert len(replicas) == s3_cluster.replicas, f"chunk {chunk_id} has replicas {replicas}"
            files = chunk_files(cluster_node_dirs, chunk_id)
            assert len(files) == s3_cluster.replicas, f"chunk {chunk_id}: files {files}"

        response = s3.delete(bucket, key)
        assert response.status_code == 204, sh.describe(response)
        sh.assert_s3_error(s3.get(bucket, key), 404, "NoSuchKey")
        assert s3.head(bucket, key).status_code == 404
        assert key not in s3.keys(bucket)
        rows = sh.psql(database_url, "SELECT count(*) FROM chunks WHERE chunk_id = ANY(string_to_array(:'ids', ','))",
                       ids=",".join(ids))
        assert rows == [["0"]], f"chunk rows of the deleted object are still in `chunks`: {rows}"

        def left_on_disk():
            return [path for chunk_id in ids for path in chunk_files(cluster_node_dirs, chunk_id)]

        remaining = sh.wait_until(lambda: not left_on_disk(), GC_TIMEOUT, interval=0.5)
        if not remaining:
            queued = sh.psql(database_url, """
                SELECT chunk_id, array_to_string(replica_node_ids, ','), reason, attempts, claimed_until
                FROM gc_queue WHERE chunk_id = ANY(string_to_array(:'ids', ','))""", ids=",".join(ids))
            pytest.fail(f"{GC_TIMEOUT:.0f} s after DELETE these chunk files are still on the nodes: "
                        f"{left_on_disk()}; gc_queue rows: {queued}")
        queued = sh.wait_until(lambda: sh.psql(database_url, """
            SELECT count(*) FROM gc_queue WHERE chunk_id = ANY(string_to_array(:'ids', ','))""",
                                               ids=",".join(ids)) == [["0"]], 10.0)
        assert queued, "the chunk files are gone but their gc_queue rows were not acknowledged"
        assert s3.delete(bucket, key).status_code == 204, "a second DELETE of the same key is not 204"

    def test_get_file_metadata(self, s3, bucket, boto3_s3):
        """HEAD, GET, ListObjectsV2 and boto3 agree on size, ETag (quoted MD5), Content-Type (as sent), user
        metadata (x-amz-meta-*, names lower-cased) and Last-Modified (the time of the PUT); Accept-Ranges is
        bytes. Metadata belongs to a version: an overwrite without it has none."""
        data = sh.random_bytes(1 * MiB + 7, seed=7)
        md5 = sh.md5_hex(data)
        key = "meta/document.json"
        content_type = "application/vnd.silo.test+json; charset=utf-8"
        before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(seconds=2)
        s3.put_ok(bucket, key, data, headers={"Content-Type": content_type, "x-amz-meta-author": "alice",
                                              "X-Amz-Meta-Project-Name": "Silo object store"})
        after = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=2)

        head = s3.head(bucket, key)
        got = s3.get(bucket, key)
        for response in (head, got):
            name = response.request.method
            assert response.status_code == 200, sh.describe(response)
            assert int(response.headers["Content-Length"]) == len(data), name
            assert response.headers.get("ETag") == sh.quoted_etag(md5), name
            assert response.headers.get("Content-Type") == content_type, name
            assert response.headers.get("x-amz-meta-author") == "alice", name
            assert response.headers.get("x-amz-meta-project-name") == "Silo object store", name
            assert response.headers.get("Accept-Ranges") == "bytes", name
            modified = http_date(response.headers["Last-Modified"])
            assert before <= modified <= after, f"{name} Last-Modified {modified} not in [{before}, {after}]"
        assert head.content == b""
        assert got.content == data
        last_modified = http_date(head.headers["Last-Modified"])

        page = sh.parse_list_v2(s3.list_v2(bucket, prefix="meta/").content)
        assert page.keys == [key]
        assert page.sizes[key] == len(data)
        assert page.etags[key] == sh.quoted_etag(md5)
        listed = iso_date(page.last_modified[key])
        assert abs((listed - last_modified).total_seconds()) < 1.0, \
            f"ListObjectsV2 LastModified {listed} vs HEAD Last-Modified {last_modified}"

        meta = boto3_s3.head_object(Bucket=bucket, Key=key)
        assert meta["ContentLength"] == len(data)
        assert meta["ETag"] == sh.quoted_etag(md5)
        assert meta["ContentType"] == content_type
        assert meta["Metadata"] == {"author": "alice", "project-name": "Silo object store"}
        assert before <= meta["LastModified"] <= after

        s3.put_ok(bucket, key, b"{}", headers={"Content-Type": "application/json"})
        head = s3.head(bucket, key)
        assert not [name for name in head.headers if name.lower().startswith("x-amz-meta-")], head.headers
        assert head.headers.get("Content-Type") == "application/json"
        assert head.headers.get("ETag") == sh.quoted_etag(sh.md5_hex(b"{}"))

    def test_upload_invalid_content_type(self, s3, bucket):
        """A Content-Type that is not a media type (RFC 9110 §8.3.1) is 400 InvalidArgument and nothing is
        stored; valid ones, parameters and quoted strings included, are stored and echoed as sent."""
        invalid = ["text", "text/", "/plain", "text plain", "text/plain; charset", "text/plain; =utf-8",
                   "text/pl ain", "<script>/x", "text/plain; a=\"unterminated", "a/b, c/d", "@/x"]
        valid = ["text/plain", "TEXT/HTML; Charset=UTF-8", "application/octet-stream",
                 "multipart/form-data; boundary=\"a b;c\"", "application/x-custom+json;v=2;q=x",
                 "text/plain;"]
        failures = []
        for index, content_type in enumerate(invalid):
            key = f"invalid/{index}"
            response = s3.put(bucket, key, b"payload", headers={"Content-Type": content_type})
            error = sh.parse_error(response.content) if response.content else None
            if response.status_code != 400 or error is None or error.code != "InvalidArgument":
                failures.append(f"Content-Type {content_type!r}: {response.status_code} "
                                f"{response.content[:200]!r} (expected 400 InvalidArgument)")
            elif s3.head(bucket, key).status_code != 404:
                failures.append(f"Content-Type {content_type!r}: refused but the object exists")
        for index, content_type in enumerate(valid):
            key = f"valid/{index}"
            response = s3.put(bucket, key, b"payload", headers={"Content-Type": content_type})
            if response.status_code != 200:
                failures.append(f"Content-Type {content_type!r}: {response.status_code} {response.content[:200]!r}")
                continue
            echoed = s3.head(bucket, key).headers.get("Content-Type")
            if echoed != content_type:
                failures.append(f"Content-Type {content_type!r} came back as {echoed!r}")
        assert not failures, "\n".join(failures)

    @pytest.mark.slow
    @pytest.mark.large_file
    @pytest.mark.timeout(10800)
    def test_upload_download_max_size(self, s3, bucket, perf_report):
        """The 10 GiB boundary: exactly the maximum goes in and comes back whole; one byte more is refused
        (400 EntityTooLarge) from its Content-Length, before any body."""
        size = sh.OBJECT_BYTES_MAX
        data = PatternData(size, seed=10)
        key = "max/exactly-max.bin"
        body, up_seconds = upload_stream(s3, bucket, key, data)
        head = s3.head(bucket, key)
        assert int(head.headers["Content-Length"]) == size
        back = download_hashed(s3, bucket, key)
        assert (back.size, back.md5) == (size, body.md5), "the max-size download differs from the upload"
        perf_report(f"gateway {size / GiB:.0f} GiB: upload {mb_per_s(size, up_seconds):.0f} MB/s, "
                    f"download {mb_per_s(size, back.seconds):.0f} MB/s")
        assert s3.delete(bucket, key).status_code == 204

        target, headers = sh.raw_signed_head(s3, "PUT", bucket, "max/one-over.bin",
                                             {"Content-Length": str(size + 1)})
        with sh.RawConnection(s3.hostname, s3.port) as connection:
            connection.send_head("PUT", target, headers)
            response = connection.read_response(timeout=15.0)
        assert (response.status, sh.parse_error(response.body).code) == (400, "EntityTooLarge"), response.body
        assert s3.head(bucket, "max/one-over.bin").status_code == 404

    @pytest.mark.concurrent
    def test_concurrent_operations(self, s3, bucket):
        """Uploads and downloads at once (16 threads): 8 objects first, then 32 uploads interleaved with 64
        downloads of the first ones; every download is whole and right, and so is every object at the end."""
        sizes = [1, 1000, 64 * KiB + 1, 1 * MiB, 3 * MiB + 5, sh.CHUNK_BYTES + 1]
        bodies = {f"seed/{index}": sh.random_bytes(sizes[index % len(sizes)], seed=100 + index) for index in range(8)}
        for key, data in bodies.items():
            s3.put_ok(bucket, key, data)
        new = {f"new/{index}": sh.random_bytes(sizes[index % len(sizes)] + index, seed=200 + index)
               for index in range(32)}
        seed_keys = sorted(bodies)

        def upload(key: str) -> str:
            response = s3.put(bucket, key, new[key])
            assert response.status_code == 200, sh.describe(response)
            assert response.headers.get("ETag") == sh.quoted_etag(sh.md5_hex(new[key])), key
            return key

        def download(index: int) -> str:
            key = seed_keys[index % len(seed_keys)]
            response = s3.get(bucket, key)
            assert response.status_code == 200, sh.describe(response)
            assert response.content == bodies[key], f"GET {key} returned different bytes"
            return key

        jobs = [("up", key) for key in new] + [("down", index) for index in range(64)]
        jobs = [jobs[(index * 37) % len(jobs)] for index in range(len(jobs))]  # interleave (37 is prime to 96)
        with ThreadPoolExecutor(max_workers=16) as pool:
            futures = [pool.submit(upload if kind == "up" else download, arg) for kind, arg in jobs]
            errors = [future.exception() for future in futures if future.exception() is not None]
        assert not errors, f"{len(errors)} of {len(jobs)} operations failed; first: {errors[0]!r}"

        bodies.update(new)
        assert s3.keys(bucket) == sorted(bodies)
        for key, data in bodies.items():
            assert hashlib.md5(s3.get_bytes(bucket, key)).hexdigest() == sh.md5_hex(data), key


class TestHealth:
    def test_health(self, s3_cluster):
        """GET /health answers 200 with a JSON object when the cluster is healthy, without credentials."""
        import requests

        response = requests.get(s3_cluster.endpoint + "/health", timeout=10)
        assert response.status_code == 200, f"GET /health -> {response.status_code} {response.text[:300]!r}"
        assert "json" in response.headers.get("Content-Type", ""), response.headers
        assert isinstance(response.json(), dict)
