// The lineage manifest's digests: SHA-256 test vectors (FIPS 180-4), incremental hashing in
// arbitrary chunks, and the in-memory weights digest equal to the digest of the saved file.

import Foundation
import Testing
import ScionTensor
@testable import ScionCheckpoint

@Suite("Lineage")
struct LineageTests {
    @Test("SHA-256 test vectors (FIPS 180-4)")
    func sha256() {
        #expect(SHA256.hex(Data()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Data("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test("incremental hashing in any chunking equals one shot")
    func incremental() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        let whole = SHA256.hex(Data(bytes))
        for chunk in [1, 3, 63, 64, 65, 200, 999] {
            var h = SHA256()
            var i = 0
            while i < bytes.count { h.update(Array(bytes[i..<min(i + chunk, bytes.count)])); i += chunk }
            #expect(h.finalizeHex() == whole, "chunk \(chunk)")
        }
    }

    @Test("the in-memory weights digest equals the saved file's")
    func tensorsDigest() throws {
        let tensors = ["b.weight": Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]), "a.bias": Tensor([0.5, -1], shape: [2]),
                       "c": Tensor([7], shape: [1]).cast(.float16)]
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("scion-lineage-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: dir.appendingPathComponent("model.safetensors").path)
        #expect(try Lineage.digest(ofTensors: tensors) == (try Lineage.weightsDigest(folder: dir.path)))
        #expect(try Lineage.digest(path: dir.path) == (try Lineage.weightsDigest(folder: dir.path)))
        #expect(try Lineage.fileDigest(dir.appendingPathComponent("model.safetensors").path) == (try Lineage.weightsDigest(folder: dir.path)))
        #expect(throws: CheckpointError.self) { try Lineage.digest(path: dir.appendingPathComponent("missing").path) }
    }
}
