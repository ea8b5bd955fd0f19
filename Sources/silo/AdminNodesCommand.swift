import ArgumentParser
import Foundation
import SiloCore
import SiloMetadata
import SiloStorage

/// `silo admin nodes`: the node registry the gateway places chunks from.
struct AdminNodesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodes",
        abstract: "Add, list, change the state of and remove storage nodes.",
        subcommands: [Add.self, List.self, SetState.self, Remove.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a storage node (state up).")

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
            let record = NodeRecord(id: id, address: parsed.description, state: .up, capacity: capacity,
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
            let state: String
            let capacity_bytes: Int64
            let free_bytes: Int64
            let last_heartbeat: String?

            // Synthesized Encodable drops nil; scripts should see `"last_heartbeat": null` ("never").
            private enum CodingKeys: String, CodingKey {
                case id, address, state, capacity_bytes, free_bytes, last_heartbeat
            }

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(id, forKey: .id)
                try container.encode(address, forKey: .address)
                try container.encode(state, forKey: .state)
                try container.encode(capacity_bytes, forKey: .capacity_bytes)
                try container.encode(free_bytes, forKey: .free_bytes)
                try container.encode(last_heartbeat, forKey: .last_heartbeat)
            }
        }

        func run() async throws {
            let nodes = try await database.withStore { store in try await store.nodes() }
            if json {
                try printJSON(nodes.map {
                    Row(id: $0.id.value, address: $0.address, state: $0.state.rawValue,
                        capacity_bytes: $0.capacity.bytes, free_bytes: $0.free.bytes,
                        last_heartbeat: $0.lastHeartbeat?.formatted(.iso8601))
                })
                return
            }
            // A capacity of 0 means the node has not said (or is bounded by its disk only).
            func size(_ count: ByteCount) -> String { count.bytes == 0 ? "-" : count.description }
            printTable(["ID", "ADDRESS", "STATE", "CAPACITY", "FREE", "LAST HEARTBEAT"], nodes.map {
                [$0.id.value, $0.address, $0.state.rawValue, size($0.capacity), size($0.free),
                 $0.lastHeartbeat?.formatted(.iso8601) ?? "never"]
            })
        }
    }

    struct SetState: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-state",
            abstract: "Mark a node up, down (no reads or writes) or draining (reads only, no new chunks).")

        @OptionGroup var database: DatabaseOptions

        @Argument(help: "The node id.")
        var nodeId: String

        @Argument(help: "up, down or draining.")
        var state: String

        func validate() throws {
            guard NodeState(rawValue: state) != nil else {
                throw ValidationError("the state must be one of \(NodeState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }

        func run() async throws {
            let id = try AdminNodesCommand.nodeID(nodeId)
            try await database.withStore { store in try await store.setNodeState(id, NodeState(rawValue: state)!) }
            print("node \(id) is \(state)")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a node from the registry (its chunks stay on it; reads use the other replicas).")

        @OptionGroup var database: DatabaseOptions

        @Argument(help: "The node id.")
        var nodeId: String

        func run() async throws {
            let id = try AdminNodesCommand.nodeID(nodeId)
            try await database.withStore { store in try await store.removeNode(id) }
            print("removed node \(id)")
        }
    }

    static func nodeID(_ text: String) throws -> NodeID {
        do { return try NodeID(text) } catch { throw AdminError("invalid node id: \(error)") }
    }
}
