/// One trailing header of an aws-chunked body, such as `x-amz-checksum-crc32c: sOO8/Q==`.
public struct AWSChunkedTrailer: Sendable, Equatable {
    /// Lowercased.
    public var name: String
    /// With surrounding spaces removed.
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}
