import SiloCore
import Foundation
import SiloMetadata

/// `/health`: whether PostgreSQL answers, and the nodes as this gateway sees them. Healthy when the
/// database answers and at least `replicaCount` nodes are up (uploads can be placed).
package struct HealthReporter: Sendable {
    let store: MetadataStore
    let nodes: NodeDirectory
    let limits: GatewayLimits

    package init(store: MetadataStore, nodes: NodeDirectory, limits: GatewayLimits) {
        self.store = store
        self.nodes = nodes
        self.limits = limits
    }

    package struct Report: Encodable {
        struct Node: Encodable {
            var id: String
            var address: String
            var state: String
            /// What the operator says: in, draining or out.
            var membership: String
            var missedProbes: Int
            var ioBackend: String?
            var freeBytes: UInt64?
            /// Too little room for new chunks: readable, but placed on no more.
            var shortOfSpace: Bool
        }
        var status: String
        var database: String
        var databaseError: String?
        var replicas: Int
        var nodesUp: Int
        var nodes: [Node]

        package var isHealthy: Bool { status == "ok" }

        package func json() -> [UInt8] {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return Array((try? encoder.encode(self)) ?? Data("{\"status\":\"error\"}".utf8))
        }
    }

    package func report() async -> Report {
        var databaseError: String?
        do {
            _ = try await store.bucketExists(try .init("health-probe"))
        } catch {
            databaseError = "\(error)"
        }
        let members = nodes.members
        let up = members.count { $0.state == .up }
        let healthy = databaseError == nil && up >= limits.replicaCount
        return Report(
            status: healthy ? "ok" : "unavailable", database: databaseError == nil ? "ok" : "unreachable",
            databaseError: databaseError, replicas: limits.replicaCount, nodesUp: up,
            nodes: members.map {
                .init(id: $0.record.id.value, address: $0.record.address, state: $0.state.rawValue,
                      membership: $0.record.membership.rawValue, missedProbes: $0.missedProbes, ioBackend: $0.lastProbe?.ioBackend,
                      freeBytes: $0.lastProbe.map { UInt64($0.free.bytes) }, shortOfSpace: $0.isShortOfSpace)
            })
    }
}
