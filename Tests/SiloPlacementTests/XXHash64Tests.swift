@testable import SiloPlacement
import Testing

/// Placement agrees between gateways only if the hash is exactly XXH64: pin it to the reference vectors.
@Suite struct XXHash64Tests {
    static let referenceVectors: [(String, UInt64)] = [
        ("", 0xEF46_DB37_51D8_E999),
        ("a", 0xD24E_C4F1_A98C_6E5B),
        ("abc", 0x44BC_2CF5_AD77_0999),
        // 32 bytes: exactly one stripe of the four-lane loop, nothing left for the tail.
        (String(repeating: "a", count: 32), 0x856E_8432_98F9_9AD7),
        // 39 bytes: one stripe, then the 8-, 4- and 1-byte tails.
        ("Nobody inspects the spammish repetition", 0xFBCE_A83C_8A37_8BF1),
        ("The quick brown fox jumps over the lazy dog", 0x0B24_2D36_1FDA_71BC),
    ]

    @Test(arguments: referenceVectors)
    func matchesTheReferenceVectors(_ text: String, _ digest: UInt64) {
        #expect(XXHash64.hash(Array(text.utf8)) == digest, "\(text)")
    }

    @Test func theSeedChangesTheDigest() {
        let bytes = Array("node-1".utf8)
        #expect(XXHash64.hash(bytes, seed: 0) != XXHash64.hash(bytes, seed: 1))
        #expect(XXHash64.hash(bytes, seed: 7) == XXHash64.hash(bytes, seed: 7))
    }
}
