@testable import SiloCore
import Testing

@Suite struct AccessKeyPairTests {
    @Test func generatedPairsHaveTheAWSShape() {
        let uppercaseAndDigits = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        let base64 = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        var seen = Set<String>()
        for _ in 0..<200 {
            let pair = AccessKeyPair.generate()
            #expect(pair.accessKey.count == 20 && pair.accessKey.hasPrefix("SILO"))
            #expect(pair.accessKey.allSatisfy(uppercaseAndDigits.contains))
            #expect(pair.secretKey.count == 40 && pair.secretKey.allSatisfy(base64.contains))
            seen.insert(pair.accessKey)
        }
        // 16 characters of 36 make a collision in 200 draws vanishingly unlikely; one means a broken source.
        #expect(seen.count == 200)
    }

    @Test func base64MatchesRFC4648() {
        #expect(AccessKeyPair.base64(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(AccessKeyPair.base64([0xFB, 0xFF, 0xBF]) == "+/+/")
    }

    @Test func importedPairsAreChecked() throws {
        #expect(try AccessKeyPair(accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
            .accessKey == "AKIAIOSFODNN7EXAMPLE")
        #expect(throws: AccessKeyError.accessKeyLength(2)) { try AccessKeyPair(accessKey: "ab", secretKey: "12345678") }
        #expect(throws: AccessKeyError.accessKeyCharacter(UInt8(ascii: "/"))) {
            try AccessKeyPair(accessKey: "abc/def", secretKey: "12345678")
        }
        #expect(throws: AccessKeyError.secretKeyLength(7)) { try AccessKeyPair(accessKey: "abc", secretKey: "1234567") }
        #expect(throws: AccessKeyError.secretKeyCharacter(UInt8(ascii: " "))) {
            try AccessKeyPair(accessKey: "abc", secretKey: "1234 5678")
        }
    }
}
