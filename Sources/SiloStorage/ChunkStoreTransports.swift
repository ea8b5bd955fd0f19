import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import SiloCore

/// A node's gRPC address, "host:port".
package struct NodeAddress: Hashable, Sendable, CustomStringConvertible {
    package let host: String
    package let port: Int

    package init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses "host:port" or "[v6]:port".
    package init?(parsing text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (0...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.host = host
        self.port = port
    }

    package var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// The HTTP/2 settings both ends of a chunk stream need. grpc-swift-2's defaults (64 KiB server window,
/// 16 KiB frames, 4 MiB messages) throttle a client-streaming upload to about 96 MB/s here; a 16 MiB window
/// and 1 MiB frames let one stream run at disk speed.
package enum ChunkStoreTransports {
    /// Flow-control window per stream and connection.
    package static let targetWindowBytes = 16 << 20
    /// HTTP/2 frame size: fewer, larger frames on the data path.
    package static let maxFrameBytes = 1 << 20

    package static func server(address: NodeAddress, limits: Limits,
                              logger: Logger = Logger(label: "silo.grpc")) -> HTTP2ServerTransport.Posix {
        let config = HTTP2ServerTransport.Posix.Config.defaults { config in
            config.http2.targetWindowSize = targetWindowBytes
            config.http2.maxFrameSize = maxFrameBytes
            config.rpc.maxRequestPayloadSize = limits.grpcMessageBytesMax
            config.channelDebuggingCallbacks.onAcceptTCPConnection = { channel in
                ConnectionDiagnostics.install(on: channel, role: "server", logger: logger)
            }
            config.channelDebuggingCallbacks.onAcceptHTTP2Stream = StaleWindowUpdateFilter.install(on:)
        }
        return HTTP2ServerTransport.Posix(
            address: .ipv4(host: address.host, port: address.port), transportSecurity: .plaintext,
            config: config)
    }

    /// A client transport to one node. Message limits are set on both directions on purpose: in
    /// grpc-swift-nio-transport 2.9.2 the response limit is governed by `maxRequestMessageBytes`.
    package static func client(address: NodeAddress, limits: Limits,
                              logger: Logger = Logger(label: "silo.grpc")) throws -> HTTP2ClientTransport.Posix {
        let config = HTTP2ClientTransport.Posix.Config.defaults { config in
            config.http2.targetWindowSize = targetWindowBytes
            config.http2.maxFrameSize = maxFrameBytes
            config.channelDebuggingCallbacks.onCreateTCPConnection = { channel in
                ConnectionDiagnostics.install(on: channel, role: "client", logger: logger)
            }
            config.channelDebuggingCallbacks.onCreateHTTP2Stream = StaleWindowUpdateFilter.install(on:)
        }
        let methods = MethodConfig(
            names: [MethodConfig.Name(service: "")],
            maxRequestMessageBytes: limits.grpcMessageBytesMax,
            maxResponseMessageBytes: limits.grpcMessageBytesMax)
        return try HTTP2ClientTransport.Posix(
            target: .dns(host: address.host, port: address.port), transportSecurity: .plaintext,
            config: config, serviceConfig: ServiceConfig(methodConfig: [methods]))
    }
}
