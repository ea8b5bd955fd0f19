import SiloGateway
import SiloS3
import Hummingbird
import Logging
import NIOCore

/// The request context of the S3 gateway: Hummingbird's core storage plus the channel, through which the
/// handler answers `Expect: 100-continue`.
public struct S3RequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// Invites the body of a request that sent `Expect: 100-continue`; nothing otherwise.
    public func continueIfExpected() {
        ExpectContinueHandler.sendContinue(on: channel)
    }
}
