// Backward rules of the fused kernels, dispatched from Gradients.swift.

import Foundation

enum FusedGradients {
    static func vjp(_ node: GradNode, _ g: Tensor) -> [Tensor?] {
        let s = node.saved
        switch g.dtype {
        case .float32: return typed(node, g, s, Float.self)
        case .float64: return typed(node, g, s, Double.self)
        default: preconditionFailure("backward of \(node.op): unsupported dtype \(g.dtype)")
        }
    }

    static func typed<T: TensorFloat>(_ node: GradNode, _ g: Tensor, _ s: [Tensor], _ t: T.Type) -> [Tensor?] {
        switch node.op {
        case .softmax:
            return [FusedKernels.softmaxBackward(s[0], g, log: false, t)]
        case .logSoftmax:
            return [FusedKernels.softmaxBackward(s[0], g, log: true, t)]
        case .layerNorm:
            let (dx, dw, db) = FusedKernels.normBackward(s[0], s[1], s[2], s[3], g, t)
            return [dx, dw, db]
        case .rmsNorm:
            let (dx, dw, _) = FusedKernels.normBackward(s[0], s[1], nil, s[2], g, t)
            return [dx, dw]
        case .gelu, .silu:
            return [FusedKernels.activationBackward(s[0], g, op: node.op)]
        case .crossEntropy(let ignore):
            return [FusedKernels.crossEntropyBackward(s[0], s[1], s[2], g, ignoreIndex: ignore, t), nil]
        case .attention(let o):
            let (dq, dk, dv) = FusedKernels.attentionBackward(s[0], s[1], s[2], s[3], s[4], o.hasMask ? s[5] : nil,
                                                              o, g, t)
            return [dq, dk, dv]
        case .rope(let style):
            return [FusedKernels.rope(g.contiguous(), s[0], s[1], style: style, inverse: true)]
        default:
            preconditionFailure("FusedGradients: \(node.op) is not a fused op")
        }
    }
}
