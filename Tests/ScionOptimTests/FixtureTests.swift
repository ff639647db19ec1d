// AdamW, SGD and Lion against torch.optim on committed fixtures (Scripts/fixtures/make_optimizer_fixtures.py):
// two parameter groups with a learning-rate multiplier and weight decay only on "decay", a parameter
// without a gradient on step 2, exact zero gradients, a learning rate that changes every step.

import Foundation
import Testing
import ScionNN
import ScionOptim
import ScionTensor
import ScionTestSupport

struct OptimizerFixture: Decodable {
    struct Group: Decodable { let name: String; let parameters: [String]; let lr_multiplier: Double }
    struct Case: Decodable {
        let name: String
        let kind: String
        let hyper: [String: Hyper]
        let weight_decay: Double
        let `init`: [String: [Float]]
        let grads: [[String: [Float]]]
        let learning_rates: [Double]
        let after: [[String: [Float]]]
    }
    enum Hyper: Decodable {
        case number(Double), flag(Bool)
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) { self = .flag(b) } else { self = .number(try c.decode(Double.self)) }
        }
        var number: Double { if case .number(let d) = self { return d }; fatalError("not a number") }
        var flag: Bool { if case .flag(let b) = self { return b }; fatalError("not a flag") }
    }
    let shapes: [String: [Int]]
    let groups: [Group]
    let cases: [Case]

    static let shared: OptimizerFixture = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/optim/optimizers.json")
        return try! JSONDecoder().decode(OptimizerFixture.self, from: Data(contentsOf: url))
    }()

    static var caseNames: [String] { shared.cases.map(\.name) }

    /// Parameters at their initial values, the groups, and the optimizer the case describes.
    func setUp(_ c: Case) -> (parameters: [String: Parameter], optimizer: any Optimizer) {
        var params: [String: Parameter] = [:]
        for (k, shape) in shapes { params[k] = Parameter(Tensor(c.`init`[k]!, shape: shape)) }
        let groups = groups.map { g in
            ParameterGroup(name: g.name, parameters: g.parameters.map { ($0, params[$0]!) },
                           learningRateMultiplier: g.lr_multiplier, weightDecay: g.name == "decay" ? c.weight_decay : 0)
        }
        let h = c.hyper
        let optimizer: any Optimizer
        switch c.kind {
        case "AdamW":
            optimizer = AdamW(groups: groups, beta1: h["beta1"]!.number, beta2: h["beta2"]!.number,
                              epsilon: h["epsilon"]!.number, amsgrad: h["amsgrad"]!.flag)
        case "SGD":
            optimizer = SGD(groups: groups, momentum: h["momentum"]!.number, dampening: h["dampening"]!.number,
                            nesterov: h["nesterov"]!.flag)
        default:
            optimizer = Lion(groups: groups, beta1: h["beta1"]!.number, beta2: h["beta2"]!.number)
        }
        return (params, optimizer)
    }

    /// The case's gradients for `step`, keyed by the parameters' current values.
    func gradients(_ c: Case, step: Int, _ params: [String: Parameter]) -> Gradients {
        var grads = Gradients()
        for (k, g) in c.grads[step] { grads[params[k]!.value] = Tensor(g, shape: shapes[k]!) }
        return grads
    }
}

@Suite struct FixtureTests {
    // torch and Scion run the same Float32 operations in the same order; they differ only where torch's
    // vectorised kernels (lerp, add/addcmul with alpha) use a fused multiply-add, by about 1 ulp per step
    // (measured: Lion bitwise equal, AdamW and SGD max |Δ| 6e-8), so 1e-6 relative bounds five steps with margin.
    static let tolerance = Tolerance(rtol: 1e-6, atol: 1e-7)

    @Test(arguments: OptimizerFixture.caseNames)
    func matchesTorch(_ name: String) {
        let fixture = OptimizerFixture.shared
        let c = fixture.cases.first { $0.name == name }!
        let (params, optimizer) = fixture.setUp(c)
        for step in 0..<c.after.count {
            optimizer.step(gradients: fixture.gradients(c, step: step, params), learningRate: c.learning_rates[step])
            for (k, expected) in c.after[step] {
                let r = compare(params[k]!.value.doubles(), shape: [expected.count], expected.map(Double.init),
                                shape: [expected.count], Self.tolerance, label: "\(name) step \(step + 1) \(k)")
                #expect(r.ok, "\(r)")
            }
        }
        #expect(optimizer.stepCount == c.after.count)
        // "emb" had no gradient on step 2, so torch (and Scion) counted one update less for it.
        #expect(optimizer.state().parameters["emb"]?.step == c.after.count - 1)
    }
}
