// `scion demo`: a small end-to-end run of the engine — a two-layer MLP learns the two-spirals
// problem with plain gradient descent through Scion's autograd. Later issues grow this into the
// lifecycle demo (pretrain, grow, fine-tune, compress, generate, report).

import ArgumentParser
import Foundation
import ScionTensor

/// The two-spirals data set: `n` points per class, seeded.
func twoSpirals(pointsPerClass n: Int, noise: Double, generator: inout RandomGenerator) -> (x: Tensor, y: Tensor) {
    var xs: [Double] = [], ys: [Int] = []
    for c in 0..<2 {
        for i in 0..<n {
            let r = Double(i) / Double(n) * 3 + 0.3
            let theta = Double(i) / Double(n) * 3.2 * Double.pi + Double(c) * Double.pi
            xs += [r * cos(theta) + noise * generator.nextNormal(), r * sin(theta) + noise * generator.nextNormal()]
            ys.append(c)
        }
    }
    return (Tensor(doubles: xs, shape: [2 * n, 2], dtype: .float32), Tensor(indices: ys))
}

/// Result of the MLP demo.
struct DemoResult: Codable {
    var steps: Int
    var initialLoss: Double
    var finalLoss: Double
    var accuracy: Double
    var seconds: Double
}

/// Trains a 2 → h → h → 2 tanh MLP on two spirals with full-batch gradient descent.
func runSpiralDemo(steps: Int, hidden: Int, learningRate: Double, seed: UInt64,
                   progress: (Int, Double) -> Void) -> DemoResult {
    var g = RandomGenerator(seed: seed)
    let (x, y) = twoSpirals(pointsPerClass: 200, noise: 0.05, generator: &g)
    func layer(_ i: Int, _ o: Int) -> (Tensor, Tensor) {
        (Tensor.normal([i, o], std: (1 / Double(i)).squareRoot(), generator: &g), Tensor.zeros([o]))
    }
    var params: [Tensor] = {
        let (w1, b1) = layer(2, hidden), (w2, b2) = layer(hidden, hidden), (w3, b3) = layer(hidden, 2)
        return [w1, b1, w2, b2, w3, b3]
    }()
    func forward(_ p: [Tensor]) -> Tensor {
        let h1 = (x.matmul(p[0]) + p[1]).tanh()
        let h2 = (h1.matmul(p[2]) + p[3]).tanh()
        return h2.matmul(p[4]) + p[5]                               // [N, 2] logits
    }
    let start = Date()
    var first = Double.nan, last = Double.nan
    for step in 0..<steps {
        let (loss, grads) = valueAndGradients(at: params) { p in forward(p).crossEntropy(targets: y) }
        last = loss.item()
        if step == 0 { first = last }
        params = withoutGradients { zip(params, grads).map { $0 - $1 * learningRate } }
        if step % max(1, steps / 10) == 0 || step == steps - 1 { progress(step, last) }
    }
    let predictions = withoutGradients { forward(params).argmax(axis: 1) }.ints()
    let labels = y.ints()
    let accuracy = Double(zip(predictions, labels).filter { $0 == $1 }.count) / Double(labels.count)
    return DemoResult(steps: steps, initialLoss: first, finalLoss: last, accuracy: accuracy,
                      seconds: Date().timeIntervalSince(start))
}

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo", abstract: "Train a small MLP on two spirals with Scion's autograd.")

    @Option(help: "Gradient-descent steps.") var steps = 1500
    @Option(help: "Hidden width.") var hidden = 64
    @Option(help: "Learning rate.") var learningRate = 0.5
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Flag(help: "Print the result as JSON.") var json = false

    func validate() throws {
        guard steps > 0 else { throw ValidationError("--steps must be positive, got \(steps)") }
        guard hidden > 0 else { throw ValidationError("--hidden must be positive, got \(hidden)") }
        guard learningRate > 0, learningRate.isFinite else { throw ValidationError("--learning-rate must be a positive number") }
    }

    func run() throws {
        let quiet = json
        let r = runSpiralDemo(steps: steps, hidden: hidden, learningRate: learningRate, seed: seed) { step, loss in
            if !quiet { print(String(format: "step %5d  loss %.4f", step, loss)) }
        }
        if json { try printJSON(r); return }
        print(String(format: "two spirals: loss %.4f → %.4f, accuracy %.1f%% in %.1f s", r.initialLoss, r.finalLoss,
                     100 * r.accuracy, r.seconds))
    }
}
