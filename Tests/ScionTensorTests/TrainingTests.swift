// End to end: a small MLP learns a nonlinear toy problem (two concentric circles, seeded) with
// plain SGD on the engine's autograd, to at least 95% training accuracy within a few hundred
// full-batch steps. Exercises matmul, broadcasting, tanh, cross-entropy and the optimizer loop.

import Foundation
import ScionTensor
import ScionTestSupport
import Testing

struct TrainingTests {
    /// Points on an inner disc (class 0) and an outer ring (class 1), with noise.
    func circles(count: Int, seed: UInt64) -> (x: Tensor, y: Tensor, labels: [Int]) {
        var g = RandomGenerator(seed: seed)
        var xs: [Float] = [], labels: [Int] = []
        for i in 0..<count {
            let label = i % 2
            let radius = (label == 0 ? 0.5 : 1.5) + 0.25 * (g.nextUniform() - 0.5)
            let angle = 2 * Double.pi * g.nextUniform()
            xs += [Float(radius * Foundation.cos(angle)), Float(radius * Foundation.sin(angle))]
            labels.append(label)
        }
        return (Tensor(xs, shape: [count, 2]), Tensor(indices: labels), labels)
    }

    @Test func mlpLearnsCircles() {
        let data = circles(count: 200, seed: 3)
        var g = RandomGenerator(seed: 11)
        var params = [
            Tensor.normal([2, 32], std: 0.7, generator: &g), Tensor.zeros([32]),
            Tensor.normal([32, 2], std: 0.2, generator: &g), Tensor.zeros([2]),
        ]
        func logits(_ p: [Tensor]) -> Tensor { (data.x.matmul(p[0]) + p[1]).tanh().matmul(p[2]) + p[3] }
        let lr = 0.5
        var firstLoss = 0.0, lastLoss = 0.0
        for step in 0..<300 {
            let (loss, grads) = valueAndGradients(at: params) { logits($0).crossEntropy(targets: data.y) }
            if step == 0 { firstLoss = loss.item() }
            lastLoss = loss.item()
            params = withoutGradients { zip(params, grads).map { $0 - $1 * lr } }
        }
        let predicted = logits(params).argmax(axis: 1).ints()
        let accuracy = Double(zip(predicted, data.labels).filter { $0 == $1 }.count) / Double(data.labels.count)
        #expect(accuracy >= 0.95, "accuracy \(accuracy), loss \(firstLoss) → \(lastLoss)")
        #expect(lastLoss < firstLoss / 4, "loss \(firstLoss) → \(lastLoss)")
    }
}
