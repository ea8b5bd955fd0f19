import Foundation
import SiloTestSupport
import SiloCore
import Testing

@testable import SiloMetadata

/// What `silo admin` relies on: adding and removing nodes and keys refuses duplicates and unknown ids with
/// a `MetadataError`, and listings never carry secrets.
@Suite struct AdminStoreTests {
    private func node(_ id: String, _ address: String = "127.0.0.1:50051") -> NodeRecord {
        NodeRecord(id: try! NodeID(id), address: address, capacity: ByteCount(1 << 30), free: ByteCount(0))
    }

    @Test func addedNodeIsListedWithoutAHeartbeat() async throws {
        try await TestDatabase.withStore { store in
            try await store.addNode(node("n1"))
            let listed = try await store.nodes()
            #expect(listed.map(\.id.value) == ["n1"])
            #expect(listed.first?.capacity == ByteCount(1 << 30))
            #expect(listed.first?.lastHeartbeat == nil)
        }
    }

    @Test func addingATakenNodeIDIsRefusedAndKeepsTheFirstAddress() async throws {
        try await TestDatabase.withStore { store in
            try await store.addNode(node("n1", "10.0.0.1:50051"))
            await #expect(throws: MetadataError.nodeAlreadyExists(try NodeID("n1"))) {
                try await store.addNode(node("n1", "10.0.0.2:50051"))
            }
            #expect(try await store.nodes().map(\.address) == ["10.0.0.1:50051"])
        }
    }

    @Test func setMembershipAndRemove() async throws {
        try await TestDatabase.withStore { store in
            try await store.addNode(node("n1"))
            try await store.addNode(node("n2"))
            try await store.setMembership(try NodeID("n1"), .draining)
            #expect(try await store.nodes().map(\.membership) == [.draining, .in])
            try await store.removeNode(try NodeID("n1"))
            #expect(try await store.nodes().map(\.id.value) == ["n2"])
            await #expect(throws: MetadataError.noSuchNode(try NodeID("n1"))) {
                try await store.removeNode(try NodeID("n1"))
            }
            await #expect(throws: MetadataError.noSuchNode(try NodeID("n1"))) {
                try await store.setMembership(try NodeID("n1"), .in)
            }
        }
    }

    @Test func createdKeyVerifiesAndIsListedWithoutItsSecret() async throws {
        try await TestDatabase.withStore { store in
            let pair = AccessKeyPair.generate()
            try await store.createAccessKey(pair)
            #expect(try await store.secretKey(accessKeyID: pair.accessKey) == pair.secretKey)
            let listed = try await store.accessKeys()
            #expect(listed.map(\.accessKey) == [pair.accessKey])
            #expect(listed.first?.active == true)
        }
    }

    @Test func creatingATakenAccessKeyIsRefusedAndKeepsTheFirstSecret() async throws {
        try await TestDatabase.withStore { store in
            try await store.createAccessKey(try AccessKeyPair(accessKey: "minioadmin", secretKey: "minioadmin"))
            await #expect(throws: MetadataError.accessKeyAlreadyExists("minioadmin")) {
                try await store.createAccessKey(try AccessKeyPair(accessKey: "minioadmin", secretKey: "other-secret"))
            }
            #expect(try await store.secretKey(accessKeyID: "minioadmin") == "minioadmin")
        }
    }

    @Test func deletedKeyNoLongerVerifies() async throws {
        try await TestDatabase.withStore { store in
            let pair = AccessKeyPair.generate()
            try await store.createAccessKey(pair)
            try await store.deleteAccessKey(pair.accessKey)
            #expect(try await store.secretKey(accessKeyID: pair.accessKey) == nil)
            #expect(try await store.accessKeys().isEmpty)
            await #expect(throws: MetadataError.noSuchAccessKey(pair.accessKey)) {
                try await store.deleteAccessKey(pair.accessKey)
            }
        }
    }
}
