import SiloCore

/// Layout of one chunk file, format version 1 (see FORMAT.md).
struct ChunkFileLayout: Equatable {
    static let magic: [UInt8] = Array("SILOCHNK".utf8)
    static let version: UInt32 = 1
    static let headerBytes = 4096
    static let alignment: Int64 = 4096

    let dataBytes: Int64
    let blockBytes: Int

    var blockCount: Int { Int((dataBytes + Int64(blockBytes) - 1) / Int64(blockBytes)) }
    var paddedDataBytes: Int64 { ByteCount(dataBytes).roundedUp(toMultipleOf: Self.alignment).bytes }
    var tableOffset: Int64 { Int64(Self.headerBytes) + paddedDataBytes }
    var tableBytes: Int64 { ByteCount(Int64(blockCount * 4)).roundedUp(toMultipleOf: Self.alignment).bytes }
    /// Bytes the file takes: what capacity and `bytes_stored` count.
    var fileBytes: Int64 { tableOffset + tableBytes }

    /// Data bytes in block `index` (the last one may be short).
    func bytes(inBlock index: Int) -> Int {
        Int(min(Int64(blockBytes), dataBytes - Int64(index) * Int64(blockBytes)))
    }
}

/// The 4096-byte header of a chunk file.
struct ChunkFileHeader: Equatable {
    let id: ChunkID
    let layout: ChunkFileLayout
    let crc32c: UInt32

    func encoded() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: ChunkFileLayout.headerBytes)
        bytes.replaceSubrange(0..<8, with: ChunkFileLayout.magic)
        bytes.storeLittleEndian(ChunkFileLayout.version, at: 8)
        bytes.storeLittleEndian(UInt32(ChunkFileLayout.headerBytes), at: 12)
        bytes.storeLittleEndian(UInt64(layout.dataBytes), at: 16)
        bytes.storeLittleEndian(crc32c, at: 24)
        bytes.storeLittleEndian(UInt32(layout.blockBytes), at: 28)
        bytes.storeLittleEndian(UInt32(layout.blockCount), at: 32)
        let idBytes = Array(id.value.utf8)
        bytes.storeLittleEndian(UInt16(idBytes.count), at: 36)
        bytes.replaceSubrange(40..<(40 + idBytes.count), with: idBytes)
        bytes.storeLittleEndian(CRC32C.checksum(Array(bytes[0..<4092])), at: 4092)
        return bytes
    }

    /// Parses and checks a header; nil when anything is off (a corrupt or foreign file).
    init?(decoding bytes: [UInt8]) {
        guard bytes.count == ChunkFileLayout.headerBytes,
              Array(bytes[0..<8]) == ChunkFileLayout.magic,
              bytes.loadLittleEndian(UInt32.self, at: 4092) == CRC32C.checksum(Array(bytes[0..<4092])),
              bytes.loadLittleEndian(UInt32.self, at: 8) == ChunkFileLayout.version,
              bytes.loadLittleEndian(UInt32.self, at: 12) == UInt32(ChunkFileLayout.headerBytes)
        else { return nil }
        let dataBytes = bytes.loadLittleEndian(UInt64.self, at: 16)
        let blockBytes = Int(bytes.loadLittleEndian(UInt32.self, at: 28))
        let idLength = Int(bytes.loadLittleEndian(UInt16.self, at: 36))
        guard dataBytes <= UInt64(Int64.max), blockBytes >= 4096, blockBytes % 4096 == 0,
              (1...ChunkID.lengthMax).contains(idLength),
              let id = try? ChunkID(String(decoding: bytes[40..<(40 + idLength)], as: UTF8.self))
        else { return nil }
        let layout = ChunkFileLayout(dataBytes: Int64(dataBytes), blockBytes: blockBytes)
        guard bytes.loadLittleEndian(UInt32.self, at: 32) == UInt32(layout.blockCount) else { return nil }
        self.id = id
        self.layout = layout
        self.crc32c = bytes.loadLittleEndian(UInt32.self, at: 24)
    }

    init(id: ChunkID, layout: ChunkFileLayout, crc32c: UInt32) {
        self.id = id
        self.layout = layout
        self.crc32c = crc32c
    }
}

extension Array where Element == UInt8 {
    mutating func storeLittleEndian<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        Swift.withUnsafeBytes(of: value.littleEndian) { replaceSubrange(offset..<(offset + $0.count), with: $0) }
    }

    func loadLittleEndian<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        var value = T.zero
        for index in (0..<MemoryLayout<T>.size).reversed() {
            value = value << 8 | T(self[offset + index])
        }
        return value
    }
}
