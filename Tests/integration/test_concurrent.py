"""Concurrency tests of the S3 gateway, with the seed suite's names (TestConcurrent): parallel uploads and
downloads, a random mix checked against a model, bursts above the metadata connection pool, and many writers
racing on one key while readers check that every read is one whole version.

Threads start together behind a barrier, so the requests really overlap. Every body is deterministic
(seeded), so any mix-up of objects, versions or chunks shows as a wrong MD5.
"""

from __future__ import annotations

import collections
import hashlib
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

import pytest
import requests

import s3_helpers as sh
from s3_helpers import KiB, MiB, PatternData

pytestmark = pytest.mark.concurrent

BARRIER_TIMEOUT = 120.0


def run_together(count: int, work: Callable[[int, threading.Barrier], object]) -> list:
    """Runs work(index, barrier) on `count` threads; each calls barrier.wait() right before its request.
    Returns the results; raises the first failure after all finished, with how many failed."""
    barrier = threading.Barrier(count, timeout=BARRIER_TIMEOUT)
    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(work, index, barrier) for index in range(count)]
        outcomes = [(future.exception(), future) for future in futures]
    errors = [error for error, _ in outcomes if error is not None]
    if errors:
        raise AssertionError(f"{len(errors)} of {count} threads failed; first: {errors[0]!r}") from errors[0]
    return [future.result() for _, future in outcomes]


def read_whole(response: requests.Response, what: str) -> sh.Download:
    """Drains a streamed response; a connection that breaks mid-body fails the test saying how far it got."""
    digest = hashlib.md5()
    size = 0
    started = time.monotonic()
    declared = response.headers.get("Content-Length")
    try:
        for part in response.iter_content(sh.PIECE_BYTES):
            digest.update(part)
            size += len(part)
    except requests.RequestException as error:
        raise AssertionError(f"{what}: the body broke off after {size} of {declared} bytes (a torn read): "
                             f"{error}") from None
    finally:
        response.close()
    return sh.Download(response.status_code, response.headers, size, digest.hexdigest(),
                       time.monotonic() - started)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


class TestConcurrent:
    def test_concurrent_uploads(self, s3, bucket):
        """50 uploads at once (1 byte to 10 MB, half with signed payloads, some over a chunk): every one is
        200 with its own MD5 as ETag, and afterwards each object is exactly its body."""
        count = 50
        sizes = [1 + (index * 2_654_435_761) % (10 * 1000 * 1000) for index in range(count)]
        sizes[7] = sh.CHUNK_BYTES + 1 * MiB  # at least one object spans two chunks
        keys = [f"upload/{index:02d}" for index in range(count)]

        def upload(index: int, barrier: threading.Barrier) -> str:
            data = sh.random_bytes(sizes[index], seed=1000 + index)
            barrier.wait()
            response = s3.put(bucket, keys[index], data, payload="signed" if index % 2 else "unsigned")
            assert response.status_code == 200, sh.describe(response)
            md5 = sh.md5_hex(data)
            assert response.headers.get("ETag") == sh.quoted_etag(md5), keys[index]
            return md5

        md5s = run_together(count, upload)
        assert s3.keys(bucket) == keys
        for index, key in enumerate(keys):
            head = s3.head(bucket, key)
            assert head.status_code == 200, sh.describe(head)
            assert int(head.headers["Content-Length"]) == sizes[index]
            assert head.headers.get("ETag") == sh.quoted_etag(md5s[index])
            back = sh.read_hashed(s3.get(bucket, key, stream=True))
            assert (back.size, back.md5) == (sizes[index], md5s[index]), f"{key} reads back different bytes"

    def test_concurrent_downloads(self, s3, bucket, perf_report):
        """100 downloads at once of five objects (1 KiB to a two-chunk one), a third of them ranged: every
        one returns exactly the expected bytes."""
        sizes = [1 * KiB, 1 * MiB + 1, 5 * MiB, sh.CHUNK_BYTES + 2 * MiB + 3, 10 * 1000 * 1000]
        sources = [PatternData(size, seed=2000 + index) for index, size in enumerate(sizes)]
        md5s = []
        for index, source in enumerate(sources):
            body = sh.HashingBody(source)
            assert s3.put(bucket, f"download/{index}", body).status_code == 200
            md5s.append(body.md5)

        def download(index: int, barrier: threading.Barrier) -> tuple[int, float]:
            which = index % len(sources)
            source, key = sources[which], f"download/{which}"
            barrier.wait()
            started = time.monotonic()
            if index % 3 == 2:
                first = (index * 7_919) % source.size
                last = min(source.size - 1, first + 3 * MiB)
                response = s3.get(bucket, key, headers={"Range": f"bytes={first}-{last}"})
                assert response.status_code == 206, sh.describe(response)
                assert response.content == source.read(first, last - first + 1), f"{key} bytes={first}-{last}"
                return last - first + 1, time.monotonic() - started
            back = sh.read_hashed(s3.get(bucket, key, stream=True))
            assert back.status == 200
            assert (back.size, back.md5) == (source.size, md5s[which]), f"{key}: wrong bytes"
            return back.size, time.monotonic() - started

        started = time.monotonic()
        results = run_together(100, download)
        seconds = time.monotonic() - started
        total = sum(size for size, _ in results)
        perf_report(f"100 concurrent downloads: {total / 1e6:.0f} MB in {seconds:.1f} s "
                    f"({total / 1e6 / seconds:.0f} MB/s), p99 latency {percentile([s for _, s in results], 0.99):.2f} s")

    def test_mixed_operations(self, s3, bucket):
        """12 workers each run 25 random operations (put a new version, get, head, delete) on keys of their own,
        while a lister walks the bucket: every get and head matches the worker's model at that moment, every
        listing is sorted, without duplicates and within the key space, and the final state is the model."""
        workers, operations, keys_per_worker = 12, 25, 4
        model: dict[str, Optional[tuple[int, str]]] = {}  # key -> (size, md5) or None when absent
        lock = threading.Lock()
        universe = {f"mixed/w{worker:02d}/k{slot}" for worker in range(workers) for slot in range(keys_per_worker)}
        done = threading.Event()
        listing_problems: list[str] = []
        listings = collections.Counter()

        def lister() -> None:
            while not done.is_set():
                try:
                    keys = s3.keys(bucket, prefix="mixed/")
                except AssertionError as error:
                    listing_problems.append(f"listing failed: {error}")
                    return
                listings["walks"] += 1
                if keys != sorted(set(keys), key=lambda key: key.encode()):
                    listing_problems.append(f"unsorted or duplicated listing: {keys}")
                if not set(keys) <= universe:
                    listing_problems.append(f"listed keys nobody wrote: {set(keys) - universe}")

        def work(worker: int, barrier: threading.Barrier) -> collections.Counter:
            rng = random.Random(3000 + worker)
            mine = {f"mixed/w{worker:02d}/k{slot}": None for slot in range(keys_per_worker)}
            counts = collections.Counter()
            barrier.wait()
            for step in range(operations):
                key = rng.choice(sorted(mine))
                operation = rng.choice(["put", "put", "get", "get", "head", "delete"])
                counts[operation] += 1
                state = mine[key]
                where = f"worker {worker} step {step} {operation} {key} (model: {state})"
                if operation == "put":
                    size = rng.choice([0, 1, 100, 64 * KiB, 1 * MiB + rng.randrange(1000), 2 * MiB])
                    data = sh.random_bytes(size, seed=rng.randrange(1 << 30))
                    response = s3.put(bucket, key, data)
                    assert response.status_code == 200, f"{where}: {sh.describe(response)}"
                    mine[key] = (size, sh.md5_hex(data))
                elif operation == "get":
                    response = s3.get(bucket, key)
                    if state is None:
                        assert response.status_code == 404, f"{where}: {sh.describe(response)}"
                    else:
                        assert response.status_code == 200, f"{where}: {sh.describe(response)}"
                        assert (len(response.content), sh.md5_hex(response.content)) == state, where
                elif operation == "head":
                    response = s3.head(bucket, key)
                    if state is None:
                        assert response.status_code == 404, f"{where}: {sh.describe(response)}"
                    else:
                        assert response.status_code == 200, f"{where}: {sh.describe(response)}"
                        assert int(response.headers["Content-Length"]) == state[0], where
                        assert response.headers.get("ETag") == sh.quoted_etag(state[1]), where
                else:
                    response = s3.delete(bucket, key)
                    assert response.status_code == 204, f"{where}: {sh.describe(response)}"
                    mine[key] = None
            with lock:
                model.update(mine)
            return counts

        lister_thread = threading.Thread(target=lister, daemon=True)
        lister_thread.start()
        try:
            counts = run_together(workers, work)
        finally:
            done.set()
            lister_thread.join(timeout=60)
        assert not listing_problems, "\n".join(listing_problems[:5])
        assert listings["walks"] > 0, "the lister never completed a walk"
        total = sum(counts, collections.Counter())
        assert total["put"] and total["get"] and total["delete"], total

        present = {key: state for key, state in model.items() if state is not None}
        assert s3.keys(bucket, prefix="mixed/") == sorted(present, key=lambda key: key.encode())
        for key, (size, md5) in present.items():
            data = s3.get_bytes(bucket, key)
            assert (len(data), sh.md5_hex(data)) == (size, md5), f"final state of {key}"
        for key in universe - set(present):
            assert s3.head(bucket, key).status_code == 404, f"{key} should be deleted"

    def test_database_connection_pool(self, s3, bucket, perf_report):
        """Three bursts of 200 simultaneous metadata-heavy requests (more than any pool of 20–50 connections):
        every one succeeds, none is a 500 or 503, and the gateway still answers afterwards."""
        for index in range(20):
            s3.put_ok(bucket, f"pool/{index:02d}", f"object {index}".encode())
        burst = 200

        def request(index: int, barrier: threading.Barrier) -> tuple[str, int, float]:
            kind = ["head", "get", "put", "list", "head_bucket"][index % 5]
            key = f"pool/{index % 20:02d}"
            barrier.wait()
            started = time.monotonic()
            if kind == "head":
                response = s3.head(bucket, key)
                expected = 200
            elif kind == "get":
                response = s3.get(bucket, key)
                expected = 200
            elif kind == "put":
                response = s3.put(bucket, f"pool/new-{index:03d}", b"burst")
                expected = 200
            elif kind == "list":
                response = s3.list_v2(bucket, prefix="pool/", max_keys="10")
                expected = 200
            else:
                response = s3.head_bucket(bucket)
                expected = 200
            seconds = time.monotonic() - started
            assert response.status_code == expected, f"{kind}: {sh.describe(response)}"
            return kind, response.status_code, seconds

        latencies: list[float] = []
        for round_index in range(3):
            results = run_together(burst, request)
            latencies += [seconds for _, _, seconds in results]
        perf_report(f"connection-pool bursts: 3 x {burst} requests, p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
                    f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms")
        assert len([key for key in s3.keys(bucket, prefix="pool/new-")]) == burst // 5
        assert s3.head_bucket(bucket).status_code == 200

    def test_race_conditions(self, s3, bucket):
        """6 writers put 2 versions each of one two-chunk key while 4 readers read it in a loop: every read is
        exactly one whole version (its MD5, its size, and the ETag it was served with), never a mix of chunks
        or a torn object, and the key ends as one of the versions."""
        writers, rounds, readers = 6, 2, 4
        versions = {}
        for writer in range(writers):
            for round_index in range(rounds):
                number = writer * rounds + round_index
                data = PatternData(sh.CHUNK_BYTES + 1 * MiB + number * 4099, seed=4000 + number)
                versions[number] = data
        md5_of = {number: sh.pattern_md5(data) for number, data in versions.items()}
        by_md5 = {md5: number for number, md5 in md5_of.items()}
        assert len(by_md5) == len(versions)
        done = threading.Event()
        seen = collections.Counter()
        reads = collections.Counter()

        def read_loop() -> None:
            while not done.is_set():
                response = s3.get(bucket, "contended", stream=True)
                if response.status_code == 404:
                    response.close()
                    reads["absent"] += 1
                    continue
                etag = response.headers.get("ETag")
                declared = int(response.headers.get("Content-Length", "-1"))
                assert response.status_code == 200, sh.describe(response)
                back = read_whole(response, f"GET contended (ETag {etag})")
                assert back.md5 in by_md5, \
                    f"read {back.size} bytes with MD5 {back.md5}: not any version written (a mix or a torn read)"
                number = by_md5[back.md5]
                assert back.size == declared == versions[number].size, (back.size, declared)
                assert etag == sh.quoted_etag(back.md5), f"served ETag {etag} for the bytes of version {number}"
                seen[number] += 1
                reads["whole"] += 1

        def write(writer: int, barrier: threading.Barrier) -> list[int]:
            barrier.wait()
            written = []
            for round_index in range(rounds):
                number = writer * rounds + round_index
                body = sh.HashingBody(versions[number])
                response = s3.put(bucket, "contended", body)
                assert response.status_code == 200, sh.describe(response)
                assert response.headers.get("ETag") == sh.quoted_etag(md5_of[number])
                written.append(number)
            return written

        with ThreadPoolExecutor(max_workers=readers) as pool:
            reading = [pool.submit(read_loop) for _ in range(readers)]
            try:
                written = [number for numbers in run_together(writers, write) for number in numbers]
            finally:
                done.set()
            for future in reading:
                future.result()
        assert sorted(written) == sorted(versions)
        assert reads["whole"] > 0, f"the readers never saw a whole version: {dict(reads)}"
        final = sh.read_hashed(s3.get(bucket, "contended", stream=True))
        assert final.md5 in by_md5, "the final object is not one of the versions"
        assert s3.keys(bucket) == ["contended"]

    @pytest.mark.parametrize("replacement", ["overwrite", "delete"])
    def test_read_survives_overwrite(self, s3, bucket, database_url, cluster_node_dirs, replacement):
        """A GET that started before the key was overwritten (or deleted) still returns the whole version it
        started on, even after the gateway's GC had time to collect that version's chunks: a reader must never
        see a body cut off because its chunks were deleted under it."""
        data = PatternData(4 * sh.CHUNK_BYTES + 1, seed=5000)
        body = sh.HashingBody(data)
        assert s3.put(bucket, "read-me", body).status_code == 200
        old_chunks = [chunk_id for chunk_id, _ in sh.object_chunk_ids(database_url, bucket, "read-me")]
        assert len(old_chunks) == 5

        response = s3.get(bucket, "read-me", stream=True, timeout=120)
        assert response.status_code == 200, sh.describe(response)
        pieces = response.iter_content(sh.PIECE_BYTES)
        first = next(pieces)  # the download is under way; the rest waits in buffers and on the nodes
        if replacement == "overwrite":
            s3.put_ok(bucket, "read-me", b"the new version")
        else:
            assert s3.delete(bucket, "read-me").status_code == 204

        def old_files_gone() -> bool:
            return not [path for node in cluster_node_dirs for chunk_id in old_chunks
                        for path in (node / "chunks").glob(f"*/{chunk_id}")]

        # Give GC its chance (bounded: it polls every 0.5 s): a gateway that defers collection while reads may
        # run leaves the files, and the read goes on either way.
        collected = sh.wait_until(old_files_gone, 5.0, interval=0.25)
        digest = hashlib.md5(first)
        size = len(first)
        try:
            for part in pieces:
                digest.update(part)
                size += len(part)
        except requests.RequestException as error:
            pytest.fail(f"the GET begun before the {replacement} broke off after {size} of {data.size} bytes "
                        f"(old chunk files collected meanwhile: {collected}): {error}")
        finally:
            response.close()
        assert (size, digest.hexdigest()) == (data.size, body.md5), \
            f"the GET begun before the {replacement} returned {size} bytes, not the whole old version"
