// User-data entry points throw typed errors instead of trapping: Tensor(validating:shape:),
// Tensor(bytes:shape:dtype:) and Tensor(storage:byteOffset:shape:dtype:). (Traps for programmer
// errors cannot be tested in-process and are not covered here.)

import ScionTensor
import Testing

struct ErrorTests {
    @Test func validatingCountMismatch() {
        #expect(throws: TensorError.elementCountMismatch(expected: 4, actual: 3, shape: [2, 2])) {
            try Tensor(validating: [1, 2, 3], shape: [2, 2])
        }
        #expect(throws: TensorError.invalidShape([2, -1])) { try Tensor(validating: [1, 2], shape: [2, -1]) }
        let ok = try? Tensor(validating: [1, 2, 3, 4], shape: [2, 2])
        #expect(ok?.doubles() == [1, 2, 3, 4])
        #expect((try? Tensor(validating: [], shape: [0, 5]))?.shape == [0, 5])
    }

    @Test func bytesCountMismatch() {
        let bytes: [UInt8] = [0, 0, 128, 63, 0, 0, 0, 64]   // Float 1.0, 2.0 little-endian
        bytes.withUnsafeBytes { raw in
            #expect(throws: TensorError.byteCountMismatch(expected: 12, actual: 8, shape: [3], dtype: .float32)) {
                try Tensor(bytes: raw, shape: [3], dtype: .float32)
            }
            #expect(throws: TensorError.invalidShape([-2])) { try Tensor(bytes: raw, shape: [-2], dtype: .float32) }
            #expect(throws: TensorError.byteCountMismatch(expected: 16, actual: 8, shape: [2], dtype: .float64)) {
                try Tensor(bytes: raw, shape: [2], dtype: .float64)
            }
            let t = try? Tensor(bytes: raw, shape: [2], dtype: .float32)
            #expect(t?.doubles() == [1, 2])
            #expect((try? Tensor(bytes: raw, shape: [4], dtype: .bfloat16))?.doubles() == [0, 1, 0, 2])
        }
    }

    @Test func storageViewOutOfBounds() {
        let storage = Storage(byteCount: 16)
        #expect(throws: TensorError.self) { try Tensor(storage: storage, byteOffset: 8, shape: [3], dtype: .float32) }
        #expect(throws: TensorError.self) { try Tensor(storage: storage, byteOffset: 2, shape: [1], dtype: .float32) }
        #expect(throws: TensorError.self) { try Tensor(storage: storage, byteOffset: -4, shape: [1], dtype: .float32) }
        #expect(throws: TensorError.invalidShape([-1])) { try Tensor(storage: storage, byteOffset: 0, shape: [-1], dtype: .float32) }
        let ok = try? Tensor(storage: storage, byteOffset: 8, shape: [2], dtype: .float32)
        #expect(ok?.doubles() == [0, 0])
    }
}
