"""End-to-end tests of the S3 surface beyond the seed suite: buckets, object semantics, ranges, conditional
requests, listing limits, SigV4 (ours, boto3's, curl's, presigned) and the HTTP protocol edges
(100-continue, bodies without a length). Each test uses a bucket of its own.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

import s3_helpers as sh
from s3_helpers import KiB, MiB, PatternData


def http_date(moment: dt.datetime) -> str:
    return email.utils.format_datetime(moment.astimezone(dt.timezone.utc), usegmt=True)


# --------------------------------------------------------------------------------------------------------------
# buckets
# --------------------------------------------------------------------------------------------------------------

class TestBuckets:
    def test_bucket_lifecycle(self, s3):
        """Create, HEAD, list, refuse to delete while not empty (409 BucketNotEmpty), delete when empty (204);
        afterwards HEAD is 404 and a second delete 404 NoSuchBucket."""
        name = sh.unique_bucket("life")
        try:
            created = s3.create_bucket(name)
            assert created.status_code == 200, sh.describe(created)
            assert s3.head_bucket(name).status_code == 200
            listing = s3.list_buckets()
            assert listing.status_code == 200, sh.describe(listing)
            root = sh.xml_root(listing.content)
            names = [bucket.findtext("Name") for bucket in root.iter("Bucket")]
            assert name in names, f"ListBuckets lacks {name}: {names}"
            created_at = [bucket.findtext("CreationDate") for bucket in root.iter("Bucket")
                          if bucket.findtext("Name") == name][0]
            assert created_at, "ListBuckets without CreationDate"

            again = s3.create_bucket(name)
            # us-east-1 answers 200 to its owner's re-create; every other region 409 BucketAlreadyOwnedByYou.
            if again.status_code != 200:
                sh.assert_s3_error(again, 409, "BucketAlreadyOwnedByYou")

            s3.put_ok(name, "keep/me", b"x")
            sh.assert_s3_error(s3.delete_bucket(name), 409, "BucketNotEmpty")
            assert s3.get_bytes(name, "keep/me") == b"x", "a refused DeleteBucket lost an object"
            assert s3.delete(name, "keep/me").status_code == 204
            deleted = s3.delete_bucket(name)
            assert deleted.status_code == 204, sh.describe(deleted)
            assert s3.head_bucket(name).status_code == 404
            sh.assert_s3_error(s3.delete_bucket(name), 404, "NoSuchBucket")
            names = [bucket.findtext("Name") for bucket in sh.xml_root(s3.list_buckets().content).iter("Bucket")]
            assert name not in names
        finally:
            s3.remove_bucket(name)

    def test_invalid_bucket_name(self, s3):
        for name in ["UPPERCASE", "ab", "under_score", "-leading-dash", "a" * 64, "double..dot", "192.168.1.1"]:
            sh.assert_s3_error(s3.create_bucket(name), 400, "InvalidBucketName")

    def test_missing_bucket(self, s3):
        """Object and listing requests on a bucket that does not exist are 404 NoSuchBucket, and a PUT into it
        creates nothing."""
        name = sh.unique_bucket("nobucket")
        sh.assert_s3_error(s3.put(name, "k", b"data"), 404, "NoSuchBucket")
        sh.assert_s3_error(s3.list_v2(name), 404, "NoSuchBucket")
        assert s3.head_bucket(name).status_code == 404


# --------------------------------------------------------------------------------------------------------------
# objects
# --------------------------------------------------------------------------------------------------------------

class TestObjects:
    def test_empty_object(self, s3, bucket):
        put = s3.put_ok(bucket, "empty", b"")
        assert put.headers.get("ETag") == sh.quoted_etag(sh.EMPTY_MD5)
        got = s3.get(bucket, "empty")
        assert got.status_code == 200, sh.describe(got)
        assert got.content == b"" and got.headers.get("Content-Length") == "0"
        assert got.headers.get("ETag") == sh.quoted_etag(sh.EMPTY_MD5)

    def test_overwrite_replaces_whole_object(self, s3, bucket):
        """A two-chunk object overwritten by a small one reads back as exactly the small one (no tail of the
        old version), and the other way round."""
        big = PatternData(sh.CHUNK_BYTES + 3 * MiB, seed=11)
        small = sh.random_bytes(5 * KiB, seed=12)
        body = sh.HashingBody(big)
        assert s3.put(bucket, "k", body).status_code == 200
        s3.put_ok(bucket, "k", small)
        assert s3.get_bytes(bucket, "k") == small
        assert s3.head(bucket, "k").headers.get("ETag") == sh.quoted_etag(sh.md5_hex(small))
        body = sh.HashingBody(big)
        assert s3.put(bucket, "k", body).status_code == 200
        back = sh.read_hashed(s3.get(bucket, "k", stream=True))
        assert (back.size, back.md5) == (big.size, body.md5)

    def test_delete_missing_key_is_204(self, s3, bucket):
        response = s3.delete(bucket, "never/existed")
        assert response.status_code == 204, sh.describe(response)

    def test_key_length_limit(self, s3, bucket):
        """Keys are at most 1024 bytes of UTF-8: 1024 ASCII or 512 two-byte characters are stored, one byte
        more is 400 KeyTooLongError."""
        for key in ["k" * 1024, "é" * 512]:
            s3.put_ok(bucket, key, b"longest")
            assert s3.get_bytes(bucket, key) == b"longest"
            assert key in s3.keys(bucket)
        for key in ["k" * 1025, "é" * 512 + "k"]:
            sh.assert_s3_error(s3.put(bucket, key, b"too long"), 400, "KeyTooLongError")

    def test_special_keys_round_trip(self, s3, bucket, boto3_s3):
        """Keys that need percent-encoding in the path and in the signature come back exactly, through our
        client and through boto3."""
        keys = ["with space", "plus+sign", "percent%41", "tilde~", "ünïcode/ключ/鍵", "a//double", "trail/",
                "!*'()$&,;=@:", "question?hash#", "tab\tinside", "emoji 🚀"]
        for index, key in enumerate(keys):
            data = f"body {index}".encode()
            s3.put_ok(bucket, key, data)
            assert s3.get_bytes(bucket, key) == data, key
            assert boto3_s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data, key
        assert s3.keys(bucket) == sorted(keys, key=lambda key: key.encode())
        boto_keys = [item["Key"] for item in boto3_s3.list_objects_v2(Bucket=bucket)["Contents"]]
        assert boto_keys == sorted(keys, key=lambda key: key.encode())

    def test_boto3_round_trip(self, boto3_s3, bucket):
        """What a current AWS SDK sends (PutObject with its default checksum, aws-chunked with a trailer when the
        SDK chooses it) round-trips; HEAD, list and delete agree."""
        data = sh.random_bytes(3 * MiB + 11, seed=13)
        put = boto3_s3.put_object(Bucket=bucket, Key="sdk/object", Body=data, ContentType="text/plain",
                                  Metadata={"origin": "boto3"})
        assert put["ETag"] == sh.quoted_etag(sh.md5_hex(data))
        got = boto3_s3.get_object(Bucket=bucket, Key="sdk/object")
        assert got["Body"].read() == data
        assert got["Metadata"] == {"origin": "boto3"}
        assert got["ContentType"] == "text/plain"
        listing = boto3_s3.list_objects_v2(Bucket=bucket, Prefix="sdk/")
        assert [(item["Key"], item["Size"]) for item in listing["Contents"]] == [("sdk/object", len(data))]
        boto3_s3.delete_object(Bucket=bucket, Key="sdk/object")
        assert boto3_s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


# --------------------------------------------------------------------------------------------------------------
# ranges and conditional requests
# --------------------------------------------------------------------------------------------------------------

class TestRanges:
    def test_range_requests(self, s3, bucket):
        """206 with Content-Range and exactly the bytes asked for: first byte, last byte, suffix, open end,
        across a chunk boundary, a whole chunk, an end past the size (clipped); a start past the end is 416
        InvalidRange."""
        size = 2 * sh.CHUNK_BYTES + 12_345
        data = PatternData(size, seed=14)
        body = sh.HashingBody(data)
        assert s3.put(bucket, "ranged", body).status_code == 200
        chunk = sh.CHUNK_BYTES
        cases = {
            "bytes=0-0": (0, 0),
            f"bytes={size - 1}-{size - 1}": (size - 1, size - 1),
            "bytes=-100": (size - 100, size - 1),
            f"bytes={size - 5000}-": (size - 5000, size - 1),
            f"bytes={chunk - 10}-{chunk + 9}": (chunk - 10, chunk + 9),
            f"bytes={chunk}-{2 * chunk - 1}": (chunk, 2 * chunk - 1),
            f"bytes={2 * chunk - 1}-{size + 1000}": (2 * chunk - 1, size - 1),
            f"bytes={chunk - 3}-{2 * chunk + 2}": (chunk - 3, 2 * chunk + 2),
        }
        for header, (first, last) in cases.items():
            response = s3.get(bucket, "ranged", headers={"Range": header})
            assert response.status_code == 206, f"Range {header}: {sh.describe(response)}"
            assert response.headers.get("Content-Range") == f"bytes {first}-{last}/{size}", header
            assert int(response.headers["Content-Length"]) == last - first + 1, header
            assert response.headers.get("ETag") == sh.quoted_etag(body.md5), header
            assert response.content == data.read(first, last - first + 1), f"Range {header}: wrong bytes"
        sh.assert_s3_error(s3.get(bucket, "ranged", headers={"Range": f"bytes={size}-"}), 416, "InvalidRange")


class TestConditional:
    def test_conditional_requests(self, s3, bucket):
        """If-Match / If-None-Match / If-Modified-Since / If-Unmodified-Since as S3 (and RFC 9110 §13.2.2)
        evaluate them: 412 PreconditionFailed, 304 without a body for reads, and the documented precedence."""
        s3.put_ok(bucket, "cond", b"conditional body")
        head = s3.head(bucket, "cond")
        etag = head.headers["ETag"]
        modified = email.utils.parsedate_to_datetime(head.headers["Last-Modified"])
        earlier = http_date(modified - dt.timedelta(days=1))
        at = http_date(modified)

        def get(**headers):
            return s3.get(bucket, "cond", headers={name.replace("_", "-"): value for name, value in headers.items()})

        assert get(If_Match=etag).status_code == 200
        assert get(If_Match="*").status_code == 200
        sh.assert_s3_error(get(If_Match='"0123456789abcdef0123456789abcdef"'), 412, "PreconditionFailed")
        not_modified = get(If_None_Match=etag)
        assert not_modified.status_code == 304, sh.describe(not_modified)
        assert not_modified.content == b""
        assert get(If_None_Match='"other"').status_code == 200
        assert get(If_Modified_Since=at).status_code == 304
        assert get(If_Modified_Since=earlier).status_code == 200
        sh.assert_s3_error(get(If_Unmodified_Since=earlier), 412, "PreconditionFailed")
        assert get(If_Unmodified_Since=at).status_code == 200
        # Precedence: a true If-Match makes If-Unmodified-Since moot; If-None-Match makes If-Modified-Since moot.
        assert get(If_Match=etag, If_Unmodified_Since=earlier).status_code == 200
        assert get(If_None_Match='"other"', If_Modified_Since=at).status_code == 200
        # HEAD evaluates the same way (no bodies).
        assert s3.head(bucket, "cond", headers={"If-Match": '"nope"'}).status_code == 412
        assert s3.head(bucket, "cond", headers={"If-None-Match": etag}).status_code == 304
        # A condition on a missing key: the key's absence wins.
        sh.assert_s3_error(s3.get(bucket, "absent", headers={"If-None-Match": etag}), 404, "NoSuchKey")


# --------------------------------------------------------------------------------------------------------------
# listing limits
# --------------------------------------------------------------------------------------------------------------

class TestListing:
    def test_max_keys_capped_at_1000(self, s3, bucket):
        """max-keys above 1000 returns at most 1000 keys (truncated, with a token that continues)."""
        keys = [f"many/{index:05d}" for index in range(1003)]
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda key: s3.put_ok(bucket, key, b""), keys))
        response = s3.list_v2(bucket, max_keys="5000")
        assert response.status_code == 200, sh.describe(response)
        page = sh.parse_list_v2(response.content)
        assert len(page.keys) == 1000 and page.is_truncated and page.next_token
        rest = sh.parse_list_v2(s3.list_v2(bucket, max_keys="5000", continuation_token=page.next_token).content)
        assert page.keys + rest.keys == keys and not rest.is_truncated

    def test_invalid_list_arguments(self, s3, bucket):
        for params in ({"max_keys": "-1"}, {"max_keys": "ten"}, {"continuation_token": "not-a-token!"}):
            sh.assert_s3_error(s3.list_v2(bucket, **params), 400, "InvalidArgument")


# --------------------------------------------------------------------------------------------------------------
# SigV4
# --------------------------------------------------------------------------------------------------------------

class TestAuth:
    def test_signed_and_unsigned_payloads(self, s3, bucket):
        data = sh.random_bytes(2 * MiB + 1, seed=15)
        s3.put_ok(bucket, "signed", data, payload="signed")
        s3.put_ok(bucket, "unsigned", data, payload="unsigned")
        assert s3.get_bytes(bucket, "signed") == data == s3.get_bytes(bucket, "unsigned")

    def test_payload_hash_mismatch(self, s3, bucket):
        """A body whose SHA-256 is not the signed x-amz-content-sha256 is 400 XAmzContentSHA256Mismatch and
        nothing of it is kept: a new key stays absent, an existing one keeps its old version."""
        data = sh.random_bytes(3 * MiB, seed=16)
        wrong = hashlib.sha256(data + b"!").hexdigest()
        sh.assert_s3_error(s3.put(bucket, "new", data, payload=wrong), 400, "XAmzContentSHA256Mismatch")
        assert s3.head(bucket, "new").status_code == 404
        s3.put_ok(bucket, "existing", b"old version")
        sh.assert_s3_error(s3.put(bucket, "existing", data, payload=wrong), 400, "XAmzContentSHA256Mismatch")
        assert s3.get_bytes(bucket, "existing") == b"old version"
        assert s3.keys(bucket) == ["existing"]

    def test_bad_signature(self, s3, bucket):
        s3.put_ok(bucket, "k", b"secret data")
        wrong = s3.with_credentials(sh.Credentials(s3.credentials.access_key, s3.credentials.secret_key + "x"))
        sh.assert_s3_error(wrong.get(bucket, "k"), 403, "SignatureDoesNotMatch")
        sh.assert_s3_error(wrong.put(bucket, "k", b"overwritten"), 403, "SignatureDoesNotMatch")
        sh.assert_s3_error(wrong.list_v2(bucket), 403, "SignatureDoesNotMatch")
        assert s3.get_bytes(bucket, "k") == b"secret data"

    def test_tampered_request(self, s3, bucket):
        """A signature covers the path and the signed headers: the same signature on another key or with a
        changed x-amz-meta value is 403 SignatureDoesNotMatch."""
        s3.put_ok(bucket, "a", b"A")
        s3.put_ok(bucket, "b", b"B")
        headers = s3.signed_headers("GET", bucket, "a", None, {}, sh.EMPTY_SHA256)
        response = requests.get(s3.url(bucket, "b"), headers=headers, timeout=30)
        sh.assert_s3_error(response, 403, "SignatureDoesNotMatch")
        meta = {"x-amz-meta-owner": "alice"}
        headers = s3.signed_headers("PUT", bucket, "c", None, meta, sh.UNSIGNED_PAYLOAD)
        response = requests.put(s3.url(bucket, "c"), data=b"C", timeout=30,
                                headers={**headers, "x-amz-meta-owner": "mallory"})
        sh.assert_s3_error(response, 403, "SignatureDoesNotMatch")
        assert s3.head(bucket, "c").status_code == 404

    def test_unknown_access_key(self, s3, bucket):
        stranger = s3.with_credentials(sh.Credentials("AKIANOSUCHKEY0000000", "whatever"))
        sh.assert_s3_error(stranger.get(bucket, "k"), 403, "InvalidAccessKeyId")
        sh.assert_s3_error(stranger.list_buckets(), 403, "InvalidAccessKeyId")

    def test_anonymous_request_refused(self, s3, bucket):
        s3.put_ok(bucket, "private", b"not for everyone")
        anonymous = s3.with_credentials(None)
        sh.assert_s3_error(anonymous.get(bucket, "private"), 403, "AccessDenied")
        sh.assert_s3_error(anonymous.put(bucket, "planted", b"x"), 403, "AccessDenied")
        assert s3.head(bucket, "planted").status_code == 404

    def test_request_time_too_skewed(self, s3, bucket):
        stale = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=20)
        headers = s3.signed_headers("GET", bucket, None, {"list-type": "2"}, {}, sh.EMPTY_SHA256, now=stale)
        response = requests.get(s3.url(bucket, None, {"list-type": "2"}), headers=headers, timeout=30)
        sh.assert_s3_error(response, 403, "RequestTimeTooSkewed")

    def test_presigned_url(self, s3, bucket, boto3_s3):
        """A presigned GET (query-string SigV4, as boto3 makes it) works without headers; a tampered or expired
        one is 403."""
        s3.put_ok(bucket, "shared", b"presigned content")
        url = boto3_s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared"},
                                              ExpiresIn=300)
        response = requests.get(url, timeout=30)
        assert response.status_code == 200, sh.describe(response)
        assert response.content == b"presigned content"
        response = requests.get(url.replace("/shared?", "/other?"), timeout=30)
        sh.assert_s3_error(response, 403, "SignatureDoesNotMatch")
        put_url = boto3_s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "uploaded"},
                                                  ExpiresIn=300)
        response = requests.put(put_url, data=b"via presigned PUT", timeout=30)
        assert response.status_code == 200, sh.describe(response)
        assert s3.get_bytes(bucket, "uploaded") == b"via presigned PUT"

    def test_curl_sigv4(self, s3, bucket, tmp_path):
        """curl's own SigV4 (--aws-sigv4) uploads 8 MiB with Expect: 100-continue (answered with 100 Continue,
        not after curl's 1 s wait) and downloads it back."""
        if shutil.which("curl") is None:
            pytest.skip("needs curl")
        source = tmp_path / "upload.bin"
        data = sh.random_bytes(8 * MiB + 3, seed=17)
        source.write_bytes(data)
        credentials = f"{s3.credentials.access_key}:{s3.credentials.secret_key}"
        sigv4 = f"aws:amz:{sh.REGION}:s3"
        url = s3.url(bucket, "curl/object.bin")
        put = subprocess.run(
            ["curl", "-sS", "-v", "--fail-with-body", "--aws-sigv4", sigv4, "--user", credentials,
             "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "-H", "Expect: 100-continue",
             "-T", str(source), "-w", "%{http_code}", "-o", str(tmp_path / "put.out"), url],
            capture_output=True, text=True, timeout=120)
        assert put.returncode == 0 and put.stdout == "200", \
            f"curl PUT: exit {put.returncode}, status {put.stdout!r}\n{put.stderr[-3000:]}"
        assert "HTTP/1.1 100 Continue" in put.stderr, f"no 100 Continue:\n{put.stderr[-3000:]}"
        assert "Done waiting for 100-continue" not in put.stderr, "curl waited for 100 Continue"
        target = tmp_path / "download.bin"
        get = subprocess.run(
            ["curl", "-sS", "--fail-with-body", "--aws-sigv4", sigv4, "--user", credentials,
             "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "-o", str(target), url],
            capture_output=True, text=True, timeout=120)
        assert get.returncode == 0, f"curl GET: exit {get.returncode}\n{get.stderr[-2000:]}"
        assert target.read_bytes() == data


# --------------------------------------------------------------------------------------------------------------
# HTTP protocol edges
# --------------------------------------------------------------------------------------------------------------

class TestProtocol:
    def test_expect_100_continue(self, s3, bucket):
        """A PUT with Expect: 100-continue gets 100 Continue before it sends the body, then 200 with the ETag."""
        data = sh.random_bytes(2 * MiB + 5, seed=18)
        target, headers = sh.raw_signed_head(s3, "PUT", bucket, "expect/ok",
                                             {"Content-Length": str(len(data)), "Expect": "100-continue"})
        with sh.RawConnection(s3.hostname, s3.port) as connection:
            connection.send_head("PUT", target, headers)
            try:
                interim = connection.read_response(timeout=10.0)
            except TimeoutError:
                pytest.fail("no 100 Continue within 10 s: the gateway waits for a body the client holds back")
            assert interim.status == 100, f"expected 100 Continue first, got {interim.status} {interim.body[:300]!r}"
            connection.send(data)
            final = connection.read_final_response(timeout=60.0)
        assert final.status == 200, f"{final.status} {final.body[:300]!r}"
        assert final.headers.get("etag") == sh.quoted_etag(sh.md5_hex(data))
        assert s3.get_bytes(bucket, "expect/ok") == data

    def test_expect_100_continue_refused_early(self, s3, bucket):
        """When the request is known to fail, the final error comes instead of 100 Continue: a missing bucket
        (404 NoSuchBucket), a bad signature (403)."""
        cases = [
            (s3, sh.unique_bucket("nobucket"), 404, "NoSuchBucket"),
            (s3.with_credentials(sh.Credentials(s3.credentials.access_key, "wrong-secret")), bucket, 403,
             "SignatureDoesNotMatch"),
        ]
        for client, name, status, code in cases:
            target, headers = sh.raw_signed_head(client, "PUT", name, "expect/refused",
                                                 {"Content-Length": str(64 * MiB), "Expect": "100-continue"})
            with sh.RawConnection(s3.hostname, s3.port) as connection:
                connection.send_head("PUT", target, headers)
                response = connection.read_response(timeout=10.0)
            assert response.status == status and sh.parse_error(response.body).code == code, \
                f"expected {status} {code} instead of 100 Continue, got {response.status} {response.body[:300]!r}"
        assert s3.head(bucket, "expect/refused").status_code == 404

    def test_body_without_length(self, s3, bucket):
        """A body sent with Transfer-Encoding: chunked (no Content-Length) is stored whole."""
        data = sh.random_bytes(3 * MiB + 17, seed=19)

        def pieces():
            for start in range(0, len(data), 256 * KiB):
                yield data[start:start + 256 * KiB]

        response = s3.put(bucket, "chunked", pieces(), payload="unsigned")
        assert response.request.headers.get("Transfer-Encoding") == "chunked"
        assert response.status_code == 200, sh.describe(response)
        assert response.headers.get("ETag") == sh.quoted_etag(sh.md5_hex(data))
        assert s3.get_bytes(bucket, "chunked") == data

    @pytest.mark.slow
    @pytest.mark.large_file
    @pytest.mark.timeout(7200)
    def test_body_without_length_cut_off_at_limit(self, s3, s3_cluster, bucket):
        """A body without a length that runs past the maximum object size is cut off there: 400
        EntityTooLarge (or the connection closed), never a 200, and nothing of it is kept (no object, and
        no chunk file left on the nodes once GC ran)."""
        node_dirs = s3_cluster.node_dirs()

        def chunk_file_count() -> int:
            return sum(1 for node in node_dirs for _ in (node / "chunks").glob("*/*"))

        files_before = chunk_file_count() if node_dirs else None
        data = PatternData(sh.OBJECT_BYTES_MAX + 8 * MiB, seed=20)
        target, headers = sh.raw_signed_head(s3, "PUT", bucket, "unbounded", {"Transfer-Encoding": "chunked"})
        response = None
        with sh.RawConnection(s3.hostname, s3.port, timeout=120.0) as connection:
            connection.send_head("PUT", target, headers)
            try:
                for piece in data.pieces(4 * MiB):
                    connection.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                connection.send(b"0\r\n\r\n")
            except OSError:
                pass  # the gateway stopped reading: expected once it passed the limit
            try:
                response = connection.read_final_response(timeout=60.0)
            except (OSError, ConnectionError):
                response = None
        if response is not None:
            assert response.status == 400 and sh.parse_error(response.body).code == "EntityTooLarge", \
                f"{response.status} {response.body[:300]!r}"
        assert s3.head(bucket, "unbounded").status_code == 404
        if files_before is not None:
            settled = sh.wait_until(lambda: chunk_file_count() <= files_before, 120.0, interval=1.0)
            assert settled, f"chunk files on the nodes: {chunk_file_count()} after, {files_before} before"
