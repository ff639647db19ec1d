// The growth-operator protocol (ARCHITECTURE.md §2.7) and the registry of operators. Operators map
// a Checkpoint to a larger (or smaller) one; `validate` runs before any tensor is built or file
// written, and every function-preserving operator is tested by loading its output fresh.

import Foundation

/// Maps a checkpoint to a grown (or shrunk) one: deeper, wider, more heads.
///
/// Conformers validate the target shape in ``validate(_:)`` (throwing
/// ``GrowthError/constraintViolated(operator:constraint:detail:)`` that names the rule), and
/// ``grow(_:)`` calls it first. The result carries the source's lineage plus one step.
public protocol GrowthOperator: Sendable {
    /// The registry name, as the CLI and the lineage manifest spell it ("gstack", "insert", "widen").
    static var name: String { get }
    /// True if, for these parameters, the grown model computes exactly the source's function
    /// (Net2Net-style) for every input; false for approximate operators (measure their KL).
    var preservesFunction: Bool { get }
    /// Whether growing `source` with these parameters is exactly function-preserving (defaults to
    /// ``preservesFunction``; operators whose exactness depends on the architecture or shape refine it).
    func preservesFunction(for source: Checkpoint) -> Bool
    /// The parameters as strings, for the lineage manifest.
    var parameters: [String: String] { get }
    /// Checks that `source` can be grown as configured; writes and builds nothing.
    ///
    /// - Throws: ``GrowthError`` naming the failed constraint.
    func validate(_ source: Checkpoint) throws
    /// The grown checkpoint.
    ///
    /// - Throws: ``GrowthError`` (from ``validate(_:)``) when the target shape is impossible.
    func grow(_ source: Checkpoint) throws -> Checkpoint
}

extension GrowthOperator {
    public func preservesFunction(for source: Checkpoint) -> Bool { preservesFunction }

    /// Throws a constraint violation for this operator unless `condition` holds.
    func require(_ condition: Bool, _ constraint: String, _ detail: @autoclosure () -> String) throws {
        if !condition { throw GrowthError.constraintViolated(operator: Self.name, constraint: constraint, detail: detail()) }
    }
}

/// The registry: every growth operator type, in one explicit list (contract tests run over it).
public enum GrowthOperators {
    /// All operator types.
    public static let all: [any GrowthOperator.Type] = [GStack.self, ZeroBlockInsertion.self, WidthExpansion.self,
                                                            VocabularyExpansion.self, InheritanceShrink.self,
                                                            LearngeneExpansion.self]

    /// The registry names.
    public static var names: [String] { all.map { $0.name } }
}
