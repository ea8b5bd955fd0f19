import ArgumentParser
import Foundation
import SiloCore
import SiloMetadata

/// `silo admin cluster status`: how far the cluster is from full redundancy, what repair is doing, and
/// the nodes with their membership, state and fill — from the metadata database alone.
struct AdminClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "The cluster's redundancy, repair progress and nodes.",
        subcommands: [Status.self])

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Chunks short of copies, repair progress and rate, time to full redundancy, nodes.",
            discussion: """
                A copy counts when it is on an `in` node that is not lost and was not found bad. The replica \\
                count and --node-lost-after are the repairing gateway's; without one, the defaults. Counting \\
                scans every chunk row: seconds on a large cluster.
                """)

        @OptionGroup var database: DatabaseOptions

        @Flag(help: "Print the status as JSON (sizes in bytes).")
        var json = false

        struct Output: Encodable {
            struct Node: Encodable {
                var id: String
                var address: String
                var membership: String
                var state: String
                var lost: Bool
                var down_since: String?
                var capacity_bytes: Int64
                var free_bytes: Int64
                var copies: Int
            }
            struct Missing: Encodable {
                var copies_missing: Int
                var chunks: Int64
                var bytes: Int64
            }
            var replicas: Int
            var chunks: Int64
            var bytes: Int64
            var under_replicated_chunks: Int64
            var under_replicated_bytes: Int64
            var missing: [Missing]
            var bad_copies: Int
            var repair_holder: String?
            var repair: RepairReport?
            /// Bytes still to copy over the measured rate (else the cap); nil when nothing is missing or
            /// nothing is known of the rate.
            var seconds_to_full_redundancy: Double?
            var nodes: [Node]
        }

        func run() async throws {
            let output = try await database.withStore { store -> Output in
                let lease = try await store.lease(RepairReport.leaseName)
                let report = RepairReport.decode(lease?.progress)
                let defaults = GatewayLimits()
                let replicas = report?.replicas ?? defaults.replicaCount
                let lostAfter = Duration.seconds(report?.nodeLostAfterSeconds ?? defaults.nodeLostAfter.components.seconds)
                let nodes = try await store.nodes()
                let now = Date()
                let good = nodes.filter { $0.holdsGoodCopies(lostAfter: lostAfter, now: now) }.map(\.id)
                let redundancy = try await store.redundancy(goodNodes: good, replicaCount: replicas)
                var rows: [Output.Node] = []
                for node in nodes {
                    rows.append(Output.Node(
                        id: node.id.value, address: node.address, membership: node.membership.rawValue,
                        state: node.downSince == nil ? "up" : "down", lost: node.isLost(lostAfter: lostAfter, now: now),
                        down_since: node.downSince?.formatted(.iso8601), capacity_bytes: node.capacity.bytes,
                        free_bytes: node.free.bytes, copies: try await store.copyCount(on: node.id)))
                }
                let holder = lease.flatMap { $0.expires > now ? $0.holder : nil }
                var eta: Double?
                let toCopy = redundancy.bytesToCopy
                if toCopy > 0, let report {
                    let rate = report.bytesPerSecond > 0 ? report.bytesPerSecond : Double(report.repairBytesPerSecondCap)
                    if rate > 0 { eta = Double(toCopy) / rate }
                }
                return Output(
                    replicas: replicas, chunks: redundancy.total.chunks, bytes: redundancy.total.bytes,
                    under_replicated_chunks: redundancy.underReplicated.chunks,
                    under_replicated_bytes: redundancy.underReplicated.bytes,
                    missing: redundancy.missing.keys.sorted().map {
                        Output.Missing(copies_missing: $0, chunks: redundancy.missing[$0]!.chunks,
                                       bytes: redundancy.missing[$0]!.bytes)
                    },
                    bad_copies: try await store.badCopyCount(), repair_holder: holder, repair: report,
                    seconds_to_full_redundancy: eta, nodes: rows)
            }
            if json {
                try printJSON(output)
                return
            }
            print("redundancy: \(output.chunks) chunks (\(ByteCount(output.bytes))), replicas \(output.replicas)")
            if output.missing.isEmpty {
                print("  every chunk has its \(output.replicas) good copies")
            }
            for missing in output.missing {
                print("  \(missing.chunks) chunks (\(ByteCount(missing.bytes))) missing \(missing.copies_missing) cop\(missing.copies_missing == 1 ? "y" : "ies")")
            }
            if output.bad_copies > 0 { print("  \(output.bad_copies) copies found bad, waiting for repair") }
            if let report = output.repair {
                print("""
                    repair: \(output.repair_holder.map { "run by gateway \($0)" } ?? "no gateway holds the lease now"); \
                    \(report.chunksRepaired) chunks repaired, \(report.chunksRebalanced) moved, \
                    \(ByteCount(report.bytesCopied)) copied, \(ByteCount(Int64(report.bytesPerSecond)))/s now
                    """)
            } else {
                print("repair: no gateway has run repair yet")
            }
            if let eta = output.seconds_to_full_redundancy {
                print("  estimated time to full redundancy: \(Int(eta.rounded(.up))) s")
            }
            func size(_ bytes: Int64) -> String { bytes == 0 ? "-" : ByteCount(bytes).description }
            printTable(["ID", "ADDRESS", "MEMBERSHIP", "STATE", "COPIES", "CAPACITY", "FREE"], output.nodes.map {
                [$0.id, $0.address, $0.membership, $0.lost ? "lost" : $0.state, String($0.copies),
                 size($0.capacity_bytes), size($0.free_bytes)]
            })
        }
    }
}
