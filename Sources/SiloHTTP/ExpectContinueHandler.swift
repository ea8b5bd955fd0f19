import SiloGateway
import SiloS3
import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Answers `Expect: 100-continue` when the gateway decides to read the body, not before; and closes the
/// connection after a response that says `Connection: close`.
///
/// Hummingbird does not send 100 Continue, and curl, boto3 and the aws cli wait about a second for it on
/// every upload. The handler that serves the request calls `sendContinue(on:)` once it has checked what it
/// can without the body (signature, object size, bucket); a request refused before that gets its final
/// status instead, and the connection is closed after it, because the client never sends the body it
/// was not invited to and the connection cannot be reused without reading it.
final class ExpectContinueHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// The request being served asked for 100-continue and has not had it.
    private var awaitingContinue = false
    private var closeAfterResponse = false
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let request) = unwrapInboundIn(data) {
            awaitingContinue = request.headerFields[.expect]?.lowercased() == "100-continue"
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var response) where awaitingContinue && response.status.code >= 200:
            // A final answer without having invited the body: the body never comes, so this connection ends.
            awaitingContinue = false
            closeAfterResponse = true
            response.headerFields[.connection] = "close"
            context.write(wrapOutboundOut(.head(response)), promise: promise)
        case .head(let response) where response.headerFields[.connection] == "close":
            // The gateway gave up on a body part-way (too large, refused): reading the rest only to throw it
            // away could take as long as the upload, so the connection ends with this response.
            closeAfterResponse = true
            context.write(data, promise: promise)
        case .end where closeAfterResponse:
            closeAfterResponse = false
            context.writeAndFlush(data, promise: promise)
            context.close(promise: nil)
        default:
            context.write(data, promise: promise)
        }
    }

    private func continueIfAwaited() {
        guard awaitingContinue, let context else { return }
        awaitingContinue = false
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
    }

    /// Sends 100 Continue on `channel` if its current request is waiting for it.
    static func sendContinue(on channel: any Channel) {
        channel.eventLoop.execute {
            try? channel.pipeline.syncOperations.handler(type: ExpectContinueHandler.self).continueIfAwaited()
        }
    }
}
