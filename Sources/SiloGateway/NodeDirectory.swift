import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import SiloCore
import SiloMetadata
import SiloPlacement
import SiloStorage
import Synchronization

/// A gRPC client of one storage node, as the gateway holds it.
package typealias NodeClient = ChunkStoreClient<HTTP2ClientTransport.Posix>

/// The storage nodes this gateway talks to: two clients per node in the node table, the placement ring
/// over them, and what the gateway's own probes say about each.
///
/// Each node gets one HTTP/2 connection for uploads (PutChunk) and another for everything else (reads,
/// deletes, probes), so no connection carries bulk data both ways. On a connection that did, the node's
/// socket filled with GetChunk data while PutChunk data kept arriving; NIOHTTP2 (1.46) then holds the
/// node's WINDOW_UPDATE frames back unprocessed and keeps computing new ones from the stale window, the
/// grants pile up past 2^31−1 and the connection dies with a flow-control error (seen under the
/// concurrency suites: `InvalidFlowControlWindowSize`, every upload and read on it failed).
///
/// The node table is the membership: nodes are added and drained there (`silo admin nodes`). A node the
/// table says is up but that misses `nodeMissedProbesMax` probes in a row is marked down (in the table too,
/// so every gateway's ring agrees), and back up when it answers again. A draining node stays readable and
/// gets no new chunks.
package final class NodeDirectory: Sendable {
    package struct Member: Sendable {
        package let record: NodeRecord
        /// GetChunk, DeleteChunk, HealthCheck.
        let client: NodeClient
        /// PutChunk only.
        let writer: NodeClient
        let connections: Task<Void, Never>
        package internal(set) var missedProbes: Int = 0
        /// What this gateway's own probes say: nil before the first verdict (the table's `down_since`
        /// decides until then), false after `nodeMissedProbesMax` missed probes, a stall, or an answer from
        /// a node with another identity.
        package internal(set) var probedUp: Bool?
        package var lastProbe: NodeHealth?
        /// The last probe left too little room for new chunks (`GatewayLimits.nodeFreeChunksMin`).
        package internal(set) var isShortOfSpace = false
        /// The node answered with an identity the table does not have for it (another data directory).
        package internal(set) var identityRejected = false

        /// Down when our probes say so, else draining unless the operator keeps it `in`, else up.
        package var state: NodeState {
            switch probedUp {
            case false?: return .down
            case nil where record.downSince != nil: return .down
            default: return record.membership == .in ? .up : .draining
            }
        }

        /// What the ring makes of the node: one short of space takes no new chunks, as if draining, and
        /// is still read from.
        var ringState: NodeState { state == .up && isShortOfSpace ? .draining : state }

        func shutdown() {
            client.grpc.beginGracefulShutdown()
            writer.grpc.beginGracefulShutdown()
        }
    }

    struct State {
        var members: [NodeID: Member] = [:]
        var ring: HashRing
        var stopped = false
    }

    let store: MetadataStore
    let limits: GatewayLimits
    let storageLimits: Limits
    let logger: Logger
    private let state: Mutex<State>

    package init(store: MetadataStore, limits: GatewayLimits, storageLimits: Limits = Limits(), logger: Logger) {
        self.store = store
        self.limits = limits
        self.storageLimits = storageLimits
        self.logger = logger
        // An empty ring cannot fail to build.
        state = Mutex(State(ring: try! HashRing(members: [])))
    }

    /// The members as of now, by id.
    package var members: [Member] {
        state.withLock { Array($0.members.values) }.sorted { $0.record.id < $1.record.id }
    }

    package var ring: HashRing { state.withLock { $0.ring } }

    /// Where a new chunk goes: `replicaCount` distinct up nodes and the clients that write to them.
    package func placement(for chunk: ChunkID) throws -> [(id: NodeID, client: NodeClient)] {
        try state.withLock { state in
            let ids = try state.ring.replicas(for: chunk, count: limits.replicaCount)
            return ids.compactMap { id in state.members[id].map { (id, $0.writer) } }
        }
    }

    /// The replicas of a stored chunk in the order a read tries them: up nodes first (in recorded order),
    /// then draining, then down ones (a probe may be behind), never nodes the table no longer has.
    package func readOrder(_ replicas: [NodeID]) -> [(id: NodeID, client: NodeClient)] {
        state.withLock { state in
            let known = replicas.compactMap { id in state.members[id].map { (id: id, member: $0) } }
            func rank(_ s: NodeState) -> Int { s == .up ? 0 : s == .draining ? 1 : 2 }
            return known.enumerated()
                .sorted { (rank($0.element.member.state), $0.offset) < (rank($1.element.member.state), $1.offset) }
                .map { ($0.element.id, $0.element.member.client) }
        }
    }

    package func client(for id: NodeID) -> NodeClient? {
        state.withLock { $0.members[id]?.client }
    }

    /// The client that writes (PutChunk) to `id`.
    package func writer(for id: NodeID) -> NodeClient? {
        state.withLock { $0.members[id]?.writer }
    }

    package var upCount: Int { state.withLock { $0.members.values.count { $0.state == .up } } }

    /// The members whose copies count for repair now (`in`, not lost, identity accepted).
    package func goodNodes(lostAfter: Duration, now: Date = Date()) -> [NodeID] {
        state.withLock { state in
            state.members.values.filter {
                $0.record.holdsGoodCopies(lostAfter: lostAfter, now: now) && !$0.identityRejected
            }.map(\.record.id).sorted()
        }
    }

    /// A call to `id` failed with `error`: a stall or a refused connection (UNAVAILABLE) makes the node down
    /// until a probe answers, and RESOURCE_EXHAUSTED makes it short of space until a probe says it has
    /// room, so the retry of the request that failed lands on other nodes.
    package func reportFailedCall(_ id: NodeID, _ error: any Error) {
        if error is NodeStalled || (error as? RPCError)?.code == .unavailable {
            reportStalled(id)
        } else if (error as? RPCError)?.code == .resourceExhausted {
            let changed = state.withLock { state -> Bool in
                guard var member = state.members[id], !member.isShortOfSpace else { return false }
                member.isShortOfSpace = true
                state.members[id] = member
                rebuildRing(&state)
                return true
            }
            if changed { logger.notice("node is out of space: no new chunks until a probe says it has room", metadata: ["node": "\(id)"]) }
        }
    }

    /// A call to `id` stalled (`NodeStalled`): the node counts as down, for reads and placement, until a
    /// probe answers again — rather than every request finding out for itself, a stall timeout each.
    package func reportStalled(_ id: NodeID) {
        let changed = state.withLock { state -> Bool in
            guard var member = state.members[id], member.state != .down else { return false }
            member.probedUp = false
            member.missedProbes = max(member.missedProbes, limits.nodeMissedProbesMax)
            state.members[id] = member
            rebuildRing(&state)
            return true
        }
        if changed { logger.notice("node stalled; down until a probe answers", metadata: ["node": "\(id)"]) }
    }

    /// Reads the node table, then keeps the membership current until cancelled: re-reads the table every
    /// `nodeTableRefreshInterval`, probes every node every `nodeProbeInterval`.
    package func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                while !Task.isCancelled {
                    await refresh()
                    try? await Task.sleep(for: limits.nodeTableRefreshInterval)
                }
            }
            group.addTask { [self] in
                while !Task.isCancelled {
                    await probeAll()
                    try? await Task.sleep(for: limits.nodeProbeInterval)
                }
            }
            await group.waitForAll()
        }
    }

    /// Closes every client. Calls in progress finish; no new ones start.
    package func shutdown() {
        let members = state.withLock { state -> [Member] in
            state.stopped = true
            defer { state.members = [:] }
            return Array(state.members.values)
        }
        for member in members { member.shutdown() }
    }

    /// Brings the members in line with the node table.
    package func refresh() async {
        let records: [NodeRecord]
        do {
            records = try await store.nodes()
        } catch {
            logger.warning("cannot read the node table; keeping the nodes known so far", metadata: ["error": "\(error)"])
            return
        }
        var retired: [Member] = []
        state.withLock { state in
            guard !state.stopped else { return }
            let wanted = Dictionary(records.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            for (id, member) in state.members where wanted[id]?.address != member.record.address {
                retired.append(member)
                state.members[id] = nil
            }
            for record in records {
                if let member = state.members[record.id] {
                    // Our own probes' verdict stands over the table's `down_since`.
                    state.members[record.id] = Member(
                        record: record, client: member.client, writer: member.writer, connections: member.connections,
                        missedProbes: member.missedProbes, probedUp: member.probedUp, lastProbe: member.lastProbe,
                        isShortOfSpace: member.isShortOfSpace, identityRejected: member.identityRejected)
                } else if let member = makeMember(record) {
                    state.members[record.id] = member
                }
            }
            rebuildRing(&state)
        }
        for member in retired { member.shutdown() }
    }

    private func makeMember(_ record: NodeRecord) -> Member? {
        guard let address = NodeAddress(parsing: record.address) else {
            logger.error("node has an unusable address; ignored", metadata: ["node": "\(record.id)", "address": "\(record.address)"])
            return nil
        }
        do {
            let client = NodeClient(wrapping: GRPCClient(
                transport: try ChunkStoreTransports.client(address: address, limits: storageLimits)))
            let writer = NodeClient(wrapping: GRPCClient(
                transport: try ChunkStoreTransports.client(address: address, limits: storageLimits)))
            let connections = Task {
                async let reads: Void? = try? await client.grpc.runConnections()
                async let writes: Void? = try? await writer.grpc.runConnections()
                _ = await (reads, writes)
            }
            return Member(record: record, client: client, writer: writer, connections: connections)
        } catch {
            logger.error("cannot make a client for node", metadata: ["node": "\(record.id)", "error": "\(error)"])
            return nil
        }
    }

    private func rebuildRing(_ state: inout State) {
        let ringMembers = state.members.values.map { RingMember($0.record.id, state: $0.ringState) }
        do {
            state.ring = try HashRing(members: ringMembers)
        } catch {
            logger.error("cannot build the placement ring; keeping the previous one", metadata: ["error": "\(error)"])
        }
    }

    /// Probes every member once, concurrently, and acts on state changes. An answer is recorded in the
    /// table (heartbeat, free space, and the node's identity the first time); an answer the table refuses
    /// (another identity) counts as a missed probe, so a node restarted on an empty or unmounted
    /// directory, or two rows pointing at one process, is never up.
    package func probeAll() async {
        let targets = state.withLock { $0.members.values.map { ($0.record.id, $0.client) } }
        let options: CallOptions = { var o = CallOptions.defaults; o.timeout = limits.nodeProbeTimeout; return o }()
        let results = await withTaskGroup(of: (NodeID, NodeHealth?, accepted: Bool).self) { group in
            for (id, client) in targets {
                group.addTask { [store] in
                    guard let response = try? await client.healthCheck(options: options) else { return (id, nil, false) }
                    // The database being away is not the node's fault: only a refusal counts against it.
                    let accepted = (try? await store.recordHeartbeat(
                        id, capacity: response.capacity, free: response.free, instanceID: response.instanceID)) ?? true
                    return (id, response, accepted)
                }
            }
            var results: [(NodeID, NodeHealth?, accepted: Bool)] = []
            for await result in group { results.append(result) }
            return results
        }
        var changes: [(NodeID, NodeState)] = []
        var spaceChanges: [(NodeID, short: Bool, free: ByteCount)] = []
        var impostors: [(NodeID, answered: String, recorded: String?)] = []
        var quarantined: [(NodeID, [ChunkID])] = []
        var unrecorded: [NodeID] = []
        let freeBytesMin = ByteCount(limits.chunkBytes * Int64(limits.nodeFreeChunksMin))
        state.withLock { state in
            for (id, response, accepted) in results {
                guard var member = state.members[id] else { continue }
                let before = member.state
                if let response, accepted {
                    member.missedProbes = 0
                    member.probedUp = true
                    member.identityRejected = false
                    let newlyQuarantined = response.quarantinedChunks.filter {
                        member.lastProbe?.quarantinedChunks.contains($0) != true
                    }
                    if !newlyQuarantined.isEmpty { quarantined.append((id, newlyQuarantined)) }
                    member.lastProbe = response
                    let short = response.free < freeBytesMin
                    if short != member.isShortOfSpace {
                        member.isShortOfSpace = short
                        spaceChanges.append((id, short, response.free))
                    }
                } else {
                    if let response, !member.identityRejected {
                        member.identityRejected = true
                        impostors.append((id, response.instanceID, member.record.instanceID))
                    }
                    member.missedProbes += 1
                    if member.missedProbes >= limits.nodeMissedProbesMax || member.identityRejected {
                        member.probedUp = false
                    }
                }
                if member.state != before { changes.append((id, member.state)) }
                state.members[id] = member
            }
            if !changes.isEmpty || !spaceChanges.isEmpty { rebuildRing(&state) }
            // Down for us but not yet in the table: asked again every round, since the table takes it
            // only once no gateway has heard from the node for a few probe intervals.
            unrecorded = state.members.values.filter { $0.probedUp == false && $0.record.downSince == nil }
                .map(\.record.id)
        }
        for (id, answered, recorded) in impostors {
            logger.error("node answered with another identity than the table records: not used until it matches", metadata: [
                "node": "\(id)", "answered": "\(answered)", "recorded": "\(recorded ?? "another row's")"])
        }
        for (id, short, free) in spaceChanges {
            logger.notice(short ? "node is short of space: no new chunks until it has room" : "node has room again",
                          metadata: ["node": "\(id)", "free": "\(free)", "needed": "\(freeBytesMin)"])
        }
        let heardWithin = limits.nodeProbeInterval * limits.nodeMissedProbesMax
        for (id, newState) in changes {
            logger.notice("node is \(newState.rawValue)", metadata: ["node": "\(id)"])
        }
        for id in unrecorded { try? await store.markNodeDown(id, unlessHeardWithin: heardWithin) }
        for (id, chunks) in quarantined {
            logger.warning("node quarantined bad chunk copies", metadata: ["node": "\(id)", "chunks": "\(chunks.count)"])
            for chunk in chunks { try? await store.reportBadCopy(chunk, on: id, reason: "quarantined by the node") }
        }
    }

    /// A read found the copy of `chunk` on `node` bad (DATA_LOSS, a size or CRC32C mismatch, NOT_FOUND):
    /// it no longer counts, and the repair worker replaces it.
    package func reportBadCopy(_ chunk: ChunkID, on node: NodeID, reason: String) {
        logger.warning("bad chunk copy; queued for repair", metadata: ["chunk": "\(chunk)", "node": "\(node)", "reason": "\(reason)"])
        Task { [store, logger] in
            do {
                try await store.reportBadCopy(chunk, on: node, reason: reason)
            } catch {
                logger.warning("cannot record a bad chunk copy", metadata: ["chunk": "\(chunk)", "error": "\(error)"])
            }
        }
    }

    /// What repair needs of the membership: the ring of `in` nodes (whatever their probes say), and for
    /// every member whether its copies count (`in` and not down past `lostAfter`), whether it answers and
    /// whether it takes new copies.
    package func repairView(lostAfter: Duration, now: Date = Date()) -> (ring: HashRing, nodes: [NodeID: RepairNodeView])? {
        state.withLock { state in
            var views: [NodeID: RepairNodeView] = [:]
            var inMembers: [RingMember] = []
            for member in state.members.values {
                let record = member.record
                views[record.id] = RepairNodeView(
                    countsCopies: record.holdsGoodCopies(lostAfter: lostAfter, now: now) && !member.identityRejected,
                    readable: member.state != .down, writable: member.ringState == .up)
                if record.membership == .in { inMembers.append(RingMember(record.id)) }
            }
            guard let ring = try? HashRing(members: inMembers) else { return nil }
            return (ring, views)
        }
    }
}
