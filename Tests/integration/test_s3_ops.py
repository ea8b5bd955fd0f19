"""S3 operations beyond single PUT/GET: multipart uploads (raw and through boto3), UploadPartCopy, CopyObject,
DeleteObjects and conditional writes (If-None-Match: * / If-Match), with S3's error codes. Each test uses a
bucket of its own. Parts are 5 MiB (S3's minimum for all but the last), so objects stay small.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import pytest
from botocore.exceptions import ClientError

import s3_helpers as sh
from s3_helpers import KiB, MiB

PART = 5 * MiB
GC_TIMEOUT = 40.0


# --------------------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------------------

def multipart_etag(part_md5s: list[str]) -> str:
    """S3's ETag of a multipart object: MD5 of the concatenated binary part MD5s, then -N."""
    digest = hashlib.md5(b"".join(bytes.fromhex(md5) for md5 in part_md5s)).hexdigest()
    return f"{digest}-{len(part_md5s)}"


def create_upload(s3: sh.S3, bucket: str, key: str, headers: Optional[dict] = None) -> str:
    response = s3.request("POST", bucket, key, query={"uploads": None}, headers=headers)
    assert response.status_code == 200, sh.describe(response)
    root = sh.xml_root(response.content)
    assert root.tag == "InitiateMultipartUploadResult", response.text
    assert root.findtext("Bucket") == bucket and root.findtext("Key") == key, response.text
    upload_id = root.findtext("UploadId")
    assert upload_id, response.text
    return upload_id


def upload_part(s3: sh.S3, bucket: str, key: str, upload_id: str, number, data: bytes, headers=None):
    return s3.request("PUT", bucket, key, query={"partNumber": str(number), "uploadId": upload_id}, data=data,
                      headers=headers)


def upload_part_ok(s3: sh.S3, bucket: str, key: str, upload_id: str, number: int, data: bytes) -> str:
    response = upload_part(s3, bucket, key, upload_id, number, data)
    assert response.status_code == 200, sh.describe(response)
    assert response.headers.get("ETag") == sh.quoted_etag(sh.md5_hex(data)), sh.describe(response)
    return sh.md5_hex(data)


def completion_xml(parts: list[tuple[int, str]]) -> bytes:
    body = "".join(f"<Part><PartNumber>{number}</PartNumber><ETag>\"{etag}\"</ETag></Part>" for number, etag in parts)
    return f"<CompleteMultipartUpload>{body}</CompleteMultipartUpload>".encode()


def complete(s3: sh.S3, bucket: str, key: str, upload_id: str, parts: list[tuple[int, str]], headers=None,
             body: Optional[bytes] = None):
    return s3.request("POST", bucket, key, query={"uploadId": upload_id}, headers=headers,
                      data=completion_xml(parts) if body is None else body)


def list_parts(s3: sh.S3, bucket: str, key: str, upload_id: str, **query: str):
    return s3.request("GET", bucket, key, query={"uploadId": upload_id, **query})


def list_uploads(s3: sh.S3, bucket: str, **query: str):
    return s3.request("GET", bucket, query={"uploads": None, **query})


def upload_ids(response) -> list[tuple[str, str]]:
    assert response.status_code == 200, sh.describe(response)
    root = sh.xml_root(response.content)
    return [(upload.findtext("Key"), upload.findtext("UploadId")) for upload in root.iter("Upload")]


def content_md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


def delete_xml(keys: list[str], quiet: bool = False) -> bytes:
    objects = "".join(f"<Object><Key>{key}</Key></Object>" for key in keys)
    return f"<Delete>{'<Quiet>true</Quiet>' if quiet else ''}{objects}</Delete>".encode()


def delete_objects(s3: sh.S3, bucket: str, body: bytes, headers: Optional[dict] = None):
    return s3.request("POST", bucket, query={"delete": None}, data=body,
                      headers={"Content-MD5": content_md5(body)} if headers is None else headers)


def chunk_files(node_dirs, chunk_id: str) -> list:
    return [path for node in node_dirs for path in (node / "chunks").glob(f"*/{chunk_id}")]


def client_error_code(error: ClientError) -> str:
    return error.response["Error"]["Code"]


# --------------------------------------------------------------------------------------------------------------
# multipart
# --------------------------------------------------------------------------------------------------------------

class TestMultipart:
    def test_multipart_lifecycle(self, s3, bucket):
        """Create (with Content-Type and metadata), three parts uploaded out of order, ListParts with paging,
        ListMultipartUploads, Complete: the ETag is S3's `md5-of-md5s-3`, the object is byte-exact, ranges
        across part boundaries are right, and the upload is gone afterwards."""
        key = "mp/three-parts.bin"
        parts = [sh.random_bytes(PART, seed=1), sh.random_bytes(PART, seed=2), sh.random_bytes(MiB + 3, seed=3)]
        upload_id = create_upload(s3, bucket, key, headers={"Content-Type": "application/x-silo",
                                                            "x-amz-meta-origin": "multipart"})
        etags = {}
        for number in (3, 1, 2):
            etags[number] = upload_part_ok(s3, bucket, key, upload_id, number, parts[number - 1])

        first = list_parts(s3, bucket, key, upload_id, **{"max-parts": "2"})
        assert first.status_code == 200, sh.describe(first)
        root = sh.xml_root(first.content)
        assert [int(p.findtext("PartNumber")) for p in root.iter("Part")] == [1, 2]
        assert root.findtext("IsTruncated") == "true" and root.findtext("NextPartNumberMarker") == "2"
        assert [p.findtext("ETag") for p in root.iter("Part")] == [sh.quoted_etag(etags[1]), sh.quoted_etag(etags[2])]
        assert [int(p.findtext("Size")) for p in root.iter("Part")] == [PART, PART]
        rest = sh.xml_root(list_parts(s3, bucket, key, upload_id, **{"part-number-marker": "2"}).content)
        assert [int(p.findtext("PartNumber")) for p in rest.iter("Part")] == [3]
        assert rest.findtext("IsTruncated") == "false"
        assert (key, upload_id) in upload_ids(list_uploads(s3, bucket, prefix="mp/"))
        assert upload_ids(list_uploads(s3, bucket, prefix="other/")) == []
        assert s3.head(bucket, key).status_code == 404, "parts are no object before Complete"

        done = complete(s3, bucket, key, upload_id, [(n, etags[n]) for n in (1, 2, 3)])
        assert done.status_code == 200, sh.describe(done)
        expected_etag = multipart_etag([etags[1], etags[2], etags[3]])
        result = sh.xml_root(done.content)
        assert result.tag == "CompleteMultipartUploadResult"
        assert result.findtext("ETag") == sh.quoted_etag(expected_etag)
        assert result.findtext("Key") == key and result.findtext("Bucket") == bucket

        whole = b"".join(parts)
        head = s3.head(bucket, key)
        assert head.headers["ETag"] == sh.quoted_etag(expected_etag)
        assert int(head.headers["Content-Length"]) == len(whole)
        assert head.headers["Content-Type"] == "application/x-silo"
        assert head.headers.get("x-amz-meta-origin") == "multipart"
        assert s3.get_bytes(bucket, key) == whole
        for first_byte, last_byte in [(PART - 10, PART + 9), (PART - 1, 2 * PART), (PART, 2 * PART - 1),
                                      (10, len(whole) - 10), (2 * PART - 5, 2 * PART + 5)]:
            got = s3.get(bucket, key, headers={"Range": f"bytes={first_byte}-{last_byte}"})
            assert got.status_code == 206, sh.describe(got)
            assert got.content == whole[first_byte:last_byte + 1], f"range {first_byte}-{last_byte}"
        assert upload_ids(list_uploads(s3, bucket)) == []
        sh.assert_s3_error(list_parts(s3, bucket, key, upload_id), 404, "NoSuchUpload")
        sh.assert_s3_error(complete(s3, bucket, key, upload_id, [(1, etags[1])]), 404, "NoSuchUpload")

    def test_multipart_errors(self, s3, bucket):
        """S3's refusals: NoSuchUpload (unknown id, another key's id), InvalidArgument (part numbers outside
        1…10000), InvalidPartOrder, InvalidPart (missing part, wrong ETag), EntityTooSmall (a part but the last
        under 5 MiB), MalformedXML. None of them loses the upload: it completes afterwards."""
        key = "mp/errors"
        upload_id = create_upload(s3, bucket, key)
        small = sh.random_bytes(100 * KiB, seed=4)
        big = sh.random_bytes(PART, seed=5)
        sh.assert_s3_error(upload_part(s3, bucket, key, "no-such-upload", 1, small), 404, "NoSuchUpload")
        sh.assert_s3_error(upload_part(s3, bucket, "mp/other-key", upload_id, 1, small), 404, "NoSuchUpload")
        for number in ("0", "10001", "-1", "x"):
            sh.assert_s3_error(upload_part(s3, bucket, key, upload_id, number, small), 400, "InvalidArgument")
        small_etag = upload_part_ok(s3, bucket, key, upload_id, 1, small)
        big_etag = upload_part_ok(s3, bucket, key, upload_id, 2, big)
        last_etag = upload_part_ok(s3, bucket, key, upload_id, 3, small)

        sh.assert_s3_error(complete(s3, bucket, key, upload_id, [(2, big_etag), (1, small_etag)]), 400,
                           "InvalidPartOrder")
        sh.assert_s3_error(complete(s3, bucket, key, upload_id, [(2, big_etag), (4, small_etag)]), 400, "InvalidPart")
        sh.assert_s3_error(complete(s3, bucket, key, upload_id, [(2, small_etag), (3, last_etag)]), 400, "InvalidPart")
        sh.assert_s3_error(complete(s3, bucket, key, upload_id, [(1, small_etag), (2, big_etag)]), 400,
                           "EntityTooSmall")
        for body in (b"<CompleteMultipartUpload><Part></CompleteMultipartUpload>", b"",
                     b"<CompleteMultipartUpload></CompleteMultipartUpload>", b"<Other/>"):
            sh.assert_s3_error(complete(s3, bucket, key, upload_id, [], body=body), 400, "MalformedXML")
        sh.assert_s3_error(complete(s3, bucket, key, "no-such-upload", [(2, big_etag)]), 404, "NoSuchUpload")
        sh.assert_s3_error(complete(s3, bucket, "mp/other-key", upload_id, [(2, big_etag)]), 404, "NoSuchUpload")
        sh.assert_s3_error(s3.request("DELETE", bucket, key, query={"uploadId": "no-such-upload"}), 404,
                           "NoSuchUpload")
        sh.assert_s3_error(list_parts(s3, bucket, key, upload_id, **{"max-parts": "x"}), 400, "InvalidArgument")

        # The last part may be small; parts left out go to GC with the upload.
        done = complete(s3, bucket, key, upload_id, [(2, big_etag), (3, last_etag)])
        assert done.status_code == 200, sh.describe(done)
        assert s3.get_bytes(bucket, key) == big + small

    def test_part_uploaded_again_replaces_the_first(self, s3, bucket):
        key = "mp/replaced"
        upload_id = create_upload(s3, bucket, key)
        old = upload_part_ok(s3, bucket, key, upload_id, 1, b"old bytes")
        new = upload_part_ok(s3, bucket, key, upload_id, 1, b"new bytes!")
        listed = sh.xml_root(list_parts(s3, bucket, key, upload_id).content)
        assert [p.findtext("ETag") for p in listed.iter("Part")] == [sh.quoted_etag(new)]
        sh.assert_s3_error(complete(s3, bucket, key, upload_id, [(1, old)]), 400, "InvalidPart")
        assert complete(s3, bucket, key, upload_id, [(1, new)]).status_code == 200
        assert s3.get_bytes(bucket, key) == b"new bytes!"
        assert s3.head(bucket, key).headers["ETag"] == sh.quoted_etag(multipart_etag([new]))

    def test_abort_sends_parts_to_gc(self, s3, bucket, database_url, cluster_node_dirs):
        """AbortMultipartUpload answers 204; the upload is gone and its parts' chunk files leave every node."""
        key = "mp/aborted"
        upload_id = create_upload(s3, bucket, key)
        for number in (1, 2):
            upload_part_ok(s3, bucket, key, upload_id, number, sh.random_bytes(MiB, seed=10 + number))
        rows = sh.psql(database_url, "SELECT chunk_id FROM multipart_part_chunks WHERE upload_id = :'id'",
                       id=upload_id)
        ids = [row[0] for row in rows]
        assert len(ids) == 2, rows
        assert all(chunk_files(cluster_node_dirs, chunk_id) for chunk_id in ids)

        aborted = s3.request("DELETE", bucket, key, query={"uploadId": upload_id})
        assert aborted.status_code == 204, sh.describe(aborted)
        sh.assert_s3_error(list_parts(s3, bucket, key, upload_id), 404, "NoSuchUpload")
        sh.assert_s3_error(upload_part(s3, bucket, key, upload_id, 3, b"late"), 404, "NoSuchUpload")
        assert upload_ids(list_uploads(s3, bucket)) == []
        left = sh.wait_until(lambda: not [p for i in ids for p in chunk_files(cluster_node_dirs, i)], GC_TIMEOUT,
                             interval=0.5)
        assert left, f"chunk files of the aborted upload are still on the nodes after {GC_TIMEOUT} s"

    def test_list_uploads_markers(self, s3, bucket):
        ids = sorted((key, create_upload(s3, bucket, key)) for key in ["a", "b", "b", "c"])
        assert upload_ids(list_uploads(s3, bucket)) == ids
        page = list_uploads(s3, bucket, **{"max-uploads": "2"})
        root = sh.xml_root(page.content)
        assert upload_ids(page) == ids[:2] and root.findtext("IsTruncated") == "true"
        nxt = list_uploads(s3, bucket, **{"key-marker": root.findtext("NextKeyMarker"),
                                          "upload-id-marker": root.findtext("NextUploadIdMarker")})
        assert upload_ids(nxt) == ids[2:]
        assert upload_ids(list_uploads(s3, bucket, **{"key-marker": "b"})) == ids[3:]
        sh.assert_s3_error(list_uploads(s3, bucket, **{"max-uploads": "-1"}), 400, "InvalidArgument")
        sh.assert_s3_error(list_uploads(s3, sh.unique_bucket("none")), 404, "NoSuchBucket")
        for key, upload_id in ids:
            assert s3.request("DELETE", bucket, key, query={"uploadId": upload_id}).status_code == 204

    def test_boto3_multipart(self, boto3_s3, bucket):
        """boto3's low-level calls, and its managed transfer (which goes multipart past its threshold)."""
        key = "sdk/multipart"
        parts = [sh.random_bytes(PART, seed=20), sh.random_bytes(2 * MiB, seed=21)]
        created = boto3_s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="text/plain")
        upload_id = created["UploadId"]
        etags = []
        for number, data in enumerate(parts, start=1):
            etags.append(boto3_s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                                              Body=data)["ETag"])
        assert etags == [sh.quoted_etag(sh.md5_hex(data)) for data in parts]
        listed = boto3_s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)
        assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed["Parts"]] == \
            [(1, etags[0], PART), (2, etags[1], 2 * MiB)]
        uploads = boto3_s3.list_multipart_uploads(Bucket=bucket, Prefix="sdk/")["Uploads"]
        assert [(u["Key"], u["UploadId"]) for u in uploads] == [(key, upload_id)]
        done = boto3_s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]})
        assert done["ETag"] == sh.quoted_etag(multipart_etag([sh.md5_hex(data) for data in parts]))
        got = boto3_s3.get_object(Bucket=bucket, Key=key)
        assert got["Body"].read() == b"".join(parts) and got["ContentType"] == "text/plain"

        other = boto3_s3.create_multipart_upload(Bucket=bucket, Key="sdk/aborted")["UploadId"]
        boto3_s3.abort_multipart_upload(Bucket=bucket, Key="sdk/aborted", UploadId=other)
        with pytest.raises(ClientError) as raised:
            boto3_s3.list_parts(Bucket=bucket, Key="sdk/aborted", UploadId=other)
        assert client_error_code(raised.value) == "NoSuchUpload"

        import io

        from boto3.s3.transfer import TransferConfig

        data = sh.random_bytes(2 * PART + 123, seed=22)
        boto3_s3.upload_fileobj(io.BytesIO(data), bucket, "sdk/managed",
                                Config=TransferConfig(multipart_threshold=PART, multipart_chunksize=PART,
                                                      max_concurrency=3))
        head = boto3_s3.head_object(Bucket=bucket, Key="sdk/managed")
        assert head["ETag"].endswith('-3"') and head["ContentLength"] == len(data)
        assert boto3_s3.get_object(Bucket=bucket, Key="sdk/managed")["Body"].read() == data

    def test_upload_part_copy(self, s3, bucket):
        """Parts copied from objects, whole and by x-amz-copy-source-range, assemble like uploaded ones."""
        source = sh.random_bytes(PART + MiB, seed=30)
        s3.put_ok(bucket, "src/big", source)
        s3.put_ok(bucket, "src/small", b"tail bytes")
        key = "mp/copied"
        upload_id = create_upload(s3, bucket, key)

        def copy_part(number: int, source_key: str, source_range: Optional[str] = None):
            headers = {"x-amz-copy-source": f"/{bucket}/{source_key}"}
            if source_range:
                headers["x-amz-copy-source-range"] = source_range
            return s3.request("PUT", bucket, key, query={"partNumber": str(number), "uploadId": upload_id},
                              headers=headers)

        first = copy_part(1, "src/big", f"bytes=1-{PART}")
        assert first.status_code == 200, sh.describe(first)
        result = sh.xml_root(first.content)
        assert result.tag == "CopyPartResult" and result.findtext("LastModified")
        assert result.findtext("ETag") == sh.quoted_etag(sh.md5_hex(source[1:PART + 1]))
        second = copy_part(2, "src/small")
        assert second.status_code == 200, sh.describe(second)
        sh.assert_s3_error(copy_part(3, "src/big", f"bytes=0-{len(source)}"), 400, "InvalidArgument")
        sh.assert_s3_error(copy_part(3, "src/big", "bytes=5-"), 400, "InvalidArgument")
        sh.assert_s3_error(copy_part(3, "src/missing"), 404, "NoSuchKey")
        etags = [sh.md5_hex(source[1:PART + 1]), sh.md5_hex(b"tail bytes")]
        done = complete(s3, bucket, key, upload_id, [(1, etags[0]), (2, etags[1])])
        assert done.status_code == 200, sh.describe(done)
        assert s3.get_bytes(bucket, key) == source[1:PART + 1] + b"tail bytes"


# --------------------------------------------------------------------------------------------------------------
# CopyObject
# --------------------------------------------------------------------------------------------------------------

class TestCopyObject:
    def test_copy_metadata_directive(self, s3, bucket, boto3_s3):
        data = sh.random_bytes(3 * MiB + 1, seed=40)
        s3.put_ok(bucket, "src", data, headers={"Content-Type": "text/x-source", "x-amz-meta-colour": "blue"})

        copied = s3.request("PUT", bucket, "dst/copy", headers={"x-amz-copy-source": f"{bucket}/src"})
        assert copied.status_code == 200, sh.describe(copied)
        result = sh.xml_root(copied.content)
        assert result.tag == "CopyObjectResult" and result.findtext("LastModified")
        assert result.findtext("ETag") == sh.quoted_etag(sh.md5_hex(data))
        head = s3.head(bucket, "dst/copy")
        assert head.headers["Content-Type"] == "text/x-source" and head.headers["x-amz-meta-colour"] == "blue"
        assert s3.get_bytes(bucket, "dst/copy") == data

        replaced = s3.request("PUT", bucket, "dst/replace", headers={
            "x-amz-copy-source": f"/{bucket}/src", "x-amz-metadata-directive": "REPLACE",
            "Content-Type": "text/x-new", "x-amz-meta-shape": "round"})
        assert replaced.status_code == 200, sh.describe(replaced)
        head = s3.head(bucket, "dst/replace")
        assert head.headers["Content-Type"] == "text/x-new" and head.headers.get("x-amz-meta-shape") == "round"
        assert "x-amz-meta-colour" not in head.headers
        assert s3.get_bytes(bucket, "dst/replace") == data

        boto3_s3.copy_object(Bucket=bucket, Key="dst/boto3", CopySource={"Bucket": bucket, "Key": "src"})
        assert boto3_s3.get_object(Bucket=bucket, Key="dst/boto3")["Body"].read() == data
        # The source is untouched, and independent of its copies.
        assert s3.delete(bucket, "src").status_code == 204
        assert s3.get_bytes(bucket, "dst/copy") == data

    def test_copy_onto_itself(self, s3, bucket):
        """Without REPLACE it is S3's InvalidRequest; with REPLACE it changes the metadata and keeps the bytes
        (of an object of two chunks, which the new version gets copies of)."""
        data = sh.random_bytes(sh.CHUNK_BYTES + 5, seed=41)
        s3.put_ok(bucket, "self", data, headers={"x-amz-meta-version": "1"})
        sh.assert_s3_error(s3.request("PUT", bucket, "self", headers={"x-amz-copy-source": f"{bucket}/self"}), 400,
                           "InvalidRequest")
        again = s3.request("PUT", bucket, "self", headers={
            "x-amz-copy-source": f"{bucket}/self", "x-amz-metadata-directive": "REPLACE",
            "x-amz-meta-version": "2", "Content-Type": "application/x-two"})
        assert again.status_code == 200, sh.describe(again)
        head = s3.head(bucket, "self")
        assert head.headers["x-amz-meta-version"] == "2" and head.headers["Content-Type"] == "application/x-two"
        assert head.headers["ETag"] == sh.quoted_etag(sh.md5_hex(data))
        assert s3.get_bytes(bucket, "self") == data

    def test_copy_of_a_multipart_object_has_a_plain_etag(self, s3, bucket):
        key = "mp/source"
        upload_id = create_upload(s3, bucket, key)
        etag = upload_part_ok(s3, bucket, key, upload_id, 1, b"multipart source")
        assert complete(s3, bucket, key, upload_id, [(1, etag)]).status_code == 200
        copied = s3.request("PUT", bucket, "copy", headers={"x-amz-copy-source": f"{bucket}/{key}"})
        assert sh.xml_root(copied.content).findtext("ETag") == sh.quoted_etag(sh.md5_hex(b"multipart source"))

    def test_copy_errors_and_source_conditions(self, s3, bucket):
        s3.put_ok(bucket, "src", b"conditional source")
        etag = sh.quoted_etag(sh.md5_hex(b"conditional source"))

        def copy(source: str, **headers: str):
            return s3.request("PUT", bucket, "dst", headers={"x-amz-copy-source": source, **headers})

        sh.assert_s3_error(copy(f"{bucket}/missing"), 404, "NoSuchKey")
        sh.assert_s3_error(copy(f"{sh.unique_bucket('none')}/src"), 404, "NoSuchBucket")
        sh.assert_s3_error(copy("no-slash"), 400, "InvalidArgument")
        sh.assert_s3_error(copy(f"{bucket}/src", **{"x-amz-metadata-directive": "MERGE"}), 400, "InvalidArgument")
        sh.assert_s3_error(copy(f"{bucket}/src", **{"x-amz-copy-source-if-match": '"0000"'}), 412,
                           "PreconditionFailed")
        sh.assert_s3_error(copy(f"{bucket}/src", **{"x-amz-copy-source-if-none-match": etag}), 412,
                           "PreconditionFailed")
        sh.assert_s3_error(copy(f"{bucket}/src", **{"x-amz-copy-source-if-unmodified-since":
                                                    "Mon, 01 Jan 2001 00:00:00 GMT"}), 412, "PreconditionFailed")
        assert s3.head(bucket, "dst").status_code == 404
        assert copy(f"{bucket}/src", **{"x-amz-copy-source-if-match": etag}).status_code == 200
        assert s3.get_bytes(bucket, "dst") == b"conditional source"


# --------------------------------------------------------------------------------------------------------------
# DeleteObjects
# --------------------------------------------------------------------------------------------------------------

class TestDeleteObjects:
    def test_verbose_and_quiet(self, s3, bucket):
        for key in ["a", "b", "c", "d", "e & f"]:
            s3.put_ok(bucket, key, key.encode())
        verbose = delete_objects(s3, bucket, delete_xml(["a", "b", "never-existed"]))
        assert verbose.status_code == 200, sh.describe(verbose)
        root = sh.xml_root(verbose.content)
        assert root.tag == "DeleteResult"
        assert sorted(d.findtext("Key") for d in root.iter("Deleted")) == ["a", "b", "never-existed"]
        assert not list(root.iter("Error"))
        quiet = delete_objects(s3, bucket, delete_xml(["c", "e &amp; f"], quiet=True))
        assert quiet.status_code == 200, sh.describe(quiet)
        assert not list(sh.xml_root(quiet.content).iter("Deleted"))
        assert s3.keys(bucket) == ["d"]

    def test_checksum_headers_and_refusals(self, s3, bucket):
        s3.put_ok(bucket, "x", b"x")
        body = delete_xml(["x"])
        sh.assert_s3_error(delete_objects(s3, bucket, body, headers={}), 400, "InvalidRequest")
        sh.assert_s3_error(delete_objects(s3, bucket, body, headers={"Content-MD5": content_md5(b"other")}), 400,
                           "BadDigest")
        sh.assert_s3_error(delete_objects(s3, bucket, body, headers={"Content-MD5": "not base64!"}), 400,
                           "InvalidDigest")
        wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
        sh.assert_s3_error(delete_objects(s3, bucket, body, headers={"x-amz-checksum-sha256": wrong}), 400,
                           "BadDigest")
        for bad in (b"<Delete>", b"<Delete></Delete>", b"<Other><Object><Key>x</Key></Object></Other>",
                    delete_xml([f"k{i}" for i in range(1001)])):
            sh.assert_s3_error(delete_objects(s3, bucket, bad), 400, "MalformedXML")
        huge = body.replace(b"</Delete>", b"<!--" + b"x" * (3 * MiB) + b"--></Delete>")
        sh.assert_s3_error(delete_objects(s3, bucket, huge), 400, "MalformedXML")
        assert s3.keys(bucket) == ["x"], "a refused DeleteObjects deleted something"
        right = base64.b64encode(hashlib.sha256(body).digest()).decode()
        accepted = delete_objects(s3, bucket, body, headers={"x-amz-checksum-sha256": right})
        assert accepted.status_code == 200, sh.describe(accepted)
        assert s3.keys(bucket) == []

    def test_boto3_delete_objects(self, s3, boto3_s3, bucket):
        keys = [f"batch/{index:04d}" for index in range(1000)]
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda key: s3.put_ok(bucket, key, b""), keys[:50]))
        answer = boto3_s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in keys]})
        assert len(answer["Deleted"]) == 1000 and not answer.get("Errors")
        assert s3.keys(bucket) == []


# --------------------------------------------------------------------------------------------------------------
# conditional writes
# --------------------------------------------------------------------------------------------------------------

class TestConditionalWrites:
    def test_if_none_match_and_if_match(self, s3, bucket):
        sh.assert_s3_error(s3.put(bucket, "k", b"first", headers={"If-Match": '"0123"'}), 404, "NoSuchKey")
        assert s3.put(bucket, "k", b"first", headers={"If-None-Match": "*"}).status_code == 200
        sh.assert_s3_error(s3.put(bucket, "k", b"second", headers={"If-None-Match": "*"}), 412, "PreconditionFailed")
        sh.assert_s3_error(s3.put(bucket, "k", b"second", headers={"If-Match": '"0123"'}), 412, "PreconditionFailed")
        assert s3.get_bytes(bucket, "k") == b"first"
        etag = sh.quoted_etag(sh.md5_hex(b"first"))
        assert s3.put(bucket, "k", b"second", headers={"If-Match": etag}).status_code == 200
        assert s3.get_bytes(bucket, "k") == b"second"
        response = s3.put(bucket, "k", b"third", headers={"If-None-Match": '"abc"'})
        sh.assert_s3_error(response, 501, "NotImplemented")

    def test_racing_creators_have_one_winner(self, s3, bucket):
        """Eight PUTs with If-None-Match: * of one new key at once (Terraform's lock): exactly one 200, the
        others 412 PreconditionFailed, and the object is the winner's."""
        bodies = [f"writer {index} ".encode() * 1000 for index in range(8)]
        start = threading.Barrier(len(bodies))

        def put(body: bytes) -> int:
            start.wait()
            return s3.put(bucket, "terraform.tflock", body, headers={"If-None-Match": "*"}).status_code

        with ThreadPoolExecutor(len(bodies)) as pool:
            statuses = list(pool.map(put, bodies))
        assert sorted(statuses) == [200] + [412] * 7, statuses
        assert s3.get_bytes(bucket, "terraform.tflock") == bodies[statuses.index(200)]

    def test_conditional_completion(self, s3, bucket, boto3_s3):
        s3.put_ok(bucket, "exists", b"already here")
        upload_id = create_upload(s3, bucket, "exists")
        etag = upload_part_ok(s3, bucket, "exists", upload_id, 1, b"part")
        sh.assert_s3_error(complete(s3, bucket, "exists", upload_id, [(1, etag)], headers={"If-None-Match": "*"}),
                           412, "PreconditionFailed")
        assert s3.get_bytes(bucket, "exists") == b"already here"
        current = sh.quoted_etag(sh.md5_hex(b"already here"))
        done = complete(s3, bucket, "exists", upload_id, [(1, etag)], headers={"If-Match": current})
        assert done.status_code == 200, sh.describe(done)
        assert s3.get_bytes(bucket, "exists") == b"part"
        # boto3 sends the same headers.
        boto3_s3.put_object(Bucket=bucket, Key="sdk-lock", Body=b"1", IfNoneMatch="*")
        with pytest.raises(ClientError) as raised:
            boto3_s3.put_object(Bucket=bucket, Key="sdk-lock", Body=b"2", IfNoneMatch="*")
        assert client_error_code(raised.value) == "PreconditionFailed"


def test_unserved_operations_stay_not_implemented(s3, bucket):
    s3.put_ok(bucket, "k", b"data")
    sh.assert_s3_error(s3.request("GET", bucket, "k", query={"partNumber": "1"}), 501, "NotImplemented")
    sh.assert_s3_error(s3.request("POST", bucket, "k", data=b""), 501, "NotImplemented")
    sh.assert_s3_error(s3.request("POST", bucket, "k", query={"uploads": None, "uploadId": "x"}), 501,
                       "NotImplemented")
    sh.assert_s3_error(list_uploads(s3, bucket, delimiter="/"), 501, "NotImplemented")
