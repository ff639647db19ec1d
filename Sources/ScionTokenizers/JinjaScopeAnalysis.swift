// Static scope analysis for the template's top level, mirroring Jinja2's idtracking.
// Jinja2 compiles each top-level name to one local: if the first access to it at top level
// is an assignment, the local starts Undefined (it does not fall back to the render context),
// so a loop or macro that reads the name before the assignment sees Undefined.
// Follows jinja2/idtracking.py (store/load order, if-branch merging); loop and macro bodies
// are not analyzed as frames of their own.

extension JinjaParser {
    /// Names whose first top-level access is an assignment on every path.
    static func namesAssignedBeforeUse(_ nodes: [JinjaNode]) -> Set<String> {
        var first: [String: Bool] = [:]  // true: first access is a store
        walk(nodes, &first)
        return Set(first.filter { $0.value }.keys)
    }

    private static func walk(_ nodes: [JinjaNode], _ first: inout [String: Bool]) {
        for node in nodes {
            switch node {
            case .text, .breakLoop, .continueLoop:
                break
            case .output(let e):
                loads(e, &first)
            case .ifChain(let branches, let otherwise):
                loads(branches[0].0, &first)
                // Later tests run only when earlier ones fail: they belong to the else path,
                // but Jinja visits them like loads before the branches; so do we.
                for (test, _) in branches.dropFirst() { loads(test, &first) }
                let bodies = branches.map(\.1) + [otherwise]
                let results = bodies.map { body -> [String: Bool] in
                    var copy = first
                    walk(body, &copy)
                    return copy
                }
                let newNames = Set(results.flatMap(\.keys)).subtracting(first.keys)
                for name in newNames {
                    // A store on every branch stays a store; anything else resolves from context.
                    first[name] = results.allSatisfy { $0[name] == true }
                }
            case .forLoop(_, let iterable, _, _, _):
                loads(iterable, &first)
            case .set(let target, let e):
                loads(e, &first)
                store(target, &first)
            case .setBlock(let target, _):
                store(target, &first)
            case .macro(let m):
                if first[m.name] == nil { first[m.name] = true }
            case .filterBlock(_, let args, _, _):
                args.positional.forEach { loads($0, &first) }
                args.keywords.forEach { loads($0.1, &first) }
            }
        }
    }

    private static func store(_ target: JinjaTarget, _ first: inout [String: Bool]) {
        switch target {
        case .name(let n):
            if first[n] == nil { first[n] = true }
        case .tuple(let names):
            for n in names where first[n] == nil { first[n] = true }
        case .attribute(let n, _):
            if first[n] == nil { first[n] = false }
        }
    }

    private static func loads(_ e: JinjaExpr, _ first: inout [String: Bool]) {
        switch e {
        case .none, .bool, .int, .double, .string:
            break
        case .name(let n):
            if first[n] == nil { first[n] = false }
        case .list(let items), .tuple(let items):
            items.forEach { loads($0, &first) }
        case .dict(let pairs):
            for (k, v) in pairs {
                loads(k, &first)
                loads(v, &first)
            }
        case .attribute(let t, _), .negate(let t), .plus(let t), .not(let t):
            loads(t, &first)
        case .item(let t, let i):
            loads(t, &first)
            loads(i, &first)
        case .slice(let t, let a, let b, let c):
            loads(t, &first)
            for part in [a, b, c] { if let part { loads(part, &first) } }
        case .call(let f, let args):
            loads(f, &first)
            args.positional.forEach { loads($0, &first) }
            args.keywords.forEach { loads($0.1, &first) }
        case .filter(let t, _, let args, _), .test(let t, _, let args, _, _):
            loads(t, &first)
            args.positional.forEach { loads($0, &first) }
            args.keywords.forEach { loads($0.1, &first) }
        case .and(let a, let b), .or(let a, let b), .binary(_, let a, let b):
            loads(a, &first)
            loads(b, &first)
        case .compare(let a, let rest):
            loads(a, &first)
            rest.forEach { loads($0.1, &first) }
        case .conditional(let value, let test, let otherwise):
            // Jinja visits the test first, then both results.
            loads(test, &first)
            loads(value, &first)
            if let otherwise { loads(otherwise, &first) }
        }
    }
}
