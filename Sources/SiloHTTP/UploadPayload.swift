import SiloGateway
import SiloS3
import Foundation
import HTTPTypes
import NIOCore
import Synchronization

/// How an upload's body arrives and what must be checked against it, read from the request's headers
/// before the first byte: the payload form (plain or aws-chunked), the object's length, and the
/// `x-amz-checksum-*` the client sent or announced as a trailer.
///
/// PutObject and UploadPart take their bodies through this one reading, so both accept every payload form
/// and checksum the same way, and the aws-chunked framing never reaches the stored bytes.
struct UploadPayload: Sendable {
    let payload: PayloadHash
    /// The object's length: `x-amz-decoded-content-length` for aws-chunked bodies, else Content-Length;
    /// nil when unknown.
    let objectLength: Int64?
    /// The checksum to compute and where its expected value comes from; nil when the client sent none.
    let checksum: ChecksumExpectation?
    let chunkSigner: SigV4ChunkSigner?
    let trailerHeader: String?
    /// Filled by the aws-chunked decoder once the body ended; read when the checksum comes as a trailer.
    let trailers = ReceivedTrailers()

    static let decodedContentLength = HTTPField.Name("x-amz-decoded-content-length")!
    static let trailer = HTTPField.Name("x-amz-trailer")!
    static let sdkChecksumAlgorithm = HTTPField.Name("x-amz-sdk-checksum-algorithm")!

    init(_ request: S3Request, verification: SigV4Verification) throws {
        let headers = request.headers
        payload = verification.payload
        chunkSigner = verification.chunkSigner
        if payload.hasChunkSignatures, chunkSigner == nil {
            throw S3Error(.invalidRequest, message: "Signed aws-chunked payloads need AWS4-HMAC-SHA256 (SigV4) authentication.")
        }
        trailerHeader = headers[Self.trailer]

        let contentLength = try Self.length(headers[.contentLength], name: "Content-Length")
        if payload.isStreaming {
            // The framing's own length is of no interest; the object's is announced separately.
            objectLength = try Self.length(headers[Self.decodedContentLength], name: "x-amz-decoded-content-length")
        } else {
            if headers[Self.decodedContentLength] != nil, contentLength == nil {
                throw S3Error(.invalidRequest, message: "x-amz-decoded-content-length is only allowed with aws-chunked payloads.")
            }
            objectLength = contentLength
        }

        // The checksum: one x-amz-checksum-* header, or one announced in x-amz-trailer, not both.
        var headerChecksums: [(ChecksumAlgorithm, String)] = []
        for algorithm in ChecksumAlgorithm.allCases {
            if let value = headers[HTTPField.Name(algorithm.headerName)!] { headerChecksums.append((algorithm, value)) }
        }
        guard headerChecksums.count <= 1 else {
            throw S3Error(.invalidRequest,
                          message: "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
        }
        let announced = (trailerHeader ?? "").split(separator: ",")
            .map { $0.trimmingSpaces().lowercased() }.filter { !$0.isEmpty }
        if !announced.isEmpty, payload != .streamingUnsignedTrailer, payload != .streamingSignedTrailer {
            throw S3Error(.invalidRequest,
                          message: "x-amz-trailer needs a trailer payload (STREAMING-UNSIGNED-PAYLOAD-TRAILER or STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER).")
        }
        let trailerChecksums = announced.compactMap { ChecksumAlgorithm(headerName: $0) }
        guard trailerChecksums.count <= 1, trailerChecksums.isEmpty || headerChecksums.isEmpty else {
            throw S3Error(.invalidRequest,
                          message: "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
        }
        if let (algorithm, value) = headerChecksums.first {
            // Well-formedness is checked now, before the body: a bad value should not cost an upload.
            guard let decoded = Data(base64Encoded: value), decoded.count == algorithm.digestByteCount else {
                throw ChecksumError.invalidValue(algorithm).s3Error
            }
            checksum = ChecksumExpectation(algorithm: algorithm, source: .header(value))
        } else if let algorithm = trailerChecksums.first {
            checksum = ChecksumExpectation(algorithm: algorithm, source: .trailer)
        } else {
            checksum = nil
        }
        if let name = headers[Self.sdkChecksumAlgorithm] {
            guard let algorithm = ChecksumAlgorithm(name: name) else {
                throw S3Error(.invalidRequest, message: "Value for x-amz-sdk-checksum-algorithm header is invalid.")
            }
            guard let checksum else {
                throw S3Error(.invalidRequest, message: "x-amz-sdk-checksum-algorithm specified, but no corresponding "
                    + "x-amz-checksum-* or x-amz-trailer headers were found.")
            }
            guard checksum.algorithm == algorithm else {
                throw S3Error(.invalidRequest, message: "Value for x-amz-sdk-checksum-algorithm header is invalid.")
            }
        }
    }

    /// The body the pipeline stores: the object's bytes, without any aws-chunked framing.
    func objectBytes<Base: AsyncSequence & Sendable>(of body: Base) -> UploadBody<Base> where Base.Element == ByteBuffer {
        guard payload.isStreaming else { return UploadBody(base: body, decoding: nil) }
        return UploadBody(base: body, decoding: .init(
            payload: payload, signer: payload.hasChunkSignatures ? chunkSigner : nil,
            decodedContentLength: objectLength, trailerHeader: trailerHeader, trailers: trailers))
    }

    /// The SHA-256 the signature covers, to be checked after the last byte; nil when none is.
    var expectedSHA256: [UInt8]? {
        if case .sha256(let hex) = payload { return Hex.decode(hex) }
        return nil
    }

    /// The checksum the client expects, once the body has ended (a trailer's value is known only then).
    func expectedChecksumValue() throws -> String? {
        guard let checksum else { return nil }
        switch checksum.source {
        case .header(let value): return value
        case .trailer:
            // The decoder refused a body whose announced trailer did not come, so it is here.
            guard let value = trailers.value(named: checksum.algorithm.headerName) else {
                throw AWSChunkedError.missingTrailer(checksum.algorithm.headerName).s3Error
            }
            return value
        }
    }

    private static func length(_ text: String?, name: String) throws -> Int64? {
        guard let text else { return nil }
        guard let length = Int64(text), length >= 0 else {
            throw S3Error(.invalidArgument, message: "\(name) is not a number.")
        }
        return length
    }
}

/// An `x-amz-checksum-*` a client asked for: the algorithm, and where its value comes from.
struct ChecksumExpectation: Sendable {
    enum Source: Sendable {
        case header(String)
        case trailer
    }

    var algorithm: ChecksumAlgorithm
    var source: Source
}

/// The trailers of an aws-chunked body, set once by the decoding iterator when the body ends.
final class ReceivedTrailers: Sendable {
    private let received = Mutex<[AWSChunkedTrailer]>([])

    func set(_ trailers: [AWSChunkedTrailer]) { received.withLock { $0 = trailers } }

    func value(named name: String) -> String? { received.withLock { $0.first { $0.name == name }?.value } }
}

/// A request body as the upload pipeline takes it: the bytes as they came, or the payload of an aws-chunked
/// body, decoded as it streams — slices of the request's own buffers, no copy. A body whose framing,
/// chunk signatures, length or trailer fail ends in the S3 error for it, before anything is committed.
struct UploadBody<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer

    struct Decoding: Sendable {
        var payload: PayloadHash
        var signer: SigV4ChunkSigner?
        var decodedContentLength: Int64?
        var trailerHeader: String?
        var trailers: ReceivedTrailers
    }

    let base: Base
    let decoding: Decoding?

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        var decoder: AWSChunkedDecoder?
        let trailers: ReceivedTrailers?
        /// Payload slices of the last buffer not yet handed on.
        var ready: [ByteBuffer] = []
        var readyIndex = 0
        var ended = false

        mutating func next() async throws -> ByteBuffer? {
            guard decoder != nil else { return try await base.next() }
            while true {
                if readyIndex < ready.count {
                    defer { readyIndex += 1 }
                    return ready[readyIndex]
                }
                ready.removeAll(keepingCapacity: true)
                readyIndex = 0
                if ended { return nil }
                guard let buffer = try await base.next() else {
                    do {
                        trailers?.set(try decoder!.finish())
                    } catch {
                        throw error.s3Error
                    }
                    ended = true
                    return nil
                }
                try decode(buffer)
            }
        }

        private mutating func decode(_ buffer: ByteBuffer) throws {
            var runs: [(offset: Int, count: Int)] = []
            do {
                try buffer.withUnsafeReadableBytes { raw in
                    try decoder!.decode(raw) { run in
                        runs.append((raw.baseAddress.map { run.baseAddress! - $0 } ?? 0, run.count))
                    }
                }
            } catch let error as AWSChunkedError {
                throw error.s3Error
            }
            for run in runs where run.count > 0 {
                ready.append(buffer.getSlice(at: buffer.readerIndex + run.offset, length: run.count)!)
            }
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        guard let decoding else { return AsyncIterator(base: base.makeAsyncIterator(), decoder: nil, trailers: nil) }
        let decoder = AWSChunkedDecoder(payload: decoding.payload, signer: decoding.signer,
                                        decodedContentLength: decoding.decodedContentLength,
                                        trailerHeader: decoding.trailerHeader)
        return AsyncIterator(base: base.makeAsyncIterator(), decoder: decoder, trailers: decoding.trailers)
    }
}
