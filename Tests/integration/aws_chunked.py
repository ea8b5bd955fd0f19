"""aws-chunked request bodies built by hand, as the AWS SDKs send them, and the checksums S3 knows.

Three framings (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html):

| x-amz-content-sha256                     | chunk line                        | after the final chunk            |
|------------------------------------------|-----------------------------------|----------------------------------|
| STREAMING-UNSIGNED-PAYLOAD-TRAILER       | `hex\\r\\n`                          | `name:value\\r\\n`… `\\r\\n`           |
| STREAMING-AWS4-HMAC-SHA256-PAYLOAD       | `hex;chunk-signature=sig\\r\\n`      | `\\r\\n`                            |
| STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER | `hex;chunk-signature=sig\\r\\n`    | `name:value\\r\\n`… `x-amz-trailer-signature:sig\\r\\n` `\\r\\n` |

A chunk's signature chains from the previous one (the first from the seed signature of the request's
Authorization header); the trailer signature chains from the final chunk's. The request carries
Content-Encoding: aws-chunked, x-amz-decoded-content-length (the payload's size) and, with a trailer,
x-amz-trailer naming it; Content-Length is the size of the framed body.

`StreamingUpload` builds the whole request (head and body) so tests can send it through `requests`, curl or
a raw socket, and mutate any part of it first. Bodies here are small enough to hold (tens of MiB at most).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import zlib
from typing import Callable, Mapping, Optional, Sequence

import google_crc32c

import s3_helpers as sh

UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
MODES = (UNSIGNED_TRAILER, SIGNED, SIGNED_TRAILER)

#: The chunk size the AWS SDKs use for aws-chunked bodies (botocore: 1 MiB; the Java and Go SDKs: 64 KiB).
SDK_CHUNK_BYTES = 64 * 1024


# --------------------------------------------------------------------------------------------------------------
# Checksums (x-amz-checksum-*): base64 of the big-endian digest
# --------------------------------------------------------------------------------------------------------------

_CRC64_NVME_POLY_REFLECTED = 0x9A6C9329AC4BC9B5
_CRC64_TABLE: list[int] = []


def _crc64_table() -> list[int]:
    if not _CRC64_TABLE:
        for byte in range(256):
            crc = byte
            for _ in range(8):
                crc = (crc >> 1) ^ _CRC64_NVME_POLY_REFLECTED if crc & 1 else crc >> 1
            _CRC64_TABLE.append(crc)
    return _CRC64_TABLE


def crc64nvme(data: bytes) -> int:
    """CRC-64/NVME (reflected, init and xor-out all ones). Pure Python, ~1 MB/s: for small bodies only."""
    table = _crc64_table()
    crc = 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFFFFFFFFFF


assert crc64nvme(b"123456789") == 0xAE8B14860A799888, "CRC-64/NVME check value"

ALGORITHMS = ("crc32", "crc32c", "sha1", "sha256", "crc64nvme")


def checksum(algorithm: str, data: bytes) -> str:
    """The x-amz-checksum-<algorithm> value of `data`."""
    if algorithm == "crc32":
        digest = (zlib.crc32(data) & 0xFFFFFFFF).to_bytes(4, "big")
    elif algorithm == "crc32c":
        digest = google_crc32c.value(data).to_bytes(4, "big")
    elif algorithm == "sha1":
        digest = hashlib.sha1(data).digest()
    elif algorithm == "sha256":
        digest = hashlib.sha256(data).digest()
    elif algorithm == "crc64nvme":
        digest = crc64nvme(data).to_bytes(8, "big")
    else:
        raise ValueError(f"unknown checksum algorithm {algorithm!r}")
    return base64.b64encode(digest).decode("ascii")


def header_name(algorithm: str) -> str:
    return f"x-amz-checksum-{algorithm}"


# --------------------------------------------------------------------------------------------------------------
# SigV4 over any set of headers (the seed signature signs the aws-chunked headers too)
# --------------------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SeedSignature:
    authorization: str
    signature: str
    amz_date: str
    scope: str
    key: bytes


def sign_all_headers(method: str, path: str, raw_query: str, headers: Mapping[str, str], payload_hash: str,
                     access_key: str, secret_key: str, amz_date: str, region: str = sh.REGION) -> SeedSignature:
    """Signs every header of `headers` (which must hold Host, x-amz-date and x-amz-content-sha256), as the
    AWS documentation's streaming example does, content-length and content-encoding included."""
    canonical = {name.lower(): " ".join(str(value).strip().split()) for name, value in headers.items()}
    names = sorted(canonical)
    canonical_request = "\n".join([
        method, path, sh._canonical_query(raw_query),  # noqa: SLF001 - the one canonical-query rule
        "".join(f"{name}:{canonical[name]}\n" for name in names), ";".join(names), payload_hash])
    date = amz_date[:8]
    scope = f"{date}/{region}/{sh.SERVICE}/aws4_request"
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                                hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()])
    key = sh.signing_key(secret_key, date, region)
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    authorization = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, "
                     f"Signature={signature}")
    return SeedSignature(authorization, signature, amz_date, scope, key)


class ChunkSigner:
    """The chain of chunk signatures that follows a seed signature."""

    def __init__(self, seed: SeedSignature):
        self.seed = seed
        self.previous = seed.signature

    def _sign(self, algorithm: str, payload_sha256: str, with_empty_hash: bool) -> str:
        parts = [algorithm, self.seed.amz_date, self.seed.scope, self.previous]
        if with_empty_hash:
            parts.append(sh.EMPTY_SHA256)
        parts.append(payload_sha256)
        signature = hmac.new(self.seed.key, "\n".join(parts).encode("utf-8"), hashlib.sha256).hexdigest()
        self.previous = signature
        return signature

    def chunk(self, data: bytes) -> str:
        return self._sign("AWS4-HMAC-SHA256-PAYLOAD", hashlib.sha256(data).hexdigest(), with_empty_hash=True)

    def trailer(self, canonical_trailer: bytes) -> str:
        return self._sign("AWS4-HMAC-SHA256-TRAILER", hashlib.sha256(canonical_trailer).hexdigest(),
                          with_empty_hash=False)


# --------------------------------------------------------------------------------------------------------------
# Framing
# --------------------------------------------------------------------------------------------------------------

def split(data: bytes, chunk_bytes: int) -> list[bytes]:
    return [data[start:start + chunk_bytes] for start in range(0, len(data), chunk_bytes)]


def frame(chunks: Sequence[bytes], mode: str, trailers: Sequence[tuple[str, str]] = (),
          signer: Optional[ChunkSigner] = None) -> bytes:
    """The aws-chunked body of `chunks` (empty ones are skipped: only the final chunk is empty)."""
    parts: list[bytes] = []
    for chunk in [chunk for chunk in chunks if chunk] + [b""]:
        if mode == UNSIGNED_TRAILER:
            parts.append(b"%x\r\n" % len(chunk))
        else:
            assert signer is not None
            parts.append(b"%x;chunk-signature=%s\r\n" % (len(chunk), signer.chunk(chunk).encode()))
        if chunk:
            parts += [chunk, b"\r\n"]
    if mode == SIGNED:
        parts.append(b"\r\n")
        return b"".join(parts)
    canonical = b"".join(f"{name}:{value}\n".encode() for name, value in trailers)
    parts += [f"{name}:{value}\r\n".encode() for name, value in trailers]
    if mode == SIGNED_TRAILER:
        assert signer is not None
        parts.append(f"x-amz-trailer-signature:{signer.trailer(canonical)}\r\n".encode())
    parts.append(b"\r\n")
    return b"".join(parts)


@dataclasses.dataclass
class StreamingUpload:
    """A PUT with an aws-chunked body: `path` (encoded), `headers` (all of them, signed) and `body`."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    seed: SeedSignature


def streaming_put(client: sh.S3, bucket: str, key: str, data: bytes, mode: str, *,
                  algorithm: Optional[str] = None, chunk_bytes: int = SDK_CHUNK_BYTES,
                  trailer_value: Optional[str] = None, decoded_length: Optional[int] = None,
                  extra_headers: Optional[Mapping[str, str]] = None,
                  mutate_chunks: Optional[Callable[[list[bytes]], list[bytes]]] = None,
                  sign_content_length: bool = True,
                  now: Optional[dt.datetime] = None) -> StreamingUpload:
    """A signed PutObject of `data` framed as `mode`, with `algorithm`'s checksum as a trailer (modes with a
    trailer) — `trailer_value` overrides the value (a wrong checksum), `decoded_length` the announced size,
    `mutate_chunks` the list of chunks before they are signed and framed (so chunk signatures cover what is
    sent; to break a signature, change `body` afterwards). The seed signature covers every header, but
    Content-Length only with `sign_content_length` (without, a test may reframe the body and fix the length
    while the chunk signatures stay valid)."""
    assert client.credentials is not None
    chunks = split(data, chunk_bytes)
    if mutate_chunks is not None:
        chunks = mutate_chunks(chunks)
    trailers: list[tuple[str, str]] = []
    if mode != SIGNED and algorithm is not None:
        trailers.append((header_name(algorithm), trailer_value or checksum(algorithm, data)))
    # The body's length goes into the signed Content-Length, so frame once with a throwaway signer to learn it
    # (signatures are fixed-width hex: the length does not depend on their values).
    probe_seed = SeedSignature("", "0" * 64, "", "", b"")
    framed_length = len(frame(chunks, mode, trailers, ChunkSigner(probe_seed)))
    amz_date = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    path = sh.object_path(bucket, key)
    headers = {
        "Host": client.host,
        "x-amz-date": amz_date,
        "x-amz-content-sha256": mode,
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(data) if decoded_length is None else decoded_length),
        "Content-Length": str(framed_length),
        **(extra_headers or {}),
    }
    if trailers:
        # As botocore sends it; without a checksum (header or trailer) S3 refuses the algorithm header.
        headers["x-amz-trailer"] = trailers[0][0]
        headers["x-amz-sdk-checksum-algorithm"] = algorithm.upper()
    signed = headers if sign_content_length else {name: value for name, value in headers.items()
                                                   if name != "Content-Length"}
    seed = sign_all_headers("PUT", path, "", signed, mode, client.credentials.access_key,
                            client.credentials.secret_key, amz_date)
    headers["Authorization"] = seed.authorization
    body = frame(chunks, mode, trailers, ChunkSigner(seed) if mode != UNSIGNED_TRAILER else None)
    assert len(body) == framed_length
    return StreamingUpload("PUT", path, headers, body, seed)


def aws_documented_example() -> dict[str, str]:
    """The signatures of the example in "Signature Calculations for the Authorization Header: Transferring
    Payload in Multiple Chunks": seed, 64 KiB of `a`, 1 KiB of `a`, the final chunk."""
    headers = {
        "Host": "s3.amazonaws.com",
        "x-amz-date": "20130524T000000Z",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "x-amz-content-sha256": SIGNED,
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": "66560",
        "Content-Length": "66824",
    }
    seed = sign_all_headers("PUT", "/examplebucket/chunkObject.txt", "", headers, SIGNED,
                            "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524T000000Z",
                            region="us-east-1")
    signer = ChunkSigner(seed)
    body = frame([b"a" * 65536, b"a" * 1024], SIGNED, signer=ChunkSigner(seed))
    return {"seed": seed.signature, "first": signer.chunk(b"a" * 65536), "second": signer.chunk(b"a" * 1024),
            "final": signer.chunk(b""), "body_length": str(len(body))}
