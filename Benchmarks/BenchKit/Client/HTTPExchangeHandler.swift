import NIOCore
import NIOHTTP1
import SiloCore

/// Runs one `HTTPExchange` at a time on the event loop: writes the head, pumps the body as far as the
/// channel's writability allows, and consumes the response as it is decoded.
///
/// Back-pressure on upload is the channel's write-buffer water marks: the pump stops when the channel turns
/// unwritable and resumes in `channelWritabilityChanged`, so at most the high-water mark of body is queued
/// whatever the object size. On download nothing is queued at all: every body part is consumed in
/// `channelRead`.
final class HTTPExchangeHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPExchange
    typealias OutboundOut = HTTPClientRequestPart

    /// The most of an error response's body kept when the body was to be counted.
    static let errorBodyBytesMax = 64 << 10

    private var exchange: HTTPExchange?
    private var bodyBytesSent = 0
    private var requestComplete = false
    private var responseHead: HTTPResponseHead?
    private var responseHeadAt = NIODeadline.uptimeNanoseconds(0)
    private var collected = ByteBuffer()
    private var bodyBytesReceived = 0
    private var checksum: CRC32C?
    /// Nil while counting; the cap while collecting. A counted response that turns out to be an error
    /// is collected instead, so its S3 error document can be read.
    private var collectBytesMax: Int?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let next = unwrapOutboundIn(data)
        guard exchange == nil else {
            // The connection's contract: one request at a time. A second one is a bench bug, but failing
            // it beats corrupting the first.
            next.promise.fail(HTTPConnectionError("a request was started while another was in flight"))
            promise?.fail(HTTPConnectionError("busy"))
            return
        }
        guard context.channel.isActive else {
            // A write reaches the handlers of a closed channel too: without this the exchange would wait
            // for a response that can never come.
            next.promise.fail(HTTPConnectionError("the connection was closed before the request was sent",
                                                  kind: .closedBeforeSending))
            promise?.fail(HTTPConnectionError("closed", kind: .closedBeforeSending))
            return
        }
        exchange = next
        bodyBytesSent = 0
        requestComplete = false
        responseHead = nil
        collected = context.channel.allocator.buffer(capacity: 0)
        bodyBytesReceived = 0
        switch next.responseHandling {
        case .collect(let bytesMax):
            collectBytesMax = bytesMax
            checksum = nil
        case .count(let wantsChecksum):
            collectBytesMax = nil
            checksum = wantsChecksum ? CRC32C() : nil
        }

        context.write(wrapOutboundOut(.head(next.head)), promise: nil)
        pumpBody(context: context)
        promise?.succeed()
    }

    /// Writes body slices while the channel is writable; the end of the request once all are written.
    private func pumpBody(context: ChannelHandlerContext) {
        guard let exchange, !requestComplete else { return }
        switch exchange.body {
        case .none:
            break
        case .pattern(let pattern, let bytes):
            while bodyBytesSent < bytes, context.channel.isWritable {
                let slice = pattern.slice(at: bodyBytesSent, bytesMax: bytes - bodyBytesSent)
                bodyBytesSent += slice.readableBytes
                TransferMeter.add(slice.readableBytes)
                context.write(wrapOutboundOut(.body(.byteBuffer(slice))), promise: nil)
            }
            guard bodyBytesSent == bytes else {
                context.flush()
                return
            }
        }
        requestComplete = true
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { pumpBody(context: context) }
        context.fireChannelWritabilityChanged()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let exchange else {
            fail(context: context, HTTPConnectionError("the server sent a response to no request"))
            return
        }
        switch unwrapInboundIn(data) {
        case .head(let head):
            responseHead = head
            responseHeadAt = .now()
            if collectBytesMax == nil, head.status.code >= 300 {
                collectBytesMax = HTTPExchangeHandler.errorBodyBytesMax
                checksum = nil
            }
        case .body(var part):
            bodyBytesReceived += part.readableBytes
            TransferMeter.add(part.readableBytes)
            if let bytesMax = collectBytesMax {
                guard collected.readableBytes + part.readableBytes <= bytesMax else {
                    fail(context: context, HTTPConnectionError(
                        "the response body of \(exchange.head.method) \(exchange.head.uri) is over \(bytesMax) bytes"))
                    return
                }
                collected.writeBuffer(&part)
            } else if checksum != nil {
                part.withUnsafeReadableBytes { checksum!.update($0) }
            }
        case .end:
            complete(context: context)
        }
    }

    private func complete(context: ChannelHandlerContext) {
        guard let exchange, let head = responseHead else {
            fail(context: context, HTTPConnectionError("a response ended before its head"))
            return
        }
        // A server that answers before the whole body arrived (an early error) leaves the request
        // half-sent: the connection cannot carry another one.
        let reusable = requestComplete && head.isKeepAlive
        self.exchange = nil
        // Closed before the caller resumes, so that it sees `isActive` false and reconnects.
        if !reusable { context.close(promise: nil) }
        exchange.promise.succeed(HTTPExchangeResult(
            head: head, body: collected, bodyBytes: bodyBytesReceived, crc32c: checksum?.value,
            timeToFirstByte: responseHeadAt - exchange.startedAt))
        collected = ByteBuffer()
    }

    private func fail(context: ChannelHandlerContext, _ error: any Error) {
        if let exchange {
            self.exchange = nil
            exchange.promise.fail(error)
        }
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .all, exchange != nil {
            fail(context: context, HTTPConnectionError(
                "no progress for \(HTTPConnection.idleTimeout.nanoseconds / 1_000_000_000) s"))
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context: context, error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let exchange {
            self.exchange = nil
            exchange.promise.fail(HTTPConnectionError(
                "the server closed the connection during \(exchange.head.method) \(exchange.head.uri) "
                + "(\(bodyBytesSent) body bytes sent, \(bodyBytesReceived) received)"))
        }
        context.fireChannelInactive()
    }
}

/// The bytes the bench uploads over HTTP: `ChunkPayload`'s pseudo-random block, copied once into a
/// `ByteBuffer` so every body slice shares its storage (no copy to produce a slice).
struct BodyPattern: Sendable {
    /// One body write: large enough that a GiB is a thousand writes, small enough to interleave with
    /// the water marks.
    static let sliceBytes = 1 << 20

    let block: ByteBuffer
    let payload: ChunkPayload

    init(_ payload: ChunkPayload = ChunkPayload()) {
        self.payload = payload
        block = ByteBuffer(bytes: payload.block)
    }

    /// The slice at body offset `offset`, at most `bytesMax` long; never crosses the end of the block.
    func slice(at offset: Int, bytesMax: Int) -> ByteBuffer {
        let start = offset % block.readableBytes
        let count = min(Self.sliceBytes, bytesMax, block.readableBytes - start)
        return block.getSlice(at: block.readerIndex + start, length: count)!
    }

    /// CRC32C of the first `bytes` bytes of the body, as a download counts it.
    func checksum(bytes: Int) -> UInt32 { payload.checksum(bytes: bytes) }
}
