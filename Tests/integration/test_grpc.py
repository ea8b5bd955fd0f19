"""gRPC tests of the storage node (silo.storage.v1.ChunkStore).

The ten tests of the seed suite keep their names (TestGRPCBasic, TestGRPCAdvanced); TestGRPCIntegrity adds
the node's refusals (size/CRC mismatch, write-once, capacity), corruption detection and the thread-pool
backend. Every chunk id is unique per run, so reruns against a long-lived cluster (STORAGE_NODES) never
collide.
"""

from __future__ import annotations

import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

import grpc_helpers as gh
from grpc_helpers import GiB, KiB, MiB, PatternData

HEADER_BYTES = 4 * KiB  # the chunk file's header; data starts right after it (FORMAT.md)
IO_BACKENDS = {"io_uring", "threadpool"}


# --------------------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------------------

def chunk_files(data_dir: Path, chunk_id: str) -> list[Path]:
    """Committed files of `chunk_id`: DATA_DIR/chunks/<2 hex>/<chunk_id>."""
    return sorted((data_dir / "chunks").glob(f"*/{chunk_id}"))


def tmp_entries(data_dir: Path) -> list[Path]:
    tmp = data_dir / "tmp"
    return sorted(tmp.iterdir()) if tmp.is_dir() else []


def wait_tmp_empty(data_dir: Path, seconds: float = 5.0) -> list[Path]:
    """The leftovers in tmp/ once the node has had `seconds` to clean up (empty list when clean)."""
    deadline = time.monotonic() + seconds
    while True:
        left = tmp_entries(data_dir)
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.1)


def assert_code(expected: grpc.StatusCode, call, *args, **kwargs) -> None:
    try:
        result = call(*args, **kwargs)
    except grpc.RpcError as error:
        assert error.code() == expected, f"expected {expected.name}, got {gh.describe_error(error)}"
        return
    pytest.fail(f"expected {expected.name}, but the call succeeded: {result!r}")


def assert_not_found(stub, chunk_id: str) -> None:
    assert_code(grpc.StatusCode.NOT_FOUND, gh.get_chunk, stub, chunk_id)


def ceil_to(value: int, unit: int) -> int:
    return (value + unit - 1) // unit * unit


def mb_per_s(size: int, seconds: float) -> float:
    return size / 1e6 / max(seconds, 1e-9)


# --------------------------------------------------------------------------------------------------------------
# seed suite: basic
# --------------------------------------------------------------------------------------------------------------

class TestGRPCBasic:
    def test_put_chunk_success(self, node_stub):
        """A 1 GiB chunk streamed in 1 MiB messages: the response reports its size and CRC32C, and reading it
        back yields the same size and CRC32C."""
        data = PatternData(1 * GiB, seed=101)
        chunk_id = gh.unique_id("put")
        try:
            result = gh.put_chunk(node_stub, chunk_id, data)  # no CRC in the header: the node computes it
            assert result.sent_bytes == data.size
            assert result.chunk_id == chunk_id
            assert result.size == data.size
            assert result.crc32c == data.crc == result.sent_crc32c

            back = gh.get_chunk_stream(node_stub, chunk_id)
            assert back.header.chunk_size == data.size
            assert back.header.chunk_crc32c == data.crc
            assert back.size == data.size
            assert back.crc32c == data.crc
        finally:
            gh.delete_quietly(node_stub, chunk_id)

    @pytest.mark.parametrize(
        "chunk_id",
        ["../x", "a/b", "", "a" * 129, "é", "a b", "a.b", "x\x00y", "-" * 200],
        ids=["dotdot", "slash", "empty", "129-chars", "non-ascii", "space", "dot", "nul", "200-dashes"],
    )
    def test_put_chunk_invalid_chunk_id(self, node_stub, storage_nodes, data_dir, chunk_id):
        """Anything but 1–128 characters of [A-Za-z0-9_-] is INVALID_ARGUMENT, on every RPC that takes an id."""
        assert_code(grpc.StatusCode.INVALID_ARGUMENT, gh.put_chunk, node_stub, chunk_id, b"payload")
        assert_code(grpc.StatusCode.INVALID_ARGUMENT, gh.get_chunk, node_stub, chunk_id)
        assert_code(grpc.StatusCode.INVALID_ARGUMENT, gh.delete_chunk, node_stub, chunk_id)
        root = data_dir[storage_nodes[0]]
        if root is not None:
            # No file escaped under a traversal name ("../x" would land in chunks/, tmp/ or beside the data dir).
            assert list(root.parent.rglob("x")) == []
            assert wait_tmp_empty(root) == []

    def test_put_chunk_longest_valid_chunk_id(self, node_stub):
        """128 characters using every allowed character class are accepted and round-trip."""
        prefix = gh.unique_id("AZaz09_-")
        chunk_id = prefix + "a" * (128 - len(prefix))
        assert len(chunk_id) == 128
        payload = PatternData(70 * KiB + 3, seed=7).all_bytes()
        try:
            result = gh.put_chunk(node_stub, chunk_id, payload, crc=gh.crc32c(payload))
            assert (result.chunk_id, result.size) == (chunk_id, len(payload))
            header, back = gh.get_chunk(node_stub, chunk_id)
            assert back == payload
            assert header.chunk_size == len(payload)
        finally:
            gh.delete_quietly(node_stub, chunk_id)

    def test_get_chunk_success(self, node_stub):
        """Streaming download: the first message carries the whole chunk's size and CRC32C, data comes in order
        in messages of at most 1 MiB, and ranged reads (unaligned, crossing 4 KiB and 256 KiB boundaries)
        return exactly the source bytes."""
        size = 3 * MiB + 12_345
        source = PatternData(size, seed=202)
        payload = source.all_bytes()
        chunk_id = gh.unique_id("get")
        gh.put_chunk(node_stub, chunk_id, payload, crc=source.crc)
        try:
            request = gh.pb.GetChunkRequest(chunk_id=chunk_id)
            messages = list(node_stub.GetChunk(request, timeout=gh.SHORT_TIMEOUT))
            assert messages, "GetChunk returned no message"
            assert messages[0].chunk_size == size
            assert messages[0].chunk_crc32c == source.crc
            assert all(len(m.data) <= gh.GET_MESSAGE_BYTES_MAX for m in messages), \
                f"messages larger than 1 MiB: {[len(m.data) for m in messages]}"
            assert b"".join(m.data for m in messages) == payload

            ranges = [
                (0, 1),
                (1, 4095),                          # up to the first 4 KiB boundary
                (4095, 2),                          # across it
                (3 * 4096 - 7, 4096 + 14),          # across two 4 KiB boundaries, unaligned both ends
                (256 * KiB - 1, 2),                 # across the first 256 KiB (checksum block) boundary
                (256 * KiB - 100, 256 * KiB + 200), # across two 256 KiB boundaries
                (512 * KiB, 256 * KiB),             # exactly one aligned checksum block
                (1 * MiB - 3, 1 * MiB + 6),         # across 1 MiB message boundaries
                (12_345, 0),                        # length 0: to the end
                (size - 10, 10),                    # the last bytes
                (size - 1, 0),                      # the last byte, "to the end"
                (5, size - 6),                      # all but the first 5 and the last byte
                (0, size),                          # the whole chunk, explicitly
            ]
            for offset, length in ranges:
                header, got = gh.get_chunk(node_stub, chunk_id, offset, length, timeout=gh.SHORT_TIMEOUT)
                end = size if length == 0 else offset + length
                assert header.chunk_size == size, f"range {offset}+{length}: chunk_size {header.chunk_size}"
                assert header.chunk_crc32c == source.crc, f"range {offset}+{length}: wrong chunk_crc32c"
                assert len(got) == end - offset, f"range {offset}+{length}: got {len(got)} bytes"
                assert got == payload[offset:end], f"range {offset}+{length}: bytes differ"

            for offset in (size + 1, size + 1 * MiB):
                assert_code(grpc.StatusCode.OUT_OF_RANGE, gh.get_chunk, node_stub, chunk_id, offset, 0)
        finally:
            gh.delete_quietly(node_stub, chunk_id)

    def test_get_chunk_not_found(self, node_stub):
        chunk_id = gh.unique_id("missing")
        assert_code(grpc.StatusCode.NOT_FOUND, gh.get_chunk, node_stub, chunk_id)
        assert_code(grpc.StatusCode.NOT_FOUND, gh.get_chunk, node_stub, chunk_id, 10, 100)

    def test_delete_chunk_success(self, node_stub, storage_nodes, data_dir):
        payload = PatternData(1 * MiB + 17, seed=303).all_bytes()
        chunk_id = gh.unique_id("del")
        gh.put_chunk(node_stub, chunk_id, payload)
        root = data_dir[storage_nodes[0]]
        if root is not None:
            files = chunk_files(root, chunk_id)
            assert len(files) == 1, f"expected one committed file for {chunk_id}, found {files}"
            assert re.fullmatch(r"[0-9a-f]{2}", files[0].parent.name), files[0]

        assert gh.delete_chunk(node_stub, chunk_id) is True
        assert_not_found(node_stub, chunk_id)
        assert gh.delete_chunk(node_stub, chunk_id) is False
        if root is not None:
            assert chunk_files(root, chunk_id) == []


# --------------------------------------------------------------------------------------------------------------
# seed suite: advanced
# --------------------------------------------------------------------------------------------------------------

class TestGRPCAdvanced:
    def test_health_check(self, storage_nodes, node_stubs, data_dir, node_processes):
        """Every node answers; disk figures match statvfs of its data directory; chunk_count and bytes_stored
        follow a put and a delete."""
        for index, (address, stub) in enumerate(zip(storage_nodes, node_stubs)):
            h = gh.health(stub)
            assert h.node_id, f"{address}: empty node_id"
            if node_processes[address] is not None:
                assert h.node_id == node_processes[address].node_id
                assert h.capacity_bytes == 0, f"{address}: capacity set although not configured"
            assert h.io_backend in IO_BACKENDS, f"{address}: io_backend {h.io_backend!r}"
            assert 0 < h.disk_total_bytes
            assert 0 < h.disk_free_bytes <= h.disk_total_bytes
            root = data_dir[address]
            if root is not None:
                st = os.statvfs(root)
                total = st.f_blocks * st.f_frsize
                tolerance = max(total // 100, 256 * MiB)
                assert abs(h.disk_total_bytes - total) <= tolerance, \
                    f"{address}: disk_total_bytes {h.disk_total_bytes} vs statvfs {total}"
                candidates = (st.f_bavail * st.f_frsize, st.f_bfree * st.f_frsize)
                assert min(abs(h.disk_free_bytes - free) for free in candidates) <= tolerance, \
                    f"{address}: disk_free_bytes {h.disk_free_bytes} vs statvfs avail/free {candidates}"

        stub = node_stubs[0]
        address = storage_nodes[0]
        exact = node_processes[address] is not None  # nobody else writes to a node the suite owns
        before = gh.health(stub)
        size = 1 * MiB + 1
        chunk_id = gh.unique_id("health")
        gh.put_chunk(stub, chunk_id, PatternData(size, seed=404))
        try:
            after = gh.health(stub)
            grown = after.bytes_stored - before.bytes_stored
            if exact:
                assert after.chunk_count == before.chunk_count + 1
                assert grown >= HEADER_BYTES + ceil_to(size, 4 * KiB), f"bytes_stored grew by {grown}"
                assert grown % (4 * KiB) == 0, f"bytes_stored grew by {grown}: not whole 4 KiB blocks"
                root = data_dir[address]
                if root is not None:
                    (file,) = chunk_files(root, chunk_id)
                    assert grown == file.stat().st_size, \
                        f"bytes_stored grew by {grown}, the chunk file has {file.stat().st_size} bytes"
            else:
                assert after.chunk_count >= before.chunk_count + 1
                assert grown >= size
        finally:
            assert gh.delete_chunk(stub, chunk_id) is True
        if exact:
            final = gh.health(stub)
            assert final.chunk_count == before.chunk_count
            assert final.bytes_stored == before.bytes_stored

    @pytest.mark.slow
    def test_streaming_performance(self, node_stub, perf_report):
        """1 GiB up and down through one stream; reports MB/s (no threshold: bench owns the targets)."""
        data = PatternData(1 * GiB, seed=505)
        expected_crc = data.crc  # computed before the clock starts
        chunk_id = gh.unique_id("perf")
        try:
            put = gh.put_chunk(node_stub, chunk_id, data, crc=expected_crc)
            assert (put.size, put.crc32c) == (data.size, expected_crc)
            get = gh.get_chunk_stream(node_stub, chunk_id)
            assert (get.size, get.crc32c) == (data.size, expected_crc)
            assert put.seconds > 0 and get.seconds > 0
            perf_report(f"gRPC PutChunk 1 GiB, one stream: {mb_per_s(data.size, put.seconds):8.1f} MB/s "
                        f"({put.seconds:.2f} s, Python client)")
            perf_report(f"gRPC GetChunk 1 GiB, one stream: {mb_per_s(data.size, get.seconds):8.1f} MB/s "
                        f"({get.seconds:.2f} s, {get.messages} messages, Python client)")
        finally:
            gh.delete_quietly(node_stub, chunk_id)

    @pytest.mark.concurrent
    def test_concurrent_streams(self, node_stub):
        """16 parallel puts then gets of different ids, all verified; then 8 writers race for one id with
        different contents: exactly one wins, the others get ALREADY_EXISTS, and the chunk is the winner's."""
        streams = 16
        sources = {gh.unique_id(f"conc{i}"): PatternData(4 * MiB + i * 4099 + 1, seed=600 + i)
                   for i in range(streams)}
        try:
            def put(item):
                chunk_id, source = item
                return gh.put_chunk(node_stub, chunk_id, source, crc=source.crc)

            def get(item):
                chunk_id, source = item
                return gh.get_chunk_stream(node_stub, chunk_id, expected=source)

            with ThreadPoolExecutor(max_workers=streams) as pool:
                puts = list(pool.map(put, sources.items()))
            for (chunk_id, source), result in zip(sources.items(), puts):
                assert (result.chunk_id, result.size, result.crc32c) == (chunk_id, source.size, source.crc)

            with ThreadPoolExecutor(max_workers=streams) as pool:
                gets = list(pool.map(get, sources.items()))
            for (chunk_id, source), result in zip(sources.items(), gets):
                assert result.size == source.size, chunk_id
                assert result.crc32c == source.crc, chunk_id
                assert result.first_mismatch is None, f"{chunk_id}: bytes differ at {result.first_mismatch}"

            # Mixed: puts of new ids while the earlier ones are being read.
            more = {gh.unique_id(f"mix{i}"): PatternData(2 * MiB + i, seed=700 + i) for i in range(streams // 2)}
            sources.update(more)
            with ThreadPoolExecutor(max_workers=streams) as pool:
                put_futures = [pool.submit(put, item) for item in more.items()]
                get_futures = [pool.submit(get, item) for item in list(sources.items())[:streams]]
                for future in put_futures:
                    future.result()
                for future in get_futures:
                    assert future.result().first_mismatch is None
        finally:
            for chunk_id in sources:
                gh.delete_quietly(node_stub, chunk_id)

        # The race: same id, different contents (and sizes), released together.
        writers = 8
        race_id = gh.unique_id("race")
        contenders = [PatternData(3 * MiB + 1000 * w, seed=800 + w) for w in range(writers)]
        barrier = threading.Barrier(writers)

        def contend(index: int):
            source = contenders[index]
            barrier.wait()
            try:
                gh.put_chunk(node_stub, race_id, source, crc=source.crc)
                return index, grpc.StatusCode.OK
            except grpc.RpcError as error:
                return index, error.code()

        try:
            with ThreadPoolExecutor(max_workers=writers) as pool:
                outcomes = list(pool.map(contend, range(writers)))
            winners = [index for index, code in outcomes if code == grpc.StatusCode.OK]
            losers = [code for _, code in outcomes if code != grpc.StatusCode.OK]
            assert len(winners) == 1, f"expected exactly one winner, outcomes: {outcomes}"
            assert all(code == grpc.StatusCode.ALREADY_EXISTS for code in losers), f"outcomes: {outcomes}"
            winner = contenders[winners[0]]
            back = gh.get_chunk_stream(node_stub, race_id, expected=winner)
            assert back.header.chunk_size == winner.size
            assert back.header.chunk_crc32c == winner.crc
            assert (back.size, back.crc32c) == (winner.size, winner.crc)
            assert back.first_mismatch is None, f"torn chunk: differs from the winner's at {back.first_mismatch}"
        finally:
            gh.delete_quietly(node_stub, race_id)

    def test_chunk_distribution(self, s3, s3_cluster, cluster_node_dirs):
        """A large object uploaded through the gateway spreads its chunks over every node: with N nodes and R
        replicas, each chunk has R files on R distinct nodes, every node holds some, and none holds more than
        twice its fair share (chunks × R / N)."""
        import s3_helpers as sh

        node_count = len(cluster_node_dirs)
        replicas = s3_cluster.replicas
        assert node_count >= replicas, f"{node_count} node directories for R = {replicas}"
        chunk_count = node_count * replicas * 2  # 24 chunks of 16 MiB on six nodes with R = 2: 384 MiB
        size = chunk_count * sh.CHUNK_BYTES - 12_345  # the last chunk is a partial one

        def files_by_node() -> dict[Path, set[str]]:
            return {node: {path.name for path in (node / "chunks").glob("*/*")} for node in cluster_node_dirs}

        before = files_by_node()
        bucket = sh.unique_bucket("dist")
        assert s3.create_bucket(bucket).status_code == 200
        try:
            body = sh.HashingBody(PatternData(size, seed=1212))
            response = s3.put(bucket, "spread.bin", body, timeout=sh.LONG_TIMEOUT)
            assert response.status_code == 200, sh.describe(response)
            after = files_by_node()
            if s3_cluster.database_url is not None:
                rows = sh.object_chunk_ids(s3_cluster.database_url, bucket, "spread.bin")
                ids = {chunk_id for chunk_id, _ in rows}
                assert len(rows) == chunk_count, f"{len(rows)} chunks for {size} bytes"
                for chunk_id, replica_nodes in rows:
                    assert len(set(replica_nodes)) == replicas, f"chunk {chunk_id}: replicas {replica_nodes}"
            else:  # no metadata access: the files this upload added (nothing else runs meanwhile)
                ids = set().union(*(after[node] - before[node] for node in cluster_node_dirs))
                assert len(ids) == chunk_count, f"{len(ids)} new chunk files' ids for {chunk_count} chunks"
            per_chunk = {chunk_id: [node for node in cluster_node_dirs if chunk_id in after[node]] for chunk_id in ids}
            wrong = {chunk_id: [node.name for node in nodes] for chunk_id, nodes in per_chunk.items()
                     if len(nodes) != replicas}
            assert not wrong, f"chunks without exactly {replicas} replica files: {wrong}"
            counts = {node.name: len(after[node] & ids) for node in cluster_node_dirs}
            fair = chunk_count * replicas / node_count
            assert all(counts.values()), f"a node holds none of the object's chunks: {counts}"
            assert max(counts.values()) <= 2 * fair, f"a node holds more than twice its fair share {fair}: {counts}"
        finally:
            s3.remove_bucket(bucket)

    @pytest.mark.slow
    @pytest.mark.large_file
    def test_large_chunk_handling(self, node_stub, storage_nodes, node_processes, perf_report):
        """A 1.67 GiB chunk goes in and comes back whole (size and CRC32C), streamed both ways, and the node's
        memory stays far below the chunk's size."""
        size = int(1.67 * 2**30)
        data = PatternData(size, seed=909)
        chunk_id = gh.unique_id("large")
        try:
            put = gh.put_chunk(node_stub, chunk_id, data, crc=data.crc)
            assert (put.chunk_id, put.size, put.crc32c) == (chunk_id, size, data.crc)
            back = gh.get_chunk_stream(node_stub, chunk_id)
            assert back.header.chunk_size == size
            assert back.header.chunk_crc32c == data.crc
            assert (back.size, back.crc32c) == (size, data.crc)
            assert back.largest_message <= gh.GET_MESSAGE_BYTES_MAX

            # A tail range across the last 4 MiB block boundary comes back right too.
            offset = size - 5 * MiB - 3
            tail = gh.get_chunk_stream(node_stub, chunk_id, offset, 0, expected=data)
            assert tail.size == size - offset
            assert tail.first_mismatch is None

            node = node_processes[storage_nodes[0]]
            if node is not None:
                peak = node.peak_rss_bytes()
                if peak is not None:
                    perf_report(f"node peak RSS after a {size / GiB:.2f} GiB chunk: {peak / MiB:.0f} MiB")
                    assert peak < 256 * MiB, f"node peak RSS {peak / MiB:.0f} MiB: the chunk was not streamed"
        finally:
            gh.delete_quietly(node_stub, chunk_id)


# --------------------------------------------------------------------------------------------------------------
# refusals, integrity, backends
# --------------------------------------------------------------------------------------------------------------

class TestGRPCIntegrity:
    @pytest.mark.parametrize("delta", [+1000, -1000, +1, -1], ids=["declared+1000", "declared-1000",
                                                                   "declared+1", "declared-1"])
    def test_put_chunk_size_mismatch(self, node_stub, storage_nodes, data_dir, delta):
        """The header's size differs from what arrives: INVALID_ARGUMENT and nothing is kept."""
        payload = PatternData(1 * MiB + 100, seed=1000).all_bytes()
        chunk_id = gh.unique_id("size")
        assert_code(grpc.StatusCode.INVALID_ARGUMENT,
                    gh.put_chunk, node_stub, chunk_id, payload, len(payload) + delta)
        assert_not_found(node_stub, chunk_id)
        root = data_dir[storage_nodes[0]]
        if root is not None:
            assert chunk_files(root, chunk_id) == []
            assert wait_tmp_empty(root) == []
        # Nothing of it stayed: the same id takes a correct upload.
        result = gh.put_chunk(node_stub, chunk_id, payload)
        assert result.size == len(payload)
        assert gh.delete_chunk(node_stub, chunk_id) is True

    def test_put_chunk_crc_mismatch(self, node_stub, storage_nodes, data_dir):
        payload = PatternData(2 * MiB + 5, seed=1100).all_bytes()
        good = gh.crc32c(payload)
        chunk_id = gh.unique_id("crc")
        assert_code(grpc.StatusCode.INVALID_ARGUMENT, gh.put_chunk, node_stub, chunk_id, payload, crc=good ^ 1)
        assert_not_found(node_stub, chunk_id)
        root = data_dir[storage_nodes[0]]
        if root is not None:
            assert chunk_files(root, chunk_id) == []
            assert wait_tmp_empty(root) == []
        result = gh.put_chunk(node_stub, chunk_id, payload, crc=good)
        assert result.crc32c == good
        assert gh.delete_chunk(node_stub, chunk_id) is True

    def test_put_chunk_write_once(self, node_stub):
        """A committed chunk cannot be overwritten, with different or identical contents."""
        first = PatternData(512 * KiB + 9, seed=1200).all_bytes()
        second = PatternData(512 * KiB + 9, seed=1201).all_bytes()
        chunk_id = gh.unique_id("once")
        gh.put_chunk(node_stub, chunk_id, first)
        try:
            assert_code(grpc.StatusCode.ALREADY_EXISTS, gh.put_chunk, node_stub, chunk_id, second)
            assert_code(grpc.StatusCode.ALREADY_EXISTS, gh.put_chunk, node_stub, chunk_id, first)
            header, back = gh.get_chunk(node_stub, chunk_id)
            assert back == first
            assert header.chunk_crc32c == gh.crc32c(first)
        finally:
            gh.delete_quietly(node_stub, chunk_id)

    def test_put_chunk_empty(self, node_stub):
        """A zero-byte chunk is a chunk: it round-trips with size 0 and CRC32C 0."""
        chunk_id = gh.unique_id("empty")
        result = gh.put_chunk(node_stub, chunk_id, b"", crc=0)
        try:
            assert (result.size, result.crc32c) == (0, 0)
            header, back = gh.get_chunk(node_stub, chunk_id)
            assert (header.chunk_size, header.chunk_crc32c, back) == (0, 0, b"")
        finally:
            gh.delete_quietly(node_stub, chunk_id)

    def test_put_chunk_exceeds_capacity(self, node_launcher):
        """A node limited to 8 MiB refuses a 16 MiB chunk with RESOURCE_EXHAUSTED and keeps nothing; a
        small chunk still fits."""
        node = node_launcher(19060, "node-capacity", "--capacity-bytes", str(8 * MiB))
        channel = gh.new_channel(node.address)
        try:
            stub = gh.new_stub(channel)
            h = gh.health(stub)
            assert h.capacity_bytes == 8 * MiB
            assert h.chunk_count == 0

            big = PatternData(16 * MiB, seed=1300)
            chunk_id = gh.unique_id("big")
            assert_code(grpc.StatusCode.RESOURCE_EXHAUSTED, gh.put_chunk, stub, chunk_id, big, crc=big.crc)
            assert_not_found(stub, chunk_id)
            h = gh.health(stub)
            assert h.chunk_count == 0
            assert h.bytes_stored == 0
            assert chunk_files(node.data_dir, chunk_id) == []
            assert wait_tmp_empty(node.data_dir) == []

            small = PatternData(1 * MiB, seed=1301)
            small_id = gh.unique_id("small")
            result = gh.put_chunk(stub, small_id, small, crc=small.crc)
            assert result.size == small.size
            assert gh.health(stub).chunk_count == 1
        finally:
            channel.close()

    def test_get_chunk_corrupted_is_data_loss(self, node_stub, node_data_dir):
        """A byte flipped in the stored data is detected: GetChunk fails with DATA_LOSS, the node quarantines the
        chunk (never served again: NOT_FOUND, whole or ranged) and reports it in HealthCheck until deleted."""
        size = 2 * MiB + 777
        source = PatternData(size, seed=1400)
        chunk_id = gh.unique_id("rot")
        gh.put_chunk(node_stub, chunk_id, source, crc=source.crc)
        try:
            (path,) = chunk_files(node_data_dir, chunk_id)
            assert path.stat().st_size >= HEADER_BYTES + size
            position = HEADER_BYTES + size // 2
            with open(path, "r+b") as file:
                file.seek(position)
                original = file.read(1)
                file.seek(position)
                file.write(bytes([original[0] ^ 0xFF]))
                file.flush()
                os.fsync(file.fileno())

            assert_code(grpc.StatusCode.DATA_LOSS, gh.get_chunk_stream, node_stub, chunk_id)
            assert chunk_files(node_data_dir, chunk_id) == []
            assert chunk_id in gh.health(node_stub).quarantined_chunk_ids
            assert_code(grpc.StatusCode.NOT_FOUND, gh.get_chunk, node_stub, chunk_id, 0, 20)
        finally:
            assert gh.delete_chunk(node_stub, chunk_id) is True
        assert chunk_id not in gh.health(node_stub).quarantined_chunk_ids

    def test_refused_io_uring_falls_back(self, node_launcher):
        """Where the kernel refuses io_uring_setup, a node on --io-backend auto falls back to the thread pool,
        says so loudly in its log and in HealthCheck, and still serves. The refusal is real: the kernel's
        io_uring_disabled switch (root only), restored afterwards; rings that already exist are unaffected."""
        switch = Path("/proc/sys/kernel/io_uring_disabled")
        if os.geteuid() != 0 or not switch.exists():
            pytest.skip("needs root and a kernel with kernel.io_uring_disabled (6.6+)")
        before = switch.read_text().strip()
        try:
            switch.write_text("2\n")
            node = node_launcher(19062, "node-fallback", "--io-backend", "auto")
        finally:
            switch.write_text(before + "\n")
        log = node.log_path.read_text(errors="replace")
        assert "FALLING BACK" in log, log[-2000:]
        channel = gh.new_channel(node.address)
        try:
            stub = gh.new_stub(channel)
            assert gh.health(stub).io_backend == "threadpool"
            source = PatternData(3 * MiB + 1, seed=1600)
            chunk_id = gh.unique_id("fallback")
            assert gh.put_chunk(stub, chunk_id, source.all_bytes(), crc=source.crc).crc32c == source.crc
            header, back = gh.get_chunk(stub, chunk_id)
            assert back == source.all_bytes() and header.chunk_crc32c == source.crc
        finally:
            channel.close()

    def test_thread_pool_backend(self, node_launcher):
        """A node forced onto the pread/pwrite backend says so and round-trips a chunk, ranges included."""
        node = node_launcher(19061, "node-threadpool", "--io-backend", "thread-pool")
        channel = gh.new_channel(node.address)
        try:
            stub = gh.new_stub(channel)
            h = gh.health(stub)
            assert h.io_backend == "threadpool"
            assert h.registered_buffers is False

            source = PatternData(5 * MiB + 3, seed=1500)
            payload = source.all_bytes()
            chunk_id = gh.unique_id("tp")
            result = gh.put_chunk(stub, chunk_id, payload, crc=source.crc)
            assert (result.size, result.crc32c) == (source.size, source.crc)
            header, back = gh.get_chunk(stub, chunk_id)
            assert back == payload
            assert (header.chunk_size, header.chunk_crc32c) == (source.size, source.crc)
            _, part = gh.get_chunk(stub, chunk_id, 256 * KiB - 5, 300 * KiB)
            assert part == payload[256 * KiB - 5:256 * KiB - 5 + 300 * KiB]
            assert gh.health(stub).chunk_count == 1
            assert gh.delete_chunk(stub, chunk_id) is True
            assert_not_found(stub, chunk_id)
        finally:
            channel.close()
