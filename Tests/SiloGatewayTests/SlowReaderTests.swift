import Foundation
import NIOCore
import SiloCore
import SiloTestSupport
import Testing

@testable import SiloGateway
@testable import SiloGatewayTestSupport
@testable import SiloS3

/// Downloads whose clients read slowly or not at all: they hold node streams only while they read, and
/// read-ahead only within the gateway's budget; the bytes they finally get are still the object's.
@Suite struct SlowReaderTests {
    /// A client that stops reading for longer than `nodeStreamHoldMax`, several times: each time the node
    /// stream is given back and resumed from the byte after the last one queued, and the object arrives
    /// whole and in order.
    @Test func aClientThatPausesGetsTheWholeObject() async throws {
        var limits = PipelineCluster.testLimits
        limits.nodeStreamHoldMax = .milliseconds(20)
        limits.prefetchPiecesMax = 1
        limits.downloadChunksAheadMax = 0
        try await PipelineCluster.with(limits: limits) { cluster in
            let data = seededBytes(6 * Int(limits.chunkBytes) + 12345, seed: 31)
            try await cluster.upload(data, key: "paused")
            let object = try #require(try await cluster.object("paused"))
            let downloads = cluster.downloads
            let started = try await downloads.start(object, range: ByteRange(offset: .zero, length: ByteCount(data.count)))
            var received: [UInt8] = []
            var pieces = 0
            try await started.forEach { piece in
                pieces += 1
                if pieces % 3 == 1 { try await Task.sleep(for: .milliseconds(120)) }
                received.append(contentsOf: piece.readableBytesView)
            }
            #expect(received == data)
            #expect(downloads.budget.unheld == downloads.budget.capacity, "the download still holds budget after its end")
        }
    }

    /// Read-ahead past one piece comes from a shared budget: a download whose client never reads holds
    /// at most its budget share, and another download beside it still completes; when the stalled one is
    /// dropped, all of the budget is back.
    @Test func aStalledDownloadDoesNotStopAnother() async throws {
        var limits = PipelineCluster.testLimits
        limits.downloadBufferBytesMax = 128 << 10
        limits.nodeStreamHoldMax = .milliseconds(50)
        try await PipelineCluster.with(limits: limits) { cluster in
            let data = seededBytes(8 * Int(limits.chunkBytes), seed: 32)
            try await cluster.upload(data, key: "shared")
            let object = try #require(try await cluster.object("shared"))
            let downloads = cluster.downloads
            let whole = ByteRange(offset: .zero, length: ByteCount(data.count))
            var stalled: DownloadPipeline.Started? = try await downloads.start(object, range: whole)
            try await Task.sleep(for: .milliseconds(300))
            #expect(downloads.budget.unheld >= -Int(limits.chunkBytes), "a stalled download overdrew more than a piece")

            let other = try await downloads.start(object, range: whole)
            var received: [UInt8] = []
            let finished = await outcome(within: .seconds(20)) {
                var bytes: [UInt8] = []
                try await other.forEach { bytes.append(contentsOf: $0.readableBytesView) }
                return bytes
            }
            received = try #require(try finished?.get(), "a download beside a stalled one did not finish in 20 s")
            #expect(received == data)

            // Dropping the response (its client left before its body was written) stops the fetcher and
            // gives its budget back.
            #expect(stalled != nil)
            stalled = nil
            let budget = downloads.budget
            let returned = await outcome(within: .seconds(5)) {
                while budget.unheld != budget.capacity { try await Task.sleep(for: .milliseconds(10)) }
            }
            #expect(returned != nil, "a dropped download still holds budget 5 s later")
        }
    }
}
