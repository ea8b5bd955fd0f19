/// xxHash64 (Yann Collet's XXH64), used to put nodes and chunks on the ring.
///
/// Placement must agree between every gateway, across restarts and releases, so the hash cannot be Swift's
/// `Hasher` (randomly seeded per process). xxHash64 is stable, specified, fast on short keys, and has a real
/// avalanche finalizer: FNV-1a was rejected because a change in the last input byte barely reaches the top
/// bits, which would cluster one node's virtual points (`"n"+0`, `"n"+1`, …) on the ring.
///
/// Changing this function, or how `HashRing` feeds it, moves almost every chunk: treat it as a data format.
package enum XXHash64 {
    private static let prime1: UInt64 = 0x9E37_79B1_85EB_CA87
    private static let prime2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private static let prime3: UInt64 = 0x1656_67B1_9E37_79F9
    private static let prime4: UInt64 = 0x85EB_CA77_C2B2_AE63
    private static let prime5: UInt64 = 0x27D4_EB2F_1656_67C5

    /// The XXH64 digest of `bytes` with `seed`, identical to the reference implementation's.
    package static func hash(_ bytes: [UInt8], seed: UInt64 = 0) -> UInt64 {
        let count = bytes.count
        var offset = 0
        var accumulator: UInt64

        if count >= 32 {
            var lane1 = seed &+ prime1 &+ prime2
            var lane2 = seed &+ prime2
            var lane3 = seed
            var lane4 = seed &- prime1
            while offset + 32 <= count {
                lane1 = round(lane1, word64(bytes, offset))
                lane2 = round(lane2, word64(bytes, offset + 8))
                lane3 = round(lane3, word64(bytes, offset + 16))
                lane4 = round(lane4, word64(bytes, offset + 24))
                offset += 32
            }
            accumulator = lane1.rotated(1) &+ lane2.rotated(7) &+ lane3.rotated(12) &+ lane4.rotated(18)
            accumulator = merge(accumulator, lane1)
            accumulator = merge(accumulator, lane2)
            accumulator = merge(accumulator, lane3)
            accumulator = merge(accumulator, lane4)
        } else {
            accumulator = seed &+ prime5
        }
        accumulator &+= UInt64(count)

        while offset + 8 <= count {
            accumulator ^= round(0, word64(bytes, offset))
            accumulator = accumulator.rotated(27) &* prime1 &+ prime4
            offset += 8
        }
        if offset + 4 <= count {
            accumulator ^= UInt64(word32(bytes, offset)) &* prime1
            accumulator = accumulator.rotated(23) &* prime2 &+ prime3
            offset += 4
        }
        while offset < count {
            accumulator ^= UInt64(bytes[offset]) &* prime5
            accumulator = accumulator.rotated(11) &* prime1
            offset += 1
        }
        return avalanche(accumulator)
    }

    private static func round(_ lane: UInt64, _ input: UInt64) -> UInt64 {
        (lane &+ input &* prime2).rotated(31) &* prime1
    }

    private static func merge(_ accumulator: UInt64, _ lane: UInt64) -> UInt64 {
        (accumulator ^ round(0, lane)) &* prime1 &+ prime4
    }

    private static func avalanche(_ value: UInt64) -> UInt64 {
        var hash = value
        hash ^= hash >> 33
        hash &*= prime2
        hash ^= hash >> 29
        hash &*= prime3
        hash ^= hash >> 32
        return hash
    }

    /// Little-endian whatever the host, so the digest is the same on every machine.
    private static func word64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
        var word: UInt64 = 0
        for index in (0..<8).reversed() { word = word << 8 | UInt64(bytes[offset + index]) }
        return word
    }

    private static func word32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        var word: UInt32 = 0
        for index in (0..<4).reversed() { word = word << 8 | UInt32(bytes[offset + index]) }
        return word
    }
}

extension UInt64 {
    fileprivate func rotated(_ bits: UInt64) -> UInt64 { self << bits | self >> (64 - bits) }
}
