"""Helpers for talking S3 to a Silo gateway: a SigV4 signer of our own, a thin `requests` client, streaming
bodies hashed on the way, S3 XML parsing, raw-socket requests and psql.

The signer is ours (not botocore's) so that tests can send what a real client never would: a wrong
`x-amz-content-sha256`, a bad signature, an unknown key, headers without a body. boto3 and curl are used
beside it as the real clients.

Nothing here holds a large object in memory: uploads stream `PatternData` (grpc_helpers) through `HashingBody`,
downloads are hashed as they arrive.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import os
import random
import socket
import subprocess
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from typing import Iterable, Iterator, Mapping, Optional, Union
from urllib.parse import quote, urlsplit

import requests
import requests.adapters

from grpc_helpers import GiB, KiB, MiB, PatternData  # noqa: F401  (re-exported for the S3 suites)

REGION = os.environ.get("SILO_REGION", "us-east-1")
SERVICE = "s3"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
EMPTY_MD5 = hashlib.md5(b"").hexdigest()
S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"

#: Silo's largest object (DESIGN.md: 10 GiB, configurable) and the chunk size of a default cluster.
OBJECT_BYTES_MAX = int(os.environ.get("SILO_OBJECT_BYTES_MAX", str(10 * GiB)))
CHUNK_BYTES = int(os.environ.get("SILO_CHUNK_BYTES", str(16 * MiB)))

#: Deadline of one small request, and of a request that moves GiBs.
SHORT_TIMEOUT = 60.0
LONG_TIMEOUT = 3600.0
#: Size of the pieces a streaming upload hands to the socket, and a streaming download reads.
PIECE_BYTES = 1 * MiB


# --------------------------------------------------------------------------------------------------------------
# SigV4
# --------------------------------------------------------------------------------------------------------------

def uri_encode(text: str, keep_slash: bool) -> str:
    """SigV4's UriEncode: every byte but the unreserved ones percent-encoded, upper-case hex."""
    return quote(text, safe="-_.~/" if keep_slash else "-_.~")


def object_path(bucket: Optional[str] = None, key: Optional[str] = None) -> str:
    """The encoded path of a path-style request: /, /bucket, /bucket/key."""
    if bucket is None:
        return "/"
    if key is None:
        return "/" + uri_encode(bucket, keep_slash=False)
    return "/" + uri_encode(bucket, keep_slash=False) + "/" + uri_encode(key, keep_slash=True)


def encode_query(params: Optional[Mapping[str, Optional[str]]]) -> str:
    """A canonical query string: sorted by name, names and values encoded; None is a bare name (`?uploads`)."""
    if not params:
        return ""
    pairs = sorted((uri_encode(str(name), False), uri_encode("" if value is None else str(value), False))
                   for name, value in params.items())
    return "&".join(f"{name}={value}" for name, value in pairs)


def _canonical_query(raw_query: str) -> str:
    if not raw_query:
        return ""
    pairs = []
    for part in raw_query.split("&"):
        name, _, value = part.partition("=")
        pairs.append((name, value))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret_key: str, date: str, region: str = REGION, service: str = SERVICE) -> bytes:
    key = _hmac(("AWS4" + secret_key).encode("utf-8"), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def sign_headers(
    method: str,
    host: str,
    path: str,
    raw_query: str,
    headers: Mapping[str, str],
    payload_hash: str,
    access_key: str,
    secret_key: str,
    *,
    region: str = REGION,
    now: Optional[dt.datetime] = None,
) -> dict[str, str]:
    """The headers that sign a request: Authorization, x-amz-date, x-amz-content-sha256.

    `path` and `raw_query` are the encoded forms that go on the wire. Signed: host, content-type,
    content-md5 and every x-amz-* header of `headers`.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    signed: dict[str, str] = {"host": host, "x-amz-date": amz_date, "x-amz-content-sha256": payload_hash}
    for name, value in headers.items():
        lower = name.lower()
        if lower in ("content-type", "content-md5") or (lower.startswith("x-amz-") and lower not in signed):
            signed[lower] = " ".join(str(value).strip().split())
    names = sorted(signed)
    canonical_headers = "".join(f"{name}:{signed[name]}\n" for name in names)
    signed_names = ";".join(names)
    canonical_request = "\n".join([method.upper(), path, _canonical_query(raw_query), canonical_headers,
                                   signed_names, payload_hash])
    scope = f"{date}/{region}/{SERVICE}/aws4_request"
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                                hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()])
    signature = hmac.new(signing_key(secret_key, date, region), string_to_sign.encode("utf-8"),
                         hashlib.sha256).hexdigest()
    return {
        "x-amz-date": amz_date,
        "x-amz-content-sha256": payload_hash,
        "Authorization": f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed_names}, "
                         f"Signature={signature}",
    }


# --------------------------------------------------------------------------------------------------------------
# Bodies
# --------------------------------------------------------------------------------------------------------------

def random_bytes(size: int, seed: int) -> bytes:
    """Deterministic pseudo-random bytes, for bodies small enough to hold (≤ a few tens of MiB)."""
    return random.Random(seed).randbytes(size)


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


class HashingBody:
    """A streaming request body of known length: pieces of `source`, MD5 (and SHA-256 if asked) computed as they
    are sent. `requests` sees `__len__` (so it sends Content-Length, not chunked) and `__iter__` (so urllib3
    sends piece by piece)."""

    def __init__(self, source: Union[PatternData, bytes, Iterable[bytes]], size: Optional[int] = None,
                 piece: int = PIECE_BYTES, sha256: bool = False):
        self.source = source
        if size is None:
            size = len(source)  # type: ignore[arg-type]
        self.size = size
        self.piece = piece
        self.sent = 0
        self._md5 = hashlib.md5()
        self._sha = hashlib.sha256() if sha256 else None
        self._used = False

    def __len__(self) -> int:
        return self.size

    def _pieces(self) -> Iterator[bytes]:
        if isinstance(self.source, PatternData):
            yield from self.source.pieces(self.piece)
        elif isinstance(self.source, (bytes, bytearray, memoryview)):
            view = memoryview(self.source)
            for start in range(0, len(view), self.piece):
                yield bytes(view[start:start + self.piece])
        else:
            yield from self.source

    def __iter__(self) -> Iterator[bytes]:
        if self._used:
            raise RuntimeError("HashingBody is single-use (a retry would send a different stream)")
        self._used = True
        for part in self._pieces():
            self._md5.update(part)
            if self._sha is not None:
                self._sha.update(part)
            self.sent += len(part)
            yield part

    @property
    def md5(self) -> str:
        return self._md5.hexdigest()

    @property
    def sha256(self) -> str:
        assert self._sha is not None
        return self._sha.hexdigest()


@dataclasses.dataclass
class Download:
    status: int
    headers: Mapping[str, str]
    size: int
    md5: str
    seconds: float


def read_hashed(response: requests.Response, piece: int = PIECE_BYTES) -> Download:
    """Drains a `stream=True` response, hashing it; the response is closed."""
    started = time.monotonic()
    digest = hashlib.md5()
    size = 0
    try:
        for part in response.iter_content(piece):
            digest.update(part)
            size += len(part)
    finally:
        response.close()
    return Download(response.status_code, response.headers, size, digest.hexdigest(), time.monotonic() - started)


def pattern_md5(data: PatternData) -> str:
    digest = hashlib.md5()
    for part in data.pieces(4 * MiB):
        digest.update(part)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------------------------
# XML
# --------------------------------------------------------------------------------------------------------------

def _strip(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def xml_root(text: Union[bytes, str]) -> ET.Element:
    root = ET.fromstring(text)
    for element in root.iter():
        element.tag = _strip(element.tag)
    return root


@dataclasses.dataclass
class S3ErrorBody:
    code: Optional[str]
    message: Optional[str]
    request_id: Optional[str]
    fields: dict[str, str]


def parse_error(body: Union[bytes, str]) -> S3ErrorBody:
    try:
        root = xml_root(body)
    except ET.ParseError:
        return S3ErrorBody(None, None, None, {})
    fields = {child.tag: (child.text or "") for child in root}
    return S3ErrorBody(fields.get("Code"), fields.get("Message"), fields.get("RequestId"), fields)


def describe(response: requests.Response) -> str:
    """One line for assertion messages: the request and what came back."""
    request = response.request
    try:
        if response._content_consumed:  # noqa: SLF001 - a streamed body is not read whole for a message
            body = response.content or b""
        else:
            body = response.raw.read(600) if response.raw is not None else b""
    except Exception as error:  # pragma: no cover - only in messages
        body = f"(body unreadable: {error})".encode()
    text = body[:600].decode("utf-8", "replace")
    return f"{request.method} {request.url} -> {response.status_code} {text!r}"


def assert_s3_error(response: requests.Response, status: int, code: str) -> S3ErrorBody:
    """The response is the S3 error `code` with HTTP `status`, an XML body naming it and a RequestId."""
    assert response.status_code == status, f"expected {status} {code}: {describe(response)}"
    if response.request.method == "HEAD":
        return S3ErrorBody(None, None, None, {})
    error = parse_error(response.content)
    assert error.code == code, f"expected <Code>{code}</Code>: {describe(response)}"
    assert error.request_id, f"error without <RequestId>: {describe(response)}"
    content_type = response.headers.get("Content-Type", "")
    assert "xml" in content_type, f"error Content-Type is {content_type!r}, not XML: {describe(response)}"
    return error


@dataclasses.dataclass
class ListPage:
    keys: list[str]
    etags: dict[str, str]
    sizes: dict[str, int]
    last_modified: dict[str, str]
    common_prefixes: list[str]
    is_truncated: bool
    next_token: Optional[str]
    key_count: Optional[int]
    max_keys: Optional[int]
    root: ET.Element


def parse_list_v2(body: bytes) -> ListPage:
    root = xml_root(body)
    keys, etags, sizes, modified = [], {}, {}, {}
    for content in root.findall("Contents"):
        key = content.findtext("Key")
        keys.append(key)
        etags[key] = content.findtext("ETag")
        sizes[key] = int(content.findtext("Size"))
        modified[key] = content.findtext("LastModified")
    prefixes = [element.findtext("Prefix") for element in root.findall("CommonPrefixes")]
    truncated = (root.findtext("IsTruncated") or "").strip().lower() == "true"
    key_count = root.findtext("KeyCount")
    max_keys = root.findtext("MaxKeys")
    return ListPage(keys, etags, sizes, modified, prefixes, truncated, root.findtext("NextContinuationToken"),
                    int(key_count) if key_count is not None else None,
                    int(max_keys) if max_keys is not None else None, root)


# --------------------------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str


class S3:
    """Path-style S3 over `requests`, signed with SigV4 by `sign_headers`. One `requests.Session` per thread,
    so the client can be shared by a thread pool.

    `payload`: "unsigned" (UNSIGNED-PAYLOAD, the default for streams), "signed" (SHA-256 of a bytes body, the
    default for bytes) or an explicit value for x-amz-content-sha256 (to send a wrong one on purpose).
    """

    def __init__(self, endpoint: str, credentials: Optional[Credentials], *, pool_connections: int = 64):
        self.endpoint = endpoint.rstrip("/")
        parts = urlsplit(self.endpoint)
        self.host = parts.netloc
        self.hostname = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.credentials = credentials
        self.pool_connections = pool_connections
        self._local = threading.local()

    def with_credentials(self, credentials: Optional[Credentials]) -> "S3":
        return S3(self.endpoint, credentials, pool_connections=self.pool_connections)

    @property
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=self.pool_connections,
                                                    max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
        return session

    def url(self, bucket: Optional[str] = None, key: Optional[str] = None,
            query: Optional[Mapping[str, Optional[str]]] = None) -> str:
        raw = encode_query(query)
        return self.endpoint + object_path(bucket, key) + (f"?{raw}" if raw else "")

    def signed_headers(self, method: str, bucket: Optional[str], key: Optional[str],
                       query: Optional[Mapping[str, Optional[str]]], headers: Mapping[str, str],
                       payload_hash: str, now: Optional[dt.datetime] = None) -> dict[str, str]:
        assert self.credentials is not None
        return sign_headers(method, self.host, object_path(bucket, key), encode_query(query), headers,
                            payload_hash, self.credentials.access_key, self.credentials.secret_key, now=now)

    def request(self, method: str, bucket: Optional[str] = None, key: Optional[str] = None, *,
                query: Optional[Mapping[str, Optional[str]]] = None, headers: Optional[Mapping[str, str]] = None,
                data=None, payload: str = "auto", stream: bool = False,
                timeout: float = SHORT_TIMEOUT) -> requests.Response:
        headers = dict(headers or {})
        if payload == "auto":
            payload = "signed" if data is None or isinstance(data, (bytes, bytearray)) else "unsigned"
        if payload == "signed":
            payload_hash = hashlib.sha256(bytes(data or b"")).hexdigest()
        elif payload == "unsigned":
            payload_hash = UNSIGNED_PAYLOAD
        else:
            payload_hash = payload
        if self.credentials is not None:
            headers.update(self.signed_headers(method, bucket, key, query, headers, payload_hash))
        return self.session.request(method, self.url(bucket, key, query), headers=headers, data=data,
                                    stream=stream, timeout=timeout, allow_redirects=False)

    # -- buckets -------------------------------------------------------------------------------------------
    def create_bucket(self, bucket: str) -> requests.Response:
        return self.request("PUT", bucket)

    def delete_bucket(self, bucket: str) -> requests.Response:
        return self.request("DELETE", bucket)

    def head_bucket(self, bucket: str) -> requests.Response:
        return self.request("HEAD", bucket)

    def list_buckets(self) -> requests.Response:
        return self.request("GET")

    # -- objects -------------------------------------------------------------------------------------------
    def put(self, bucket: str, key: str, data=b"", *, headers: Optional[Mapping[str, str]] = None,
            payload: str = "auto", timeout: float = SHORT_TIMEOUT) -> requests.Response:
        return self.request("PUT", bucket, key, data=data, headers=headers, payload=payload, timeout=timeout)

    def get(self, bucket: str, key: str, *, headers: Optional[Mapping[str, str]] = None, stream: bool = False,
            timeout: float = SHORT_TIMEOUT) -> requests.Response:
        return self.request("GET", bucket, key, headers=headers, stream=stream, timeout=timeout)

    def head(self, bucket: str, key: str, *, headers: Optional[Mapping[str, str]] = None) -> requests.Response:
        return self.request("HEAD", bucket, key, headers=headers)

    def delete(self, bucket: str, key: str) -> requests.Response:
        return self.request("DELETE", bucket, key)

    def list_v2(self, bucket: str, **params: Optional[str]) -> requests.Response:
        """ListObjectsV2; keyword names as S3 spells them with `_` for `-` (max_keys, continuation_token)."""
        query: dict[str, Optional[str]] = {"list-type": "2"}
        for name, value in params.items():
            if value is not None:
                query[name.replace("_", "-")] = str(value)
        return self.request("GET", bucket, query=query)

    def list_all(self, bucket: str, prefix: Optional[str] = None, page: int = 1000) -> list[ListPage]:
        """Every page of a ListObjectsV2 walk (asserting each succeeds)."""
        pages: list[ListPage] = []
        token: Optional[str] = None
        while True:
            response = self.list_v2(bucket, prefix=prefix, max_keys=str(page), continuation_token=token)
            assert response.status_code == 200, describe(response)
            listing = parse_list_v2(response.content)
            pages.append(listing)
            if not listing.is_truncated:
                return pages
            assert listing.next_token, f"IsTruncated without NextContinuationToken: {response.text[:400]}"
            token = listing.next_token
            assert len(pages) < 100_000, "listing does not end"

    def keys(self, bucket: str, prefix: Optional[str] = None) -> list[str]:
        return [key for listing in self.list_all(bucket, prefix) for key in listing.keys]

    # -- whole-object helpers -------------------------------------------------------------------------------
    def put_ok(self, bucket: str, key: str, data=b"", **kwargs) -> requests.Response:
        response = self.put(bucket, key, data, **kwargs)
        assert response.status_code == 200, describe(response)
        return response

    def get_bytes(self, bucket: str, key: str, **kwargs) -> bytes:
        response = self.get(bucket, key, **kwargs)
        assert response.status_code in (200, 206), describe(response)
        return response.content

    def empty_bucket(self, bucket: str) -> None:
        for listing in self.list_all(bucket):
            for key in listing.keys:
                self.delete(bucket, key)

    def remove_bucket(self, bucket: str) -> None:
        """Best effort: deletes every object, then the bucket. Never raises (cleanup)."""
        try:
            response = self.head_bucket(bucket)
            if response.status_code == 404:
                return
            self.empty_bucket(bucket)
            self.delete_bucket(bucket)
        except (requests.RequestException, AssertionError):
            pass


def unique_bucket(prefix: str = "t") -> str:
    """A valid bucket name no earlier run used (3–63 of [a-z0-9-])."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def quoted_etag(md5: str) -> str:
    return f'"{md5}"'


# --------------------------------------------------------------------------------------------------------------
# Raw HTTP over a socket: headers without a body, 100-continue
# --------------------------------------------------------------------------------------------------------------

@dataclasses.dataclass
class RawResponse:
    status: int
    reason: str
    headers: dict[str, str]  # lower-case names
    body: bytes


class RawConnection:
    """An HTTP/1.1 connection we drive by hand: send the head of a request, read what comes back when it comes
    (an interim 100 Continue, or the final answer before any body was sent)."""

    def __init__(self, host: str, port: int, timeout: float = 10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buffer = b""

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "RawConnection":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def send_head(self, method: str, target: str, headers: Mapping[str, str]) -> None:
        lines = [f"{method} {target} HTTP/1.1"] + [f"{name}: {value}" for name, value in headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buffer += data
        return True

    def read_response(self, timeout: float = 10.0, head_only: bool = False) -> RawResponse:
        """The next response (interim or final). Raises socket.timeout when nothing complete came in time,
        ConnectionError when the peer closed before a whole head arrived."""
        self.sock.settimeout(timeout)
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill():
                raise ConnectionError(f"connection closed before a response head; got {self.buffer[:200]!r}")
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        _, status, *reason = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        status_code = int(status)
        body = b""
        if status_code >= 200 and status_code not in (204, 304) and not head_only:
            if headers.get("transfer-encoding", "").lower() == "chunked":
                body = self._read_chunked()
            elif "content-length" in headers:
                length = int(headers["content-length"])
                while len(self.buffer) < length:
                    if not self._fill():
                        break
                body, self.buffer = self.buffer[:length], self.buffer[length:]
        return RawResponse(status_code, reason[0] if reason else "", headers, body)

    def read_final_response(self, timeout: float = 10.0) -> RawResponse:
        """The next final (non-1xx) response: a client must accept any number of interim ones (RFC 9110 §15.2)."""
        while True:
            response = self.read_response(timeout)
            if response.status >= 200:
                return response

    def _read_chunked(self) -> bytes:
        body = b""
        while True:
            while b"\r\n" not in self.buffer:
                if not self._fill():
                    return body
            size_line, self.buffer = self.buffer.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(self.buffer) < size + 2:
                if not self._fill():
                    return body + self.buffer
            body += self.buffer[:size]
            self.buffer = self.buffer[size + 2:]
            if size == 0:
                return body


def raw_signed_head(client: S3, method: str, bucket: str, key: str, headers: Mapping[str, str],
                    payload_hash: str = UNSIGNED_PAYLOAD) -> tuple[str, dict[str, str]]:
    """(request target, all headers) for a request sent by hand: Host and SigV4 added."""
    all_headers = {"Host": client.host, **headers}
    all_headers.update(client.signed_headers(method, bucket, key, None, headers, payload_hash))
    return object_path(bucket, key), all_headers


# --------------------------------------------------------------------------------------------------------------
# psql
# --------------------------------------------------------------------------------------------------------------

def psql(database_url: str, sql: str, **variables: str) -> list[list[str]]:
    """Rows of `sql` run by psql (unaligned, tuples only). `:'name'` in the SQL is a quoted literal of
    variables[name] (psql's own quoting, so nothing is spliced by hand)."""
    command = ["psql", database_url, "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1"]
    for name, value in variables.items():
        command += ["-v", f"{name}={value}"]
    result = subprocess.run(command, input=sql, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise AssertionError(f"psql failed ({result.returncode}): {result.stderr.strip()}\nSQL: {sql}")
    return [line.split("\t") for line in result.stdout.splitlines() if line]


def object_chunk_ids(database_url: str, bucket: str, key: str) -> list[tuple[str, list[str]]]:
    """(chunk id, replica node ids) of the current version of bucket/key, in chunk order."""
    rows = psql(database_url, """
        SELECT c.chunk_id, array_to_string(c.replica_node_ids, ',')
        FROM objects o JOIN chunks c ON c.version_id = o.version_id
        WHERE o.bucket = :'bucket' AND o.key = :'key'
        ORDER BY c.chunk_index
        """, bucket=bucket, key=key)
    return [(row[0], row[1].split(",") if row[1] else []) for row in rows]


def wait_until(predicate, timeout: float, interval: float = 0.25):
    """Polls `predicate` until it returns something truthy (returned) or `timeout` passes (the last value)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
