import Logging
import NIOCore
import NIOHTTP2

/// Keeps a late WINDOW_UPDATE from failing a call or closing the whole connection, and says why a
/// connection ended.
///
/// When a connection cannot write (its socket buffer full, as under load), NIOHTTP2 queues the
/// WINDOW_UPDATE a stream emits after its application read data. If the peer's END_STREAM arrives before
/// the queue drains, the queued update is refused (`BadStreamStateTransition` from a half-closed-remote
/// state; `NoSuchStream` once the stream is gone). NIOHTTP2 reports that to the stream, which makes
/// grpc-swift-nio-transport (2.9.2) cancel the call — a PutChunk whose bytes had all arrived — and then
/// fires the bare error down the connection's pipeline, where grpc-swift-nio-transport closes the
/// connection on anything not wrapped as `NIOHTTP2Errors.StreamError`, failing every other call on it
/// with "Stream unexpectedly closed". Under load this brought down node connections and the uploads on
/// them (seen in CI as 503s in test_race_conditions). The update was not needed: the peer had finished
/// sending.
///
/// `ConnectionDiagnostics` sits right behind NIOHTTP2's handler: it drops such errors there and logs the
/// rest, with the GOAWAY frames either side sends. `StaleWindowUpdateFilter` sits first in every stream's
/// pipeline and drops them there, so the call goes on.
final class ConnectionDiagnostics: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame
    typealias OutboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    private let logger: Logger
    private let role: String
    private var peer = "?"

    init(role: String, logger: Logger) {
        self.role = role
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        peer = context.channel.remoteAddress.map { "\($0)" } ?? "?"
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if case .goAway(let lastStreamID, let errorCode, _) = frame.payload, errorCode != .noError {
            logger.warning("peer closes the HTTP/2 connection", metadata: [
                "role": "\(role)", "peer": "\(peer)", "code": "\(errorCode)", "last_stream": "\(lastStreamID)",
            ])
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = unwrapOutboundIn(data)
        if case .goAway(_, let errorCode, _) = frame.payload, errorCode != .noError {
            logger.warning("closing the HTTP/2 connection", metadata: [
                "role": "\(role)", "peer": "\(peer)", "code": "\(errorCode)",
            ])
        }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if Self.isStreamScoped(error) {
            logger.info("HTTP/2 stream error; the connection stays", metadata: [
                "role": "\(role)", "peer": "\(peer)", "error": "\(String(reflecting: error))",
            ])
            return
        }
        if error is IOError {
            // The peer went away (a stopped process, a reset): nothing HTTP/2 did wrong.
            logger.info("HTTP/2 connection lost", metadata: ["role": "\(role)", "peer": "\(peer)", "error": "\(error)"])
        } else if error is NIOHTTP2Errors.StreamError {
            logger.debug("HTTP/2 stream error", metadata: ["role": "\(role)", "peer": "\(peer)", "error": "\(error)"])
        } else {
            logger.warning("HTTP/2 connection error; the connection closes", metadata: [
                "role": "\(role)", "peer": "\(peer)", "error": "\(String(reflecting: error))",
            ])
        }
        context.fireErrorCaught(error)
    }

    /// Errors NIOHTTP2 raises for one stream only, which reach the connection's pipeline too. A bad state
    /// transition is connection-scoped only from `idle` or `closed` (a peer touching a stream that never was
    /// or is long gone); `NoSuchStream` of our own late write is what grpc-swift 1.x ignored as well.
    static func isStreamScoped(_ error: any Error) -> Bool {
        if error is NIOHTTP2Errors.NoSuchStream { return true }
        guard let transition = error as? NIOHTTP2Errors.BadStreamStateTransition,
              let state = transition.fromState else { return false }
        return state != .idle && state != .closed
    }

    /// Puts a diagnostics handler right behind the connection's NIOHTTP2Handler.
    static func install(on channel: any Channel, role: String, logger: Logger) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            let operations = channel.pipeline.syncOperations
            let http2 = try operations.handler(type: NIOHTTP2Handler.self)
            try operations.addHandler(ConnectionDiagnostics(role: role, logger: logger), position: .after(http2))
        }
    }
}

/// First in a stream's pipeline: drops the refusal of a WINDOW_UPDATE the stream emitted after the peer
/// had already ended its side (see `ConnectionDiagnostics`), which would otherwise cancel the call.
final class StaleWindowUpdateFilter: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTP2Frame.FramePayload

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let transition = error as? NIOHTTP2Errors.BadStreamStateTransition,
           transition.fromState == .halfClosedRemoteLocalIdle || transition.fromState == .halfClosedRemoteLocalActive {
            return
        }
        context.fireErrorCaught(error)
    }

    static func install(on channel: any Channel) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(StaleWindowUpdateFilter(), position: .first)
        }
    }
}
