import SiloS3
import NIOCore

/// A started download as a request body for the upload pipeline: what a server-side copy streams from the
/// source's replicas into the new chunks, never through the client. Empty when `started` is nil.
package struct CopySourceBody: AsyncSequence, Sendable {
    package typealias Element = ByteBuffer
    let started: DownloadPipeline.Started?

    package init(started: DownloadPipeline.Started?) { self.started = started }

    package struct AsyncIterator: AsyncIteratorProtocol {
        var first: ByteBuffer?
        var pieces: BoundedFeed<ByteBuffer>.AsyncIterator?

        package mutating func next() async throws -> ByteBuffer? {
            if let first {
                self.first = nil
                return first
            }
            return try await pieces?.next()
        }
    }

    package func makeAsyncIterator() -> AsyncIterator { AsyncIterator(first: started?.first, pieces: started?.pieces) }
}
