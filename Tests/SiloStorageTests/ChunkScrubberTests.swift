import Foundation
import SiloCore
import SiloIO
import SiloTestSupport
import Testing

@testable import SiloStorage

@Suite struct ChunkScrubberTests {
    /// Fast enough that a pass over a few hundred KiB takes milliseconds: the tests check what the scrubber
    /// finds, not how fast.
    static let testBytesPerSecond: Int64 = 256 << 20

    @Test(arguments: ChunkStoreTests.backends)
    func findsDamageNobodyReadAndLeavesGoodChunksAlone(_ choice: IOBackendChoice) async throws {
        let fixture = try await StoreFixture(choice)
        defer { fixture.close() }
        var good: [String: Data] = [:]
        // Empty, one block, several slabs (slabs are 64 KiB in the fixture, so 300 001 bytes is five ranges).
        for (name, size) in [("empty", 0), ("small", 5000), ("large", 300_001)] {
            good[name] = randomData(size)
            try await fixture.put(name, good[name]!)
        }
        try await fixture.put("bad-block", randomData(300_001))
        try flipByte(in: fixture.store.path(of: try ChunkID("bad-block")), at: 4096 + 200_000)
        try await fixture.put("bad-header", randomData(5000))
        try flipByte(in: fixture.store.path(of: try ChunkID("bad-header")), at: 30)
        // Blocks that match their table, and a header that is valid but whose chunk CRC32C is wrong: only the
        // whole-chunk check finds this one.
        try await fixture.put("bad-crc", randomData(100_000))
        try rewriteHeaderCRC(of: fixture.store, id: try ChunkID("bad-crc"))

        let scrubber = ChunkScrubber(store: fixture.store, bytesPerSecond: Self.testBytesPerSecond,
                                     interval: .zero)
        try await scrubber.scrubPass()

        let status = try await fixture.store.status()
        let expectedBad = try Set(["bad-block", "bad-header", "bad-crc"].map(ChunkID.init))
        #expect(Set(status.quarantinedChunkIDs) == expectedBad && status.quarantinedCount == 3)
        #expect(status.chunkCount == 3 && status.scrubPasses == 1)
        #expect(status.scrubbedBytes >= 305_001, "at least every good chunk's data was verified")
        for (name, data) in good {
            #expect(try await fixture.get(name) == data, "\(name) is still served")
        }
        for id in expectedBad {
            await #expect(throws: ChunkStoreError.notFound(id)) { _ = try await fixture.get(id.value) }
        }

        // A second pass finds nothing new.
        try await scrubber.scrubPass()
        let again = try await fixture.store.status()
        #expect(again.quarantinedCount == 3 && again.chunkCount == 3 && again.scrubPasses == 2)
    }

    @Test func aChunkDeletedUnderTheScrubberIsNotCorruption() async throws {
        let fixture = try await StoreFixture(.threadPool)
        defer { fixture.close() }
        let scrubber = ChunkScrubber(store: fixture.store, bytesPerSecond: Self.testBytesPerSecond,
                                     interval: .zero)
        #expect(try await scrubber.scrub(ChunkID("never-written")) == .gone)
        try await fixture.put("fine", randomData(1000))
        #expect(try await scrubber.scrub(ChunkID("fine")) == .good)
        #expect(try await fixture.store.status().quarantinedCount == 0)
    }

    @Test(.timeLimit(.minutes(1)))
    func stopsWhenCancelledWhileReadingOrWaiting() async throws {
        let fixture = try await StoreFixture(.threadPool)
        defer { fixture.close() }
        try await fixture.put("one", randomData(200_000))

        // So slow that one chunk takes days: cancelled inside its pass, it returns without finishing it.
        let slow = ChunkScrubber(store: fixture.store, bytesPerSecond: 1, interval: .zero)
        let slowRun = Task { await slow.run() }
        try await waitUntil { try await fixture.store.status().scrubbedBytes > 0 }
        slowRun.cancel()
        await slowRun.value
        #expect(try await fixture.store.status().scrubPasses == 0)

        // Cancelled while waiting a day for its next pass.
        let daily = ChunkScrubber(store: fixture.store, bytesPerSecond: Self.testBytesPerSecond,
                                  interval: .seconds(86_400))
        let dailyRun = Task { await daily.run() }
        try await waitUntil { try await fixture.store.status().scrubPasses == 1 }
        dailyRun.cancel()
        await dailyRun.value
        #expect(try await fixture.store.status().scrubPasses == 1)
    }

    @Test func pacerSleepsOnlyWhenAheadOfTheCap() async throws {
        // A cap no test can reach: accounting never sleeps, so this returns at once.
        var pacer = ScrubPacer(bytesPerSecond: .max)
        for _ in 0..<1000 { try await pacer.account(1 << 30) }
        // A cancelled task does not sleep: being ahead of the cap throws at once.
        let task = Task {
            var slow = ScrubPacer(bytesPerSecond: 1)
            try await slow.account(1_000_000)
        }
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
    }
}

/// Polls `condition` until it holds; fails the test after about 30 seconds.
func waitUntil(_ condition: () async throws -> Bool) async throws {
    for _ in 0..<3000 {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("condition not met after 30 s")
    throw CancellationError()
}

/// Rewrites a chunk file's header with a wrong whole-chunk CRC32C (and a valid header checksum).
func rewriteHeaderCRC(of store: ChunkStore, id: ChunkID) throws {
    let path = store.path(of: id)
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    let bytes = [UInt8](try handle.read(upToCount: ChunkFileLayout.headerBytes)!)
    let header = try #require(ChunkFileHeader(decoding: bytes))
    let wrong = ChunkFileHeader(id: header.id, layout: header.layout, crc32c: header.crc32c ^ 0x5a5a)
    try handle.seek(toOffset: 0)
    try handle.write(contentsOf: Data(wrong.encoded()))
    try handle.synchronize()
}
