import SiloGateway
import SiloS3
import Hummingbird
import Logging
import NIOCore

/// The request context of the S3 gateway: Hummingbird's core storage plus the channel, through which the
/// handler answers `Expect: 100-continue`.
package struct S3RequestContext: RequestContext {
    package var coreContext: CoreRequestContextStorage
    package let channel: any Channel

    package init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// Invites the body of a request that sent `Expect: 100-continue`; nothing otherwise.
    package func continueIfExpected() {
        ExpectContinueHandler.sendContinue(on: channel)
    }
}
