import SiloMetadata

/// What an upload's commit makes of its body.
package enum UploadDestination: Sendable, Equatable {
    /// The key's current version, if `condition` holds when the commit runs (PutObject, CopyObject).
    case object(WriteCondition)
    /// Part `partNumber` of a multipart upload of the same key (UploadPart, UploadPartCopy).
    case part(MultipartUploadID, partNumber: Int)
}

extension UploadPipeline {
    /// Commits a streamed upload to its destination; the version made visible (nil for a part). A refusal
    /// (condition, upload gone) throws and leaves the pending upload to the caller, which abandons it.
    func commit(_ request: UploadRequest, pending: PendingUploadID, attributes: ObjectAttributes,
                chunkCRC32Cs: [UInt32]) async throws -> VersionID? {
        switch request.destination {
        case .object(let condition):
            return try await store.commitUpload(pending, attributes: attributes, chunkCRC32Cs: chunkCRC32Cs,
                                                condition: condition).versionID
        case .part(let upload, let partNumber):
            try await store.commitPart(pending, to: upload, partNumber: partNumber, size: attributes.size,
                                       etag: attributes.etag, chunkCRC32Cs: chunkCRC32Cs)
            return nil
        }
    }
}
