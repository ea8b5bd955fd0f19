import ArgumentParser
import Foundation
import SiloCore
import SiloMetadata
import SiloStorage

/// `silo admin nodes`: the node registry the gateway places chunks from.
struct AdminNodesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodes",
        abstract: "Add, list, drain and remove storage nodes.",
        discussion: """
            A node's membership is the operator's word: `in` (takes new chunks, its copies count), `draining` \
            (readable; repair copies its chunks to `in` nodes, then drops its copies) or `out` (gone for good: \
            its copies stop counting at once). Whether it is up or down is what the gateways' probes see; a node \
            down past the gateways' --node-lost-after counts as lost, and repair restores its copies elsewhere.
            """,
        subcommands: [Add.self, List.self, Drain.self, SetMembership.self, ResetIdentity.self, Remove.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a storage node (membership in).")

        @OptionGroup var database: DatabaseOptions

        @Argument(help: "The node's gRPC address, host:port.")
        var address: String

        @Option(help: "Node id (default: the address with ':' as '-', e.g. 127.0.0.1-50051).")
        var nodeId: String?

        @Option(help: "The node's capacity, e.g. 500GiB (default: unknown until it reports).")
        var capacityBytes: String?

        func validate() throws {
            guard NodeAddress(parsing: address) != nil else { throw ValidationError("the address must be host:port") }
            if let capacityBytes, ByteCount(parsing: capacityBytes) == nil {
                throw ValidationError("--capacity-bytes must be a size such as 1073741824 or 1GiB")
            }
        }

        func run() async throws {
            let parsed = NodeAddress(parsing: address)!
            let id: NodeID
            do {
                // Node ids may not hold ':' (they are path and metric label material), addresses always do.
                id = try NodeID(nodeId ?? "\(parsed.host):\(parsed.port)".replacingOccurrences(of: ":", with: "-"))
            } catch {
                throw AdminError("invalid node id: \(error)")
            }
            let capacity = capacityBytes.flatMap { ByteCount(parsing: $0) } ?? ByteCount(0)
            // Until its first heartbeat the node is taken to be empty.
            let record = NodeRecord(id: id, address: parsed.description, membership: .in, capacity: capacity,
                                    free: capacity)
            try await database.withStore { store in try await store.addNode(record) }
            print("added node \(id) at \(parsed)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the registered storage nodes.")

        @OptionGroup var database: DatabaseOptions

        @Flag(help: "Print the nodes as JSON (sizes in bytes).")
        var json = false

        private struct Row: Encodable {
            let id: String
            let address: String
            let membership: String
            /// up or down, as the gateways' probes last recorded.
            let state: String
            let capacity_bytes: Int64
            let free_bytes: Int64
            let last_heartbeat: String?
            let down_since: String?
            let instance_id: String?

            // Synthesized Encodable drops nil; scripts should see `"last_heartbeat": null` ("never").
            private enum CodingKeys: String, CodingKey {
                case id, address, membership, state, capacity_bytes, free_bytes, last_heartbeat, down_since, instance_id
            }

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(id, forKey: .id)
                try container.encode(address, forKey: .address)
                try container.encode(membership, forKey: .membership)
                try container.encode(state, forKey: .state)
                try container.encode(capacity_bytes, forKey: .capacity_bytes)
                try container.encode(free_bytes, forKey: .free_bytes)
                try container.encode(last_heartbeat, forKey: .last_heartbeat)
                try container.encode(down_since, forKey: .down_since)
                try container.encode(instance_id, forKey: .instance_id)
            }
        }

        func run() async throws {
            let nodes = try await database.withStore { store in try await store.nodes() }
            if json {
                try printJSON(nodes.map {
                    Row(id: $0.id.value, address: $0.address, membership: $0.membership.rawValue,
                        state: $0.downSince == nil ? "up" : "down",
                        capacity_bytes: $0.capacity.bytes, free_bytes: $0.free.bytes,
                        last_heartbeat: $0.lastHeartbeat?.formatted(.iso8601),
                        down_since: $0.downSince?.formatted(.iso8601), instance_id: $0.instanceID)
                })
                return
            }
            // A capacity of 0 means the node has not said (or is bounded by its disk only).
            func size(_ count: ByteCount) -> String { count.bytes == 0 ? "-" : count.description }
            printTable(["ID", "ADDRESS", "MEMBERSHIP", "STATE", "CAPACITY", "FREE", "LAST HEARTBEAT"], nodes.map {
                [$0.id.value, $0.address, $0.membership.rawValue, $0.downSince == nil ? "up" : "down",
                 size($0.capacity), size($0.free),
                 $0.lastHeartbeat?.formatted(.iso8601) ?? "never"]
            })
        }
    }

    struct Drain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start emptying a node: no new chunks; repair copies its chunks to the other nodes, then drops its copies.",
            discussion: "Watch `silo admin nodes list` or the gateways' /metrics; `remove` succeeds once no chunk names the node.")

        @OptionGroup var database: DatabaseOptions

        @Argument(help: "The node id.")
        var nodeId: String

        func run() async throws {
            let id = try AdminNodesCommand.nodeID(nodeId)
            let copies = try await database.withStore { store in
                try await store.setMembership(id, .draining)
                return try await store.copyCount(on: id)
            }
            print("node \(id) is draining; \(copies) chunk cop\(copies == 1 ? "y" : "ies") to move")
        }
    }

    struct SetMembership: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-membership",
            abstract: "Set what the operator says of a node: in, draining or out.")

        @OptionGroup var database: DatabaseOptions

        @Argument(help: "The node id.")
        var nodeId: String

        @Argument(help: "in, draining or out.")
        var membership: String

        func validate() throws {
            guard NodeMembership(rawValue: membership) != nil else {
                throw ValidationError("the membership must be one of \(NodeMembership.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }

        func run() async throws {
            let id = try AdminNodesCommand.nodeID(nodeId)
            try await database.withStore { store in try await store.setMembership(id, NodeMembership(rawValue: membership)!) }
            print("node \(id) is \(membership)")
        }
    }

    struct ResetIdentity: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-identity",
            abstract: "Accept a node restarted on a new (empty) data directory: its old copies count as lost and are repaired.")

        @OptionGroup var database: DatabaseOptions

        @Argument(help: "The node id.")
        var nodeId: String

        func run() async throws {
            let id = try AdminNodesCommand.nodeID(nodeId)
            let copies = try await database.withStore { store in try await store.resetNodeIdentity(id) }
            print("node \(id) will be accepted with its new identity; \(copies) chunk cop\(copies == 1 ? "y" : "ies") to repair")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a node from the registry once no chunk names it (drain it first).")

        @OptionGroup var database: DatabaseOptions

        @Argument(help: "The node id.")
        var nodeId: String

        @Flag(help: "Remove it even though chunks still name it: those copies stop counting and repair replaces them from the others; a chunk whose only good copies were there is lost.")
        var force = false

        func run() async throws {
            let id = try AdminNodesCommand.nodeID(nodeId)
            if force {
                let copies = try await database.withStore { store in try await store.copyCount(on: id) }
                if copies > 0 {
                    FileHandle.standardError.write(Data("""
                        warning: removing node \(id) while \(copies) chunk cop\(copies == 1 ? "y" : "ies") name it; \
                        repair will copy them from the other replicas where there are any\n
                        """.utf8))
                }
            }
            try await database.withStore { store in try await store.removeNode(id, force: force) }
            print("removed node \(id)")
        }
    }

    static func nodeID(_ text: String) throws -> NodeID {
        do { return try NodeID(text) } catch { throw AdminError("invalid node id: \(error)") }
    }
}
