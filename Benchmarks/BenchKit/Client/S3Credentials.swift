import SiloS3

/// Who the bench is to an S3 endpoint: the key pair and the region it signs for (with SiloS3's
/// `SigV4Signer`, the code the gateway verifies with).
package struct S3Credentials: Sendable {
    package static let defaultRegion = SigV4Signer.defaultRegion

    let accessKey: String
    let secretKey: String
    let region: String

    package init(accessKey: String, secretKey: String, region: String = Self.defaultRegion) {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.region = region
    }
}
