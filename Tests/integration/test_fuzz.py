"""A seeded, deterministic fuzzer of the gateway's request parsing: methods, paths, queries, headers,
aws-chunked framing and the XML bodies of CompleteMultipartUpload and DeleteObjects.

Every case is one request on a fresh connection (raw socket, or `requests` for well-formed HTTP). After each:
  * a response came within CASE_TIMEOUT (no hang), or — only where the HTTP itself is unparseable or the body
    was cut short — the connection closed cleanly;
  * no 5xx (except 501 NotImplemented with its S3 XML, for sub-resources S3 has and Silo does not);
  * a case whose input S3 refuses got a 4xx, and every 4xx (but to HEAD) carries well-formed S3 XML
    `<Error><Code>` — except that HTTP the server cannot parse at all may get the HTTP layer's bare 4xx
    before it closes, which counts as the clean close it is;
  * GET /health is still 200.
Requests are signed with the cluster's key wherever the mutation leaves that possible, so the parser behind
authentication is reached. At the end the bucket holds exactly the objects the test meant it to: the
`keep/` objects, byte for byte, plus any a case was answered 200 for — nothing partial from a refused upload.

Replay: every failure names its case as `category:index` with the seed. SILO_FUZZ_SEED changes the seed
(default FUZZ_SEED); SILO_FUZZ_CASE=category:index runs that one case alone.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import random
import socket
import time
from typing import Callable, Iterator, Optional
from urllib.parse import quote, unquote, unquote_to_bytes

import pytest
import requests

import aws_chunked as ac
import s3_helpers as sh
from s3_helpers import KiB

FUZZ_SEED = int(os.environ.get("SILO_FUZZ_SEED", "20250605"))
ONLY_CASE = os.environ.get("SILO_FUZZ_CASE", "").strip() or None
#: A response (or a close) must come within this; the debug build answers a refusal in milliseconds.
CASE_TIMEOUT = 15.0

# Expectations of a case
REFUSED = "refused"            # S3 refuses it: 4xx with S3 XML
REFUSED_OR_CLOSED = "refused-or-closed"  # unparseable HTTP or a cut body: 4xx with XML, or a clean close
NOT_5XX = "not-5xx"            # S3 may accept it (ignored header or parameter): any status below 500
NOT_5XX_OR_CLOSED = "not-5xx-or-closed"  # HTTP a server may take or leave: below 500, or a clean close


@dataclasses.dataclass
class Case:
    category: str
    index: int
    description: str
    expect: str
    #: raw bytes for a socket, or None when `send` is set
    raw: Optional[bytes] = None
    #: shut the write side after sending (a body shorter than announced: the server sees EOF)
    half_close: bool = False
    #: sends the case another way (requests) and returns (status, headers, body)
    send: Optional[Callable[[], tuple[int, dict[str, str], bytes]]] = None
    method: str = "GET"
    #: the key a 2xx answer to this case stores (None: the case never stores)
    stores_key: Optional[str] = None
    #: 501 NotImplemented is acceptable (an S3 sub-resource or method Silo does not have)
    allow_not_implemented: bool = False
    #: 505 HTTP Version Not Supported is acceptable (the case sends another HTTP version)
    allow_version_not_supported: bool = False

    @property
    def name(self) -> str:
        return f"{self.category}:{self.index}"

    def replay_hint(self) -> str:
        return f"SILO_FUZZ_SEED={FUZZ_SEED} SILO_FUZZ_CASE={self.name}"


@dataclasses.dataclass
class Outcome:
    status: Optional[int]  # None: the connection closed without a response
    headers: dict[str, str]
    body: bytes
    seconds: float


# --------------------------------------------------------------------------------------------------------------
# Sending
# --------------------------------------------------------------------------------------------------------------

def _receive(sock: socket.socket, deadline: float) -> bytes:
    """The next bytes from `sock` (b"" when the peer closed or reset); socket.timeout past `deadline`."""
    sock.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        return sock.recv(65536)
    except (ConnectionResetError, BrokenPipeError):
        return b""


def _read_response(sock: socket.socket, deadline: float) -> Optional[tuple[int, dict[str, str], bytes]]:
    """The first final response on `sock`, or None when the peer closed before sending one."""
    buffer = b""
    while True:
        while b"\r\n\r\n" not in buffer:
            data = _receive(sock, deadline)
            if not data:
                return None
            buffer += data
        head, buffer = buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if 100 <= status < 200:
            continue  # an interim 100 Continue: the final answer follows
        chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        length = int(headers.get("content-length", "0") or 0)
        # Error bodies are small: read to the terminating chunk, the length, or the close.
        while not (buffer.endswith(b"0\r\n\r\n") if chunked else len(buffer) >= length):
            data = _receive(sock, deadline)
            if not data:
                break
            buffer += data
        return status, headers, _dechunk(buffer) if chunked else buffer[:length]


def _dechunk(data: bytes) -> bytes:
    out = b""
    while b"\r\n" in data:
        size_line, data = data.split(b"\r\n", 1)
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            return out
        if size == 0:
            return out
        out += data[:size]
        data = data[size + 2:]
    return out


def send_raw(host: str, port: int, raw: bytes, half_close: bool) -> Outcome:
    started = time.monotonic()
    deadline = started + CASE_TIMEOUT
    with socket.create_connection((host, port), timeout=CASE_TIMEOUT) as sock:
        try:
            view = memoryview(raw)
            while view:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                sent = sock.send(view[:256 * KiB])
                view = view[sent:]
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the gateway answered (or closed) before it read everything: read what it said
        except socket.timeout:
            pass  # it stopped reading; its answer, if any, is waiting
        try:
            answer = _read_response(sock, deadline)
        except socket.timeout:
            raise TimeoutError(f"no response and no close within {CASE_TIMEOUT:.0f} s") from None
    if answer is None:
        return Outcome(None, {}, b"", time.monotonic() - started)
    status, headers, body = answer
    return Outcome(status, headers, body, time.monotonic() - started)


def build(method: str, target: str, headers: list[tuple[str, str]], body: bytes = b"",
          version: str = "HTTP/1.1") -> bytes:
    head = f"{method} {target} {version}\r\n".encode("latin-1")
    for name, value in headers:
        head += f"{name}: {value}\r\n".encode("latin-1", "replace")
    return head + b"\r\n" + body


# --------------------------------------------------------------------------------------------------------------
# Case generation
# --------------------------------------------------------------------------------------------------------------

class Fuzzer:
    """Makes the cases of each category from (seed, category, index): deterministic and independent."""

    def __init__(self, s3: sh.S3, bucket: str, upload_id: Optional[str]):
        self.s3 = s3
        self.bucket = bucket
        self.upload_id = upload_id

    def rng(self, category: str, index: int) -> random.Random:
        return random.Random(f"{FUZZ_SEED}:{category}:{index}")

    # -- signing ------------------------------------------------------------------------------------------
    def signed(self, method: str, path: str, raw_query: str = "", headers: Optional[list[tuple[str, str]]] = None,
               payload_hash: str = sh.UNSIGNED_PAYLOAD) -> list[tuple[str, str]]:
        """Host, the given headers and SigV4 over them (path and query exactly as they go on the wire)."""
        headers = list(headers or [])
        assert self.s3.credentials is not None
        signed = sh.sign_headers(method, self.s3.host, path, raw_query, dict(headers), payload_hash,
                                 self.s3.credentials.access_key, self.s3.credentials.secret_key)
        return [("Host", self.s3.host)] + headers + list(signed.items())

    def key_path(self, key: str) -> str:
        return sh.object_path(self.bucket, key)

    # -- methods ------------------------------------------------------------------------------------------
    def methods(self, index: int) -> Case:
        rng = self.rng("method", index)
        # Methods the HTTP parser (llhttp in SwiftNIO) knows reach the gateway, which must refuse them in S3 XML.
        valid_tokens = ["PATCH", "OPTIONS", "TRACE", "PROPFIND", "MKCOL", "LINK"]
        # Tokens that are valid HTTP but unknown to llhttp ("get" is not GET) are refused by the HTTP layer,
        # before any S3 code runs: a bare 400 and a closed connection, like the unparseable ones.
        invalid_tokens = ["G T", "GET\x00", "", "P(T", "GE\tT", "\x7fDEL", "A" * 9000, "FOO", "get", "Put", "X" * 40]
        target_key = f"fuzz/method-{index}"
        path = rng.choice(["/", f"/{self.bucket}", self.key_path(target_key), f"/{self.bucket}?uploads"])
        if rng.random() < 0.75:
            method = rng.choice(valid_tokens)
            raw_path, _, query = path.partition("?")
            headers = self.signed(method, raw_path, query, [("Content-Length", "0")])
            # S3: 405 MethodNotAllowed (or 400/403 for what it cannot even route); a lower-case "get" is not GET.
            return Case("method", index, f"method {method!r} on {path}", REFUSED,
                        raw=build(method, path, headers), method=method, allow_not_implemented=True)
        method = rng.choice(invalid_tokens)
        return Case("method", index, f"unparseable method {method[:40]!r} on {path}", REFUSED_OR_CLOSED,
                    raw=build(method, path, [("Host", self.s3.host), ("Content-Length", "0")]), method=method)

    # -- paths --------------------------------------------------------------------------------------------
    def paths(self, index: int) -> Case:
        rng = self.rng("path", index)
        stem = f"fuzz/path-{index}-"
        kind = rng.choice(["bad-percent", "overlong", "dotdot", "nul", "control", "bad-utf8", "huge", "raw-bytes",
                           "no-slash", "empty-bucket"])
        method = rng.choice(["PUT", "GET", "HEAD", "DELETE"])
        body = b"fuzz body" if method == "PUT" else b""
        expect = REFUSED
        if kind == "bad-percent":
            encoded = quote(stem) + rng.choice(["%", "%G1", "%4", "%zz", "%%41", "%-1", "%+f"]) + "tail"
        elif kind == "overlong":
            encoded = quote(stem) + "k" * rng.choice([1025 - len(stem), 2000, 4096, 60_000])
        elif kind == "dotdot":
            # S3 keys are not paths: "a/../b" is a key of its own, stored as written (never another bucket's).
            encoded = quote(stem) + rng.choice(["/../x", "/./x", "/..", "/../../../etc/passwd", "//x"])
            expect = NOT_5XX
        elif kind == "nul":
            encoded = quote(stem) + rng.choice(["%00", "a%00b", "%00%00"])
            expect = NOT_5XX  # a key may hold any Unicode scalar, U+0000 included (S3 stores it)
        elif kind == "control":
            encoded = quote(stem) + rng.choice(["%01", "%1F", "%7F", "%0D%0A"])
            expect = NOT_5XX
        elif kind == "bad-utf8":
            encoded = quote(stem) + rng.choice(["%FF", "%C3%28", "%E2%82", "%F0%28%8C%BC", "%ED%A0%80", "%C0%AF"])
        elif kind == "huge":
            encoded = quote(stem) + "x" * rng.choice([100_000, 300_000])
        elif kind == "raw-bytes":
            # Bytes that have no place in a request line at all: NUL, CR, LF, space, DEL, non-ASCII.
            junk = rng.choice(["\x00", "\r", "\n", " x", "\x7f", "\xff", "\t"])
            raw_target = f"/{self.bucket}/{quote(stem)}{junk}end"
            headers = [("Host", self.s3.host), ("Content-Length", str(len(body)))]
            return Case("path", index, f"{kind}: {method} {raw_target[:120]!r}", REFUSED_OR_CLOSED,
                        raw=build(method, raw_target, headers, body), method=method)
        elif kind == "no-slash":
            raw_target = rng.choice(["*", f"{self.bucket}/k", f"http://{self.s3.host}", "?x", "%2F"])
            headers = [("Host", self.s3.host), ("Content-Length", str(len(body)))]
            return Case("path", index, f"{kind}: {method} {raw_target!r}", REFUSED_OR_CLOSED,
                        raw=build(method, raw_target, headers, body), method=method)
        else:  # empty-bucket: //key, or a bucket name S3 would never accept
            target = rng.choice(["//key", "/UPPER/key", "/a/key", "/bad_bucket/key", "/-x-/key"])
            headers = self.signed(method, target, "", [("Content-Length", str(len(body)))])
            return Case("path", index, f"{kind}: {method} {target!r}", REFUSED, raw=build(method, target, headers, body),
                        method=method)
        target = f"/{self.bucket}/{encoded}"
        headers = self.signed(method, target, "", [("Content-Length", str(len(body)))])
        stores = None
        if method == "PUT" and expect == NOT_5XX:
            stores = unquote_to_bytes(encoded).decode("utf-8", "surrogateescape")
        description = f"{kind}: {method} {target[:160]!r}{'…' if len(target) > 160 else ''} ({len(target)} bytes)"
        return Case("path", index, description, REFUSED_OR_CLOSED if kind == "huge" else expect,
                    raw=build(method, target, headers, body), method=method, stores_key=stores)

    # -- queries ------------------------------------------------------------------------------------------
    def queries(self, index: int) -> Case:
        rng = self.rng("query", index)
        kind = rng.choice(["max-keys", "duplicate", "sub-resource", "list-type", "token", "encoding",
                           "part-number", "bad-percent", "upload-id"])
        allow_501 = False
        path = f"/{self.bucket}"
        method = "GET"
        expect = REFUSED
        if kind == "max-keys":
            query = "list-type=2&max-keys=" + quote(rng.choice(["-1", "abc", "1e3", "99999999999999999999", " 5",
                                                                "0x10", "1.5", "+-3", "٣"]), safe="")
        elif kind == "duplicate":
            query = rng.choice(["list-type=2&list-type=1", "max-keys=1&max-keys=2&list-type=2",
                                "prefix=a&prefix=b", "list-type=2&continuation-token=a&continuation-token=b"])
            expect = NOT_5XX
        elif kind == "sub-resource":
            query = rng.choice(["acl", "tagging", "versioning", "lifecycle", "policy", "cors", "website",
                                "torrent", "logging", "notification", "replication", "xyzzy", "uploads&xyzzy=1",
                                "versions", "object-lock", "encryption", "select&select-type=2"])
            expect = NOT_5XX
            allow_501 = True
        elif kind == "list-type":
            query = "list-type=" + rng.choice(["3", "0", "two", ""])
            expect = NOT_5XX  # S3 lists (version 1) for a list-type other than 2
        elif kind == "token":
            query = "list-type=2&continuation-token=" + quote(rng.choice(["!!!", "AAAA", "%", "x" * 5000,
                                                                         "\u2603", "=="]), safe="")
        elif kind == "encoding":
            query = "list-type=2&encoding-type=" + rng.choice(["bogus", "URL", "url%00", "base64"])
        elif kind == "part-number":
            path = self.key_path(f"fuzz/query-{index}")
            method = "PUT"
            upload = self.upload_id or "no-such-upload"
            query = f"partNumber={rng.choice(['0', '10001', 'abc', '-1', '1.0', ''])}&uploadId={quote(upload, safe='')}"
        elif kind == "bad-percent":
            query = "list-type=2&prefix=" + rng.choice(["%", "%zz", "%G0", "%C3%28"])
        else:  # upload-id
            path = self.key_path(f"fuzz/query-{index}")
            method = rng.choice(["GET", "DELETE", "POST"])
            query = "uploadId=" + quote(rng.choice(["", "nonexistent", "x" * 2000, "../../etc", "' OR 1=1 --"]),
                                        safe="")
        body = b"part" if method == "PUT" else b""
        # A raw socket, not requests: requests would "fix" a bad percent-encoding before it goes out.
        headers = self.signed(method, path, query, [("Content-Length", str(len(body)))],
                              hashlib.sha256(body).hexdigest())
        return Case("query", index, f"{kind}: {method} {path}?{query[:200]}", expect,
                    raw=build(method, f"{path}?{query}", headers, body), method=method, allow_not_implemented=allow_501)

    # -- headers ------------------------------------------------------------------------------------------
    def headers(self, index: int) -> Case:
        rng = self.rng("header", index)
        key = f"fuzz/header-{index}"
        path = self.key_path(key)
        body = b"header fuzz body"
        kind = rng.choice(["content-length", "transfer-encoding", "range", "date", "oversize", "authorization",
                           "content-sha256", "content-md5", "content-type", "syntax", "version", "expect"])
        if kind == "content-length":
            choice = rng.choice(["abc", "-1", "1.5", "0x10", "99999999999999999999", " ", "1 6", "dup", "short",
                                 "long"])
            headers = [("Host", self.s3.host)]
            signed = self.signed("PUT", path, "", [], sh.UNSIGNED_PAYLOAD)[1:]
            if choice == "dup":
                headers += [("Content-Length", str(len(body))), ("Content-Length", str(len(body) + 5))]
            elif choice == "short":
                # Announces more than it sends, then closes its side: IncompleteBody, or a close.
                headers += [("Content-Length", str(len(body) + 100))]
            elif choice == "long":
                # Sends more than it announces: the extra bytes are the next "request" (garbage): the first
                # answer is the PUT's own; nothing of the extra may end up in the object.
                headers += [("Content-Length", str(len(body) - 4))]
            else:
                headers += [("Content-Length", choice)]
            if choice == "long":
                return Case("header", index, "Content-Length shorter than the body", NOT_5XX,
                            raw=build("PUT", path, headers + signed, body), method="PUT", stores_key=key)
            return Case("header", index, f"Content-Length {choice!r}", REFUSED_OR_CLOSED,
                        raw=build("PUT", path, headers + signed, body), half_close=choice == "short", method="PUT")
        if kind == "transfer-encoding":
            choice = rng.choice(["chunked+length", "gzip, chunked", "chunked, chunked", "identity", "bogus",
                                 "chunked-bad-size", "chunked-no-end", "chunked-huge-size", "chunked-extra"])
            signed = self.signed("PUT", path, "", [], sh.UNSIGNED_PAYLOAD)[1:]
            framed = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
            headers = [("Host", self.s3.host)]
            half_close = False
            if choice == "chunked+length":
                headers += [("Transfer-Encoding", "chunked"), ("Content-Length", str(len(framed)))]
            elif choice in ("gzip, chunked", "chunked, chunked", "identity", "bogus"):
                headers += [("Transfer-Encoding", choice)]
            elif choice == "chunked-bad-size":
                headers += [("Transfer-Encoding", "chunked")]
                framed = b"zz\r\n" + body + b"\r\n0\r\n\r\n"
            elif choice == "chunked-no-end":
                headers += [("Transfer-Encoding", "chunked")]
                framed = b"%x\r\n%s\r\n" % (len(body), body)
                half_close = True
            elif choice == "chunked-huge-size":
                headers += [("Transfer-Encoding", "chunked")]
                framed = b"ffffffffffffffffffff\r\n" + body
                half_close = True
            else:
                headers += [("Transfer-Encoding", "chunked")]
                framed = b"%x\r\n%s\r\n0\r\n\r\nGARBAGE AFTER THE END" % (len(body), body)
            if choice == "chunked-extra":
                # The chunked body is complete; what follows is a second, unparseable request.
                return Case("header", index, f"Transfer-Encoding {choice}", NOT_5XX,
                            raw=build("PUT", path, headers + signed, framed), method="PUT", stores_key=key)
            # S3 answers a transfer coding other than chunked with 501 NotImplemented.
            return Case("header", index, f"Transfer-Encoding {choice}", REFUSED_OR_CLOSED,
                        raw=build("PUT", path, headers + signed, framed), half_close=half_close, method="PUT",
                        allow_not_implemented=True)
        if kind == "range":
            # S3 ignores a Range it cannot parse (200, the whole object) and refuses an unsatisfiable one (416).
            value = rng.choice(["bytes=abc", "bytes=5-1", "bytes=-", "items=0-1", "bytes=0-1,2-3", "bytes=--1",
                                "bytes=99999999999999999999-", "bytes=-0", "bytes= 0-1", "bytes=0-1;x"])
            target = self.key_path("keep/0")
            headers = self.signed("GET", target, "", [("Range", value)], sh.EMPTY_SHA256)
            return Case("header", index, f"Range {value!r}", NOT_5XX, raw=build("GET", target, headers))
        if kind == "date":
            value = rng.choice(["yesterday", "20250101", "20991231T000000Z", "19700101T000000Z", "2025-01-01T00:00:00Z",
                                "99999999T999999Z", "", "20250101T000000", "Mon, 32 Jan 2025 00:00:00 GMT"])
            headers = [("Host", self.s3.host), ("Content-Length", str(len(body)))]
            signed = self.signed("PUT", path, "", [], sh.UNSIGNED_PAYLOAD)[1:]
            signed = [(name, value if name == "x-amz-date" else other) for name, other in signed]
            return Case("header", index, f"x-amz-date {value!r}", REFUSED, raw=build("PUT", path, headers + signed, body),
                        method="PUT")
        if kind == "oversize":
            choice = rng.choice(["one-64k", "one-1m", "many", "name-64k"])
            headers = [("Host", self.s3.host)]
            if choice == "one-64k":
                headers.append(("x-fuzz", "v" * 65536))
            elif choice == "one-1m":
                headers.append(("x-fuzz", "v" * (1 << 20)))
            elif choice == "many":
                headers += [(f"x-fuzz-{n}", "v" * 100) for n in range(3000)]
            else:
                headers.append(("x-" + "n" * 65536, "v"))
            return Case("header", index, f"oversize headers: {choice}", REFUSED_OR_CLOSED,
                        raw=build("GET", f"/{self.bucket}", headers), method="GET")
        if kind == "authorization":
            headers = self.signed("PUT", path, "", [("Content-Length", str(len(body)))], sh.UNSIGNED_PAYLOAD)
            authorization = dict(headers)["Authorization"]
            mutation = rng.choice(["truncate", "no-credential", "algorithm", "commas", "no-host", "scope-date",
                                   "region", "service", "non-hex", "short-signature", "unicode", "empty", "spaces",
                                   "duplicate", "terminator"])
            if mutation == "truncate":
                authorization = authorization[:rng.randrange(1, len(authorization) - 1)]
            elif mutation == "no-credential":
                authorization = authorization.replace("Credential=", "Cred=")
            elif mutation == "algorithm":
                authorization = authorization.replace("AWS4-HMAC-SHA256", rng.choice(["AWS4-HMAC-SHA1", "AWS", "aws4"]))
            elif mutation == "commas":
                authorization = authorization.replace(", ", ",,, ")
            elif mutation == "no-host":
                authorization = authorization.replace("host;", "")
            elif mutation == "scope-date":
                authorization = authorization.replace("/" + sh.REGION, "x/" + sh.REGION, 1)
            elif mutation == "region":
                authorization = authorization.replace("/" + sh.REGION + "/", "/eu-west-9/")
            elif mutation == "service":
                authorization = authorization.replace("/s3/", "/ec2/")
            elif mutation == "non-hex":
                authorization = authorization[:-1] + "g"
            elif mutation == "short-signature":
                authorization = authorization[:-1]
            elif mutation == "unicode":
                authorization = authorization.replace("Signature=", "Signatüre=")
            elif mutation == "empty":
                authorization = ""
            elif mutation == "spaces":
                authorization = authorization.replace(" ", "    ")
            elif mutation == "duplicate":
                authorization += ", Signature=" + "0" * 64
            else:
                authorization = authorization.replace("aws4_request", "aws4_reques")
            headers = [(name, authorization if name == "Authorization" else value) for name, value in headers]
            # A mutation that keeps the header meaningful ("spaces" between parameters is tolerated by S3)
            # may still be accepted.
            expect = NOT_5XX if mutation == "spaces" else REFUSED
            return Case("header", index, f"Authorization {mutation}: {authorization[:160]!r}", expect,
                        raw=build("PUT", path, headers, body), method="PUT",
                        stores_key=key if expect == NOT_5XX else None)
        if kind == "content-sha256":
            value = rng.choice(["garbage", "STREAMING-FOO", "0" * 63, "G" * 64, "",
                                "STREAMING-AWS4-HMAC-SHA256-EVENTS", "unsigned-payload"])
            headers = self.signed("PUT", path, "", [("Content-Length", str(len(body)))], value)
            return Case("header", index, f"x-amz-content-sha256 {value!r}", REFUSED, raw=build("PUT", path, headers, body),
                        method="PUT")
        if kind == "content-md5":
            value = rng.choice(["nope", "AAAA", base64.b64encode(b"x" * 15).decode(), "====",
                                base64.b64encode(hashlib.md5(b"other").digest()).decode()])
            headers = self.signed("PUT", path, "", [("Content-Length", str(len(body))), ("Content-MD5", value)])
            return Case("header", index, f"Content-MD5 {value!r}", REFUSED, raw=build("PUT", path, headers, body),
                        method="PUT")
        if kind == "content-type":
            value = rng.choice(["", "text", "/", "text/", "a b/c", "text/plain; charset", "\u00e9/x", "x/y;;;="])
            headers = self.signed("PUT", path, "", [("Content-Length", str(len(body))), ("Content-Type", value)])
            # DESIGN.md: a Content-Type that is not a media type is InvalidArgument; an empty one or odd
            # parameters are left to the gateway.
            lenient = value in ("", "text/plain; charset", "x/y;;;=")
            return Case("header", index, f"Content-Type {value!r}", NOT_5XX if lenient else REFUSED,
                        raw=build("PUT", path, headers, body), method="PUT", stores_key=key if lenient else None)
        if kind == "syntax":
            line = rng.choice(["NoColonHere", "Bad Name: x", ": empty-name", " folded: continuation",
                               "x-amz-meta-a\x00: nul", "Content-Length : 5"])
            raw = (f"PUT {path} HTTP/1.1\r\nHost: {self.s3.host}\r\n{line}\r\nContent-Length: {len(body)}\r\n\r\n"
                   .encode("latin-1") + body)
            return Case("header", index, f"header line {line!r}", REFUSED_OR_CLOSED, raw=raw, method="PUT")
        if kind == "version":
            version = rng.choice(["HTTP/9.9", "HTTP/1.1x", "HTTP/1", "HTTPS/1.1", "HTTP/0.9", "http/1.1"])
            headers = self.signed("GET", f"/{self.bucket}", "", [], sh.EMPTY_SHA256)
            # HTTP/0.9 and HTTP/9.9 parse; a server may serve them as 1.x, refuse them (505), or close.
            return Case("header", index, f"version {version!r}", NOT_5XX_OR_CLOSED,
                        raw=build("GET", f"/{self.bucket}", headers, version=version),
                        allow_version_not_supported=True)
        value = rng.choice(["200-ok", "100-continue, foo", "", "100-Continue"])  # expect
        headers = self.signed("PUT", path, "", [("Content-Length", str(len(body))), ("Expect", value)])
        return Case("header", index, f"Expect {value!r}", NOT_5XX, raw=build("PUT", path, headers, body), method="PUT",
                    stores_key=key)

    # -- aws-chunked framing ------------------------------------------------------------------------------
    def chunked(self, index: int) -> Case:
        rng = self.rng("chunked", index)
        key = f"fuzz/chunked-{index}"
        mode = rng.choice([ac.UNSIGNED_TRAILER, ac.SIGNED, ac.SIGNED_TRAILER])
        data = rng.randbytes(rng.choice([1, 100, 70 * KiB + 1]))
        chunk_bytes = rng.choice([64 * KiB, 8 * KiB])
        upload = ac.streaming_put(self.s3, self.bucket, key, data, mode, algorithm="crc32", chunk_bytes=chunk_bytes,
                                  sign_content_length=False)
        body = upload.body
        kind = rng.choice(["bad-hex", "missing-crlf", "lf-only", "truncated", "truncated-eof", "oversize-line",
                           "extra-after-final", "no-final", "bad-trailer", "flip", "signature-garbage",
                           "size-too-big"])
        first_line_end = body.index(b"\r\n")
        half_close = False
        content_length: Optional[int] = None
        if kind == "bad-hex":
            size_end = min(first_line_end, body.index(b";") if b";" in body[:first_line_end] else first_line_end)
            body = rng.choice([b"zz", b"-1", b"1 0", b"0x10", b"", b"+5", b"\x00"]) + body[size_end:]
        elif kind == "missing-crlf":
            after_data = first_line_end + 2 + min(len(data), chunk_bytes)  # the CRLF after the first chunk's data
            assert body[after_data:after_data + 2] == b"\r\n"
            body = body[:after_data] + body[after_data + 2:]
            content_length = len(body)
        elif kind == "lf-only":
            body = body.replace(b"\r\n", b"\n")
        elif kind == "truncated":
            body = body[:rng.randrange(1, len(body) - 1)]
            content_length = len(body)
        elif kind == "truncated-eof":
            body = body[:rng.randrange(1, len(body) - 1)]
            half_close = True  # Content-Length still the whole: the client goes away mid-body
        elif kind == "oversize-line":
            junk = rng.choice([b"0" * 9000 + b"1", b";" + b"x" * 70_000, b";ext=" + b"v" * 20_000])
            body = body[:first_line_end] + junk + body[first_line_end:]
            content_length = len(body)
        elif kind == "extra-after-final":
            body += rng.choice([b"GARBAGE", b"0\r\n\r\n", b"\r\n", b"5\r\nhello\r\n"])
            content_length = len(body)
        elif kind == "no-final":
            final = body.rindex(b"\r\n0")
            body = body[:final + 2]
            content_length = len(body)
        elif kind == "bad-trailer":
            if mode == ac.SIGNED:
                body = body[:-2] + b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n"
            else:
                name = b"x-amz-checksum-crc32:"
                at = body.index(name)
                line_end = body.index(b"\r\n", at)
                body = body[:at] + rng.choice([b"no-colon-here", b"x-amz-checksum-sha256:AAAA",
                                               b"x-amz-checksum-crc32:!!!", b"x-amz-checksum-crc32:",
                                               body[at:line_end] + b"\r\n" + body[at:line_end]]) + body[line_end:]
            content_length = len(body)
        elif kind == "flip":
            framing = [n for n in range(len(body)) if not (first_line_end + 2 <= n < first_line_end + 2 + min(len(data), 8 * KiB))]
            position = rng.choice(framing)
            replacement = rng.choice([b"\x00", b"\xff", b"Z", b"\n", b";", b":"])
            if body[position:position + 1] == replacement:
                replacement = b"\x01"
            body = body[:position] + replacement + body[position + 1:]
        elif kind == "signature-garbage":
            if mode == ac.UNSIGNED_TRAILER:
                # A chunk extension in an unsigned stream: HTTP chunked framing allows extensions, so a decoder
                # may ignore it (and store the payload) or refuse it.
                body = body[:first_line_end] + b";chunk-signature=" + b"0" * 64 + body[first_line_end:]
                headers = dict(upload.headers, **{"Content-Length": str(len(body))})
                return Case("chunked", index, f"{mode} chunk signature in an unsigned stream", NOT_5XX,
                            raw=build("PUT", upload.path, list(headers.items()), body), method="PUT", stores_key=key)
            else:
                at = body.index(b"chunk-signature=") + len(b"chunk-signature=")
                body = body[:at] + rng.choice([b"g" * 64, b"0" * 64, b"", b"a" * 63 + b"\x00"]) + body[at + 64:]
                content_length = len(body)
        else:  # size-too-big: the first chunk claims more bytes than follow
            size_end = body.index(b";") if mode != ac.UNSIGNED_TRAILER else first_line_end
            declared = int(body[:size_end], 16)
            body = b"%x" % (declared + rng.choice([1, 1000, 1 << 30])) + body[size_end:]
            content_length = len(body)
        headers = dict(upload.headers)
        if content_length is not None:
            # Content-Length is not in the seed signature: the framing, not the head's signature, is what fails.
            headers["Content-Length"] = str(content_length)
        raw = build("PUT", upload.path, list(headers.items()), body)
        return Case("chunked", index, f"{mode} {kind} ({len(data)} B payload, body {len(body)} B)",
                    REFUSED_OR_CLOSED, raw=raw, half_close=half_close, method="PUT")

    # -- XML bodies -----------------------------------------------------------------------------------------
    def _xml_mutation(self, rng: random.Random, valid: bytes, root: str) -> tuple[str, bytes, str]:
        """(description, body, expectation) of a mutation of `valid`."""
        kind = rng.choice(["truncate", "unclosed", "wrong-root", "entity-bomb", "xxe", "deep", "empty", "not-xml",
                           "bad-utf8", "doctype", "flip", "huge", "duplicate-root", "namespace"])
        if kind == "truncate":
            return kind, valid[:rng.randrange(1, len(valid) - 1)], REFUSED
        if kind == "unclosed":
            return kind, valid.replace(f"</{root}>".encode(), b""), REFUSED
        if kind == "wrong-root":
            return kind, valid.replace(root.encode(), b"Something"), REFUSED
        if kind == "entity-bomb":
            bomb = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                    + b"".join(b'<!ENTITY lol%d "%s">' % (n, (b"&lol%d;" % (n - 1) if n > 1 else b"&lol;") * 10)
                               for n in range(1, 10))
                    + b"]>" + valid.replace(b"<Key>", b"<Key>&lol9;", 1).replace(b"<ETag>", b"<ETag>&lol9;", 1))
            return kind, bomb, REFUSED
        if kind == "xxe":
            return kind, (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                          + valid.replace(b"<Key>", b"<Key>&x;", 1).replace(b"<ETag>", b"<ETag>&x;", 1)), REFUSED
        if kind == "deep":
            depth = rng.choice([1000, 100_000])
            return f"{kind} {depth}", (f"<{root}>".encode() + b"<a>" * depth + b"</a>" * depth
                                       + f"</{root}>".encode()), REFUSED
        if kind == "empty":
            return kind, b"", REFUSED
        if kind == "not-xml":
            return kind, rng.choice([b"{\"json\": true}", b"hello", b"<", b"\x00\x01\x02", b"<?xml?>"]), REFUSED
        if kind == "bad-utf8":
            return kind, valid.replace(b"<Key>", b"<Key>\xff\xfe", 1).replace(b"<ETag>", b"<ETag>\xc3\x28", 1), REFUSED
        if kind == "doctype":
            return kind, b'<!DOCTYPE x SYSTEM "http://127.0.0.1:1/x.dtd">' + valid, REFUSED
        if kind == "flip":
            position = rng.randrange(len(valid))
            return f"{kind}@{position}", valid[:position] + bytes([rng.randrange(256)]) + valid[position + 1:], NOT_5XX
        if kind == "huge":
            return kind, valid.replace(f"</{root}>".encode(), b"<!--" + b"x" * (3 << 20) + b"-->" + f"</{root}>".encode()), REFUSED
        if kind == "duplicate-root":
            return kind, valid + valid, REFUSED
        return kind, valid.replace(b'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"', b'xmlns="urn:other"'), NOT_5XX

    def complete_xml(self, index: int) -> Case:
        rng = self.rng("complete", index)
        parts = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>\"{hashlib.md5(bytes([n])).hexdigest()}\"</ETag></Part>"
                        for n in range(1, rng.choice([2, 4])))
        valid = (f'<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{parts}'
                 f"</CompleteMultipartUpload>").encode()
        if rng.random() < 0.35:
            kind, body = rng.choice([
                ("part-number-0", valid.replace(b"<PartNumber>1<", b"<PartNumber>0<")),
                ("part-number-text", valid.replace(b"<PartNumber>1<", b"<PartNumber>one<")),
                ("part-number-negative", valid.replace(b"<PartNumber>1<", b"<PartNumber>-1<")),
                ("part-number-huge", valid.replace(b"<PartNumber>1<", b"<PartNumber>99999999999999999999<")),
                ("no-parts", b'<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></CompleteMultipartUpload>'),
                ("descending", valid.replace(b"<PartNumber>1<", b"<PartNumber>9<")),
                ("no-etag", b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>"),
                ("10001-parts", b"<CompleteMultipartUpload>" + b"".join(
                    b"<Part><PartNumber>%d</PartNumber><ETag>\"x\"</ETag></Part>" % n for n in range(1, 10002))
                 + b"</CompleteMultipartUpload>"),
            ])
        else:
            kind, body, _ = self._xml_mutation(rng, valid, "CompleteMultipartUpload")
        # Every body names parts never uploaded: even one that parses cannot complete (InvalidPart).
        expect = REFUSED
        key = "fuzz/multipart"
        upload = self.upload_id or "no-such-upload"
        query = f"uploadId={quote(upload, safe='')}"
        return self._post_xml("complete", index, f"CompleteMultipartUpload {kind}", self.key_path(key), query, body,
                              expect, content_md5=False)

    def delete_xml(self, index: int) -> Case:
        rng = self.rng("delete", index)
        keys = "".join(f"<Object><Key>decoy/{n}</Key></Object>" for n in range(rng.choice([1, 3])))
        valid = (f'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{keys}</Delete>').encode()
        if rng.random() < 0.35:
            kind, body = rng.choice([
                ("1001-keys", b"<Delete>" + b"".join(b"<Object><Key>decoy/%d</Key></Object>" % n for n in range(1001))
                 + b"</Delete>"),
                ("no-objects", b"<Delete></Delete>"),
                ("quiet-not-bool", b"<Delete><Quiet>maybe</Quiet><Object><Key>decoy/a</Key></Object></Delete>"),
                ("no-key", b"<Delete><Object><VersionId>1</VersionId></Object></Delete>"),
                ("empty-key", b"<Delete><Object><Key></Key></Object></Delete>"),
                ("key-too-long", b"<Delete><Object><Key>" + b"k" * 1025 + b"</Key></Object></Delete>"),
            ])
            expect = REFUSED
            if kind == "empty-key":
                expect = NOT_5XX  # S3 answers 200 with a per-key <Error> (InvalidArgument)
            if kind == "key-too-long":
                expect = NOT_5XX  # likewise: a per-key error in a 200 answer
        else:
            kind, body, expect = self._xml_mutation(rng, valid, "Delete")
        return self._post_xml("delete", index, f"DeleteObjects {kind}", f"/{self.bucket}", "delete", body, expect,
                              content_md5=True)

    def _post_xml(self, category: str, index: int, description: str, path: str, query: str, body: bytes,
                  expect: str, content_md5: bool) -> Case:
        def send() -> tuple[int, dict[str, str], bytes]:
            extra = [("Content-Type", "application/xml")]
            if content_md5:
                extra.append(("Content-MD5", base64.b64encode(hashlib.md5(body).digest()).decode()))
            headers = dict(self.signed("POST", path, query, extra, hashlib.sha256(body).hexdigest()))
            headers.pop("Host")
            response = requests.post(self.s3.endpoint + path + "?" + query, headers=headers, data=body,
                                     timeout=CASE_TIMEOUT, allow_redirects=False)
            return response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content

        return Case(category, index, f"{description} ({len(body)} B)", expect, send=send, method="POST")


#: category -> (generator method name, number of cases)
CATEGORIES = {
    "method": ("methods", 30),
    "path": ("paths", 60),
    "query": ("queries", 50),
    "header": ("headers", 90),
    "chunked": ("chunked", 80),
    "complete": ("complete_xml", 35),
    "delete": ("delete_xml", 35),
}

KEEP = {f"keep/{n}": sh.random_bytes(1000 + n, seed=900 + n) for n in range(3)}


# --------------------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------------------

def all_keys(s3: sh.S3, bucket: str) -> set[str]:
    """Every key, listed with encoding-type=url: keys with control characters cannot appear in XML 1.0
    otherwise (S3's reason for the parameter)."""
    keys: set[str] = set()
    token: Optional[str] = None
    while True:
        response = s3.list_v2(bucket, encoding_type="url", continuation_token=token)
        assert response.status_code == 200, sh.describe(response)
        page = sh.parse_list_v2(response.content)
        keys.update(unquote(key) for key in page.keys)
        if not page.is_truncated:
            return keys
        token = page.next_token


def empty_and_remove(s3: sh.S3, bucket: str) -> None:
    try:
        for key in all_keys(s3, bucket):
            s3.delete(bucket, key)
    finally:
        s3.remove_bucket(bucket)


@dataclasses.dataclass
class FuzzState:
    fuzzer: Fuzzer
    #: keys a case was answered 2xx for (they may legitimately exist at the end)
    stored: set[str] = dataclasses.field(default_factory=set)


@pytest.fixture(scope="module")
def fuzz_state(s3) -> Iterator[FuzzState]:
    bucket = sh.unique_bucket("fuzz")
    created = s3.create_bucket(bucket)
    assert created.status_code == 200, sh.describe(created)
    try:
        for key, data in KEEP.items():
            s3.put_ok(bucket, key, data)
        initiated = s3.request("POST", bucket, "fuzz/multipart", query={"uploads": None})
        upload_id = None
        if initiated.status_code == 200:
            upload_id = sh.xml_root(initiated.content).findtext("UploadId")
        state = FuzzState(Fuzzer(s3, bucket, upload_id))
        yield state
        if upload_id:
            s3.request("DELETE", bucket, "fuzz/multipart", query={"uploadId": upload_id})
    finally:
        empty_and_remove(s3, bucket)


def check(case: Case, outcome: Outcome) -> Optional[str]:
    """What is wrong with `outcome` for `case`, or None."""
    if outcome.status is None:
        if case.expect in (REFUSED_OR_CLOSED, NOT_5XX_OR_CLOSED):
            return None
        return "the connection closed without a response"
    status = outcome.status
    code = sh.parse_error(outcome.body).code if outcome.body else None
    if status >= 500:
        if status == 501 and code == "NotImplemented" and case.allow_not_implemented:
            return None
        if status == 505 and case.allow_version_not_supported:
            return None
        return f"{status} {code or ''} (a server error)"
    if case.expect in (REFUSED, REFUSED_OR_CLOSED) and not 400 <= status < 500:
        return f"{status}: S3 refuses this input with a 4xx"
    if 400 <= status < 500 and case.method != "HEAD" and not code:
        if not outcome.body and case.expect in (REFUSED_OR_CLOSED, NOT_5XX_OR_CLOSED):
            return None  # the HTTP decoder's own refusal of bytes that are not HTTP, then a close
        if b"<Code>" in outcome.body:
            return f"{status} with an error body that is not well-formed XML: {outcome.body[:300]!r}"
        return f"{status} without an S3 XML <Error><Code> body: {outcome.body[:200]!r}"
    return None


def run_case(case: Case, s3: sh.S3, stored: set[str]) -> Optional[str]:
    """Sends `case`; returns a failure message or None."""
    try:
        if case.send is not None:
            try:
                status, headers, body = case.send()
                outcome = Outcome(status, headers, body, 0.0)
            except requests.Timeout:
                return f"no response within {CASE_TIMEOUT:.0f} s"
            except requests.ConnectionError:
                outcome = Outcome(None, {}, b"", 0.0)
        else:
            assert case.raw is not None
            outcome = send_raw(s3.hostname, s3.port, case.raw, case.half_close)
    except TimeoutError as error:
        return str(error)
    problem = check(case, outcome)
    try:
        health = requests.get(s3.endpoint + "/health", timeout=CASE_TIMEOUT)
        if health.status_code != 200:
            problem = (problem + "; " if problem else "") + f"/health answered {health.status_code} afterwards"
    except requests.RequestException as error:
        problem = (problem + "; " if problem else "") + f"/health failed afterwards: {error}"
    if problem is None and outcome.status is not None and 200 <= outcome.status < 300 and case.stores_key:
        stored.add(case.stores_key)
    return problem


def describe_case(case: Case) -> str:
    raw = ""
    if case.raw is not None:
        raw = f"\n    request head: {case.raw[:300]!r}{'…' if len(case.raw) > 300 else ''} ({len(case.raw)} bytes)"
    return f"[{case.name}] {case.description} (expected {case.expect}); replay: {case.replay_hint()}{raw}"


@pytest.mark.parametrize("category", list(CATEGORIES))
@pytest.mark.timeout(600)
def test_fuzz(category, fuzz_state, s3):
    """Each category's cases, all of them, failures collected (each with its seed and case to replay)."""
    method_name, count = CATEGORIES[category]
    generate = getattr(fuzz_state.fuzzer, method_name)
    indices = range(count)
    if ONLY_CASE is not None:
        only_category, _, only_index = ONLY_CASE.partition(":")
        if only_category != category:
            pytest.skip(f"SILO_FUZZ_CASE={ONLY_CASE} selects another category")
        indices = [int(only_index)]
    failures = []
    for index in indices:
        case = generate(index)
        problem = run_case(case, s3, fuzz_state.stored)
        if problem is not None:
            failures.append(f"{describe_case(case)}\n    -> {problem}")
    assert not failures, f"{len(failures)} of {len(indices)} {category} cases failed (seed {FUZZ_SEED}):\n" + \
        "\n".join(failures)


def test_fuzz_left_only_intended_objects(fuzz_state, s3):
    """After every category ran: the keep/ objects byte for byte, plus only what a case was answered 2xx for;
    nothing partial from a refused upload, and no aws-chunked framing in any object."""
    bucket = fuzz_state.fuzzer.bucket
    keys = all_keys(s3, bucket)
    for key, data in KEEP.items():
        assert key in keys, f"{key} is gone"
        assert s3.get_bytes(bucket, key) == data, f"{key} changed"
    unexpected = keys - set(KEEP) - fuzz_state.stored
    assert not unexpected, f"objects no accepted case stored: {sorted(unexpected)[:20]}"
