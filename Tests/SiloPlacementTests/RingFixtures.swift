import SiloCore
import SiloPlacement

/// Builders shared by the ring tests.
enum RingFixtures {
    static func node(_ name: String) -> NodeID {
        // Test names are literals known to be valid.
        try! NodeID(name)
    }

    static func chunk(_ name: String) -> ChunkID {
        try! ChunkID(name)
    }

    /// `node-1` … `node-<count>`, all up.
    static func members(_ count: Int, state: (Int) -> NodeState = { _ in .up }) -> [RingMember] {
        (1...count).map { RingMember(node("node-\($0)"), state: state($0)) }
    }

    /// Chunk ids shaped like the gateway's (22 random characters of the id alphabet), different every run:
    /// the ring must balance whatever ids arrive, not one lucky sample.
    static func randomChunks(_ count: Int) -> [ChunkID] {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in
            chunk(String((0..<22).map { _ in alphabet.randomElement(using: &generator)! }))
        }
    }

    /// The 100 000 chunk ids the distribution tests place, drawn once per test process.
    static let sampleChunks = randomChunks(100_000)
}
