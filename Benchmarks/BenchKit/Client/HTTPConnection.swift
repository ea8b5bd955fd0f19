import NIOCore
import NIOHTTP1
import NIOPosix

/// One keep-alive HTTP/1.1 connection over SwiftNIO, one request at a time.
///
/// Built for throughput on loopback, where the bench's client shares two cores with the server it
/// measures. The request body is written and the response body consumed on the event loop, inside the
/// channel handler (`HTTPExchangeHandler`): no task hop per buffer. Copies per byte:
/// - upload: none in the client — body slices share the storage of one pre-filled `BodyPattern`, and the
///   kernel copies them into the socket (writev);
/// - download: none in the client — the kernel copies into a pooled receive buffer, the HTTP decoder hands
///   out slices of it, and the handler counts (and optionally checksums) them and drops them.
final class HTTPConnection: Sendable {
    /// How long a request may make no progress at all (neither a byte read nor a byte written) before it
    /// fails: a hung server must not hang the bench.
    static let idleTimeout = TimeAmount.seconds(120)
    /// Bytes queued in the channel beyond which the body pump waits for the socket to drain.
    static let writeBufferHighWaterMark = 4 << 20
    static let writeBufferLowWaterMark = 1 << 20
    /// Receive buffers grow with a fast stream up to this, so a GiB arrives in few reads.
    static let receiveBufferBytesMax = 1 << 20

    let channel: any Channel
    /// `host:port` as the Host header carries it.
    let hostHeader: String

    private init(channel: any Channel, hostHeader: String) {
        self.channel = channel
        self.hostHeader = hostHeader
    }

    static func connect(host: String, port: Int, hostHeader: String,
                        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> HTTPConnection {
        let channel = try await ClientBootstrap(group: group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark,
                           value: .init(low: writeBufferLowWaterMark, high: writeBufferHighWaterMark))
            .channelOption(.recvAllocator,
                           value: AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 64 << 10,
                                                                  maximum: receiveBufferBytesMax))
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // The decoder observes the request heads going out, so it knows a HEAD response
                    // carries no body whatever its Content-Length says.
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandlers([
                        IdleStateHandler(allTimeout: idleTimeout), HTTPExchangeHandler(),
                    ])
                }
            }
            .connect(host: host, port: port)
            .get()
        return HTTPConnection(channel: channel, hostHeader: hostHeader)
    }

    var isActive: Bool { channel.isActive }

    /// Sends one request and returns when its response has ended. The caller starts the next request only
    /// after that; a connection the exchange left unusable (the server answered before the body was sent,
    /// or said `Connection: close`) is closed and `isActive` turns false.
    func execute(_ head: HTTPRequestHead, body: HTTPRequestBody = .none,
                 response: HTTPResponseBodyHandling) async throws -> HTTPExchangeResult {
        let promise = channel.eventLoop.makePromise(of: HTTPExchangeResult.self)
        let exchange = HTTPExchange(head: head, body: body, responseHandling: response, promise: promise,
                                    startedAt: .now())
        channel.writeAndFlush(exchange).whenFailure { _ in
            // The handler fails the exchange itself; this covers a pipeline already torn down.
            // Completing a promise twice is ignored.
            promise.fail(HTTPConnectionError("the connection was closed before the request was sent",
                                             kind: .closedBeforeSending))
        }
        return try await promise.futureResult.get()
    }

    func close() async {
        try? await channel.close()
    }
}

/// What follows the request head.
enum HTTPRequestBody: Sendable {
    case none
    /// The first `bytes` bytes of the pattern's endless repetition.
    case pattern(BodyPattern, bytes: Int)
}

/// What to do with the response body.
enum HTTPResponseBodyHandling: Sendable {
    /// Keep it, up to `bytesMax` (error documents, listings); a longer body fails the request.
    case collect(bytesMax: Int)
    /// Count its bytes and drop them as they arrive, with a CRC32C over them when `checksum`.
    case count(checksum: Bool)
}

struct HTTPExchangeResult: Sendable {
    var head: HTTPResponseHead
    /// The collected body; empty when the body was counted.
    var body: ByteBuffer
    var bodyBytes: Int
    var crc32c: UInt32?
    /// From handing the request to the channel to the response head's arrival: the time to first byte.
    var timeToFirstByte: TimeAmount
}

/// An operating error of the connection itself, before or outside an HTTP response.
struct HTTPConnectionError: Error, CustomStringConvertible {
    enum Kind: Sendable {
        /// Nothing of the request left: it can be sent again on a new connection.
        case closedBeforeSending
        case other
    }

    let description: String
    let kind: Kind

    init(_ description: String, kind: Kind = .other) {
        self.description = description
        self.kind = kind
    }
}

/// The message the connection writes into its pipeline: the handler takes it from there.
struct HTTPExchange: Sendable {
    let head: HTTPRequestHead
    let body: HTTPRequestBody
    let responseHandling: HTTPResponseBodyHandling
    let promise: EventLoopPromise<HTTPExchangeResult>
    let startedAt: NIODeadline
}
