/// One trailing header of an aws-chunked body, such as `x-amz-checksum-crc32c: sOO8/Q==`.
package struct AWSChunkedTrailer: Sendable, Equatable {
    /// Lowercased.
    package var name: String
    /// With surrounding spaces removed.
    package var value: String

    package init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}
