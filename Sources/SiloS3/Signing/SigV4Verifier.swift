import Foundation

/// Verifies the SigV4 signature of an S3 request, by `Authorization` header or presigned URL.
///
/// Checks run cheapest first, and the key store is asked only once the request is well-formed and in
/// its time window, so garbage and replays of stale requests cost no database round trip.
package struct SigV4Verifier: Sendable {
    /// The most a header-signed request's time may differ from ours: 15 minutes, as S3 allows.
    package static let clockSkewSecondsMaxDefault: Int64 = 15 * 60

    /// The region clients must sign for, or nil to accept any (clients disagree: `us-east-1`, `auto`, …).
    package var region: String?

    /// SHA-256 of no bytes.
    static let emptyPayloadSHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    package var clockSkewSecondsMax: Int64

    package init(region: String? = nil, clockSkewSecondsMax: Int64 = SigV4Verifier.clockSkewSecondsMaxDefault) {
        self.region = region
        self.clockSkewSecondsMax = clockSkewSecondsMax
    }

    /// Verifies `request` as of `now`. `secretKey` returns the secret of an access key, nil when there is no
    /// such key, or throws `.credentialStoreUnavailable` when it cannot tell.
    package func verify(_ request: SignedRequest, now: Date,
                       secretKey: (String) async throws(SigV4Error) -> String?) async throws(SigV4Error)
        -> SigV4Verification {
        let authorization = try SigV4Authorization(request: request)
        let context = try check(request, authorization: authorization, now: now)
        guard let secret = try await secretKey(authorization.scope.accessKey) else {
            throw .invalidAccessKeyId(authorization.scope.accessKey)
        }
        return try finish(context, authorization: authorization, secret: secret)
    }

    /// The synchronous form, for a secret already at hand (tests, a static key list).
    package func verify(_ request: SignedRequest, now: Date,
                       secretKey: (String) throws(SigV4Error) -> String?) throws(SigV4Error) -> SigV4Verification {
        let authorization = try SigV4Authorization(request: request)
        let context = try check(request, authorization: authorization, now: now)
        guard let secret = try secretKey(authorization.scope.accessKey) else {
            throw .invalidAccessKeyId(authorization.scope.accessKey)
        }
        return try finish(context, authorization: authorization, secret: secret)
    }

    /// What the checks before the key lookup established.
    private struct Context {
        var payload: PayloadHash
        var canonicalRequest: String
    }

    private func check(_ request: SignedRequest, authorization: SigV4Authorization,
                       now: Date) throws(SigV4Error) -> Context {
        if let region, authorization.scope.region != region {
            let reason = "the region '\(authorization.scope.region)' is wrong; expecting '\(region)'"
            switch authorization.kind {
            case .header: throw .authorizationHeaderMalformed(reason)
            case .presigned: throw .authorizationQueryMalformed(reason)
            }
        }
        let nowSeconds = Int64(now.timeIntervalSince1970.rounded(.down))
        let payload: PayloadHash
        var signedPayloadHash: String? = nil
        let excludedParameter: String?
        switch authorization.kind {
        case .header:
            guard abs(nowSeconds - authorization.timestampEpochSeconds) <= clockSkewSecondsMax else {
                throw .requestTimeTooSkewed
            }
            guard let value = request.header("x-amz-content-sha256") else {
                // Generic SigV4 signers (curl --aws-sigv4 before 8.1) send no x-amz-content-sha256 and sign the
                // hash of an empty payload whatever the body. Such a body is not covered by the signature, as
                // with UNSIGNED-PAYLOAD.
                payload = .unsigned
                signedPayloadHash = Self.emptyPayloadSHA256
                excludedParameter = nil
                break
            }
            guard let parsed = PayloadHash(headerValue: value.trimmingSpaces().description) else {
                throw .invalidContentSHA256(value)
            }
            payload = parsed
            excludedParameter = nil
        case .presigned(let expiresSeconds):
            guard authorization.timestampEpochSeconds - nowSeconds <= clockSkewSecondsMax else { throw .notYetValid }
            guard nowSeconds <= authorization.timestampEpochSeconds + expiresSeconds else { throw .expired }
            // A presigned URL cannot cover a body it has not seen; a client may pin one with X-Amz-Content-Sha256.
            let pinned = request.queryParameters()?.first { $0.name == "X-Amz-Content-Sha256" }?.value
            if let pinned {
                guard let parsed = PayloadHash(headerValue: pinned), !parsed.isStreaming else {
                    throw .invalidContentSHA256(pinned)
                }
                payload = parsed
            } else {
                payload = .unsigned
            }
            excludedParameter = "X-Amz-Signature"
        }
        guard let canonicalRequest = SigV4Signature.canonicalRequest(
            request, signedHeaders: authorization.signedHeaders, payloadHash: signedPayloadHash ?? payload.headerValue,
            excludingQueryParameter: excludedParameter)
        else {
            // Either a malformed escape or a signed header the request lacks: the signature cannot match.
            if SigV4Signature.canonicalURI(rawPath: request.rawPath) == nil { throw .invalidURI }
            throw .signatureDoesNotMatch
        }
        return Context(payload: payload, canonicalRequest: canonicalRequest)
    }

    private func finish(_ context: Context, authorization: SigV4Authorization,
                        secret: String) throws(SigV4Error) -> SigV4Verification {
        let stringToSign = SigV4Signature.stringToSign(canonicalRequest: context.canonicalRequest,
                                                       timestamp: authorization.timestamp,
                                                       scope: authorization.scope)
        let signingKey = SigV4Signature.signingKey(secretKey: secret, scope: authorization.scope)
        let expected = SigV4Signature.signature(signingKey: signingKey, stringToSign: stringToSign)
        guard Hex.constantTimeEqual(expected, authorization.signature) else { throw .signatureDoesNotMatch }
        return SigV4Verification(
            accessKey: authorization.scope.accessKey, payload: context.payload, isPresigned: authorization.kind != .header,
            chunkSigner: SigV4ChunkSigner(signingKey: signingKey, timestamp: authorization.timestamp,
                                          scope: authorization.scope, seedSignature: authorization.signature))
    }
}
