import SiloGateway
import SiloS3
import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes
import SiloCore
import Synchronization

/// Holds every connection to the pace of a client that is actually being served, on the connection's own
/// event loop (no task, no lock per request):
///
/// - **Bodies**: the time the gateway waits for body bytes (a `read` asked for and nothing come) is summed;
///   once it reaches `clientStallWindow` and fewer than `clientBytesPerSecondMin` bytes per second of it
///   arrived, the connection is closed. Time the gateway does not ask for bytes (a slow node, a full
///   queue) does not count against the client. A trickling body (slowloris) ends within the window.
/// - **Responses**: a connection whose send buffer stays full (not writable) for `clientStallWindow` is
///   closed: the client stopped reading. With NIO's 64 KiB / 32 KiB watermarks that is a client reading
///   under about 1 KiB/s, which releases its download's buffers and node streams.
/// - **Connections**: past `connectionsMax` open connections, a new connection's first request gets 503
///   `SlowDown` and the connection is closed.
///
/// Closing is what S3 does to such clients too: the request fails on the client (a reset), nothing is
/// committed (an upload without its whole body never commits).
final class ClientPaceHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// What every connection of one gateway shares.
    final class Shared: Sendable {
        let limits: GatewayLimits
        let logger: Logger
        let metrics: GatewayMetrics?
        let connections = Atomic<Int>(0)

        init(limits: GatewayLimits, logger: Logger, metrics: GatewayMetrics?) {
            self.limits = limits
            self.logger = logger
            self.metrics = metrics
        }
    }

    private let shared: Shared
    private var counted = false
    /// Over the connection limit: the first request head is answered with 503, the rest is dropped.
    private var refused = false
    private var readingBody = false
    private var bodyBytes = 0
    /// Nanoseconds the gateway has waited for body bytes, and since when it waits now.
    private var waitedNanos: Int64 = 0
    private var waitingSince: NIODeadline?
    /// The body's progress at the start of the current judging window.
    private var mark = (waited: Int64(0), bytes: 0)
    private var unwritableSince: NIODeadline?
    private var tick: RepeatedTask?

    init(shared: Shared) { self.shared = shared }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    private func start(context: ChannelHandlerContext) {
        guard tick == nil, !counted, !refused else { return }
        let limit = shared.limits.connectionsMax
        if shared.connections.add(1, ordering: .relaxed).newValue > limit {
            shared.connections.subtract(1, ordering: .relaxed)
            refused = true
        } else {
            counted = true
        }
        let window = shared.limits.clientStallWindow
        let interval = TimeAmount.nanoseconds(max(Int64(1_000_000), Self.nanoseconds(window) / 4))
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let contextBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        tick = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            loopBound.value.judge(context: contextBound.value)
        }
    }

    private func stop() {
        tick?.cancel()
        tick = nil
        if counted {
            counted = false
            shared.connections.subtract(1, ordering: .relaxed)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if refused {
            if case .head = part { refuse(context: context) }
            return
        }
        switch part {
        case .head:
            readingBody = true
            bodyBytes = 0
            waitedNanos = 0
            waitingSince = nil
            mark = (0, 0)
        case .body(let buffer):
            bodyBytes += buffer.readableBytes
            stopWaiting()
        case .end:
            stopWaiting()
            readingBody = false
        }
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        if readingBody, waitingSince == nil { waitingSince = .now() }
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        unwritableSince = context.channel.isWritable ? nil : .now()
        context.fireChannelWritabilityChanged()
    }

    private func stopWaiting() {
        if let since = waitingSince {
            waitedNanos += (NIODeadline.now() - since).nanoseconds
            waitingSince = nil
        }
    }

    /// Every quarter window: closes the connection of a client that holds it without keeping pace.
    private func judge(context: ChannelHandlerContext) {
        let limits = shared.limits
        let window = Self.nanoseconds(limits.clientStallWindow)
        let now = NIODeadline.now()
        if let since = unwritableSince, (now - since).nanoseconds >= window {
            close(context: context, reason: "the client did not read its response for \(limits.clientStallWindow)")
            return
        }
        guard readingBody else { return }
        let waited = waitedNanos + (waitingSince.map { (now - $0).nanoseconds } ?? 0)
        let waitedInWindow = waited - mark.waited
        guard waitedInWindow >= window else { return }
        let needed = Int(Double(limits.clientBytesPerSecondMin) * Double(waitedInWindow) / 1e9)
        if bodyBytes - mark.bytes < needed {
            close(context: context, reason: "the request body sent \(bodyBytes - mark.bytes) bytes in "
                  + "\(waitedInWindow / 1_000_000) ms of waiting; \(limits.clientBytesPerSecondMin) B/s is the least")
            return
        }
        mark = (waited, bodyBytes)
    }

    private func close(context: ChannelHandlerContext, reason: String) {
        shared.metrics?.slowClientsClosed.increment()
        shared.logger.notice("closing a slow client's connection", metadata: [
            "client": "\(context.channel.remoteAddress?.description ?? "?")", "reason": "\(reason)"])
        tick?.cancel()
        tick = nil
        context.close(promise: nil)
    }

    private func refuse(context: ChannelHandlerContext) {
        let error = S3Error(.slowDown, message: "The gateway holds \(shared.limits.connectionsMax) connections; retry later.")
        var body = context.channel.allocator.buffer(capacity: 512)
        body.writeString(error.xml(requestID: RequestID.next()))
        let response = HTTPResponse(status: .init(code: error.httpStatus), headerFields: [
            .contentType: "application/xml", .contentLength: String(body.readableBytes), .connection: "close",
            .retryAfter: "1", .server: "Silo",
        ])
        context.write(wrapOutboundOut(.head(response)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
