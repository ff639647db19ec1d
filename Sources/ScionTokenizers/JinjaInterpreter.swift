// Jinja2 evaluator: executes a parsed template against a context and builds the output.
// Follows Jinja2's runtime semantics as used by transformers' chat templates: per-iteration
// scopes for `for` bodies (so plain `set` inside a loop does not leak; namespaces do),
// Undefined values that print as "" but raise when used strictly, getattr-then-getitem for
// `a.b` and getitem-then-getattr for `a['b']`, and an immutable sandbox (no list.append).
// Invariant: every render is bounded — output size, work steps and call depth are limited
// and exceed with ``ChatTemplateError/limitExceeded(what:limit:)``, never a hang or crash.

import Foundation

/// Control flow out of a statement list.
enum JinjaFlow {
    case normal
    case breakLoop
    case continueLoop
}

/// Resource limits for one render.
struct JinjaLimits: Sendable {
    var maxOutputBytes: Int
    var maxSteps: Int
    var maxCallDepth: Int
    var maxCollectionCount: Int
}

/// Evaluates one template render. Not thread-safe; create one per render.
final class JinjaInterpreter {
    var scopes: [[String: JinjaRuntimeValue]]
    var output = ""
    var outputBytes = 0
    var steps = 0
    var callDepth = 0
    /// Whether the `{{ … }}` being evaluated has no variables (Jinja evaluates it while compiling).
    var evaluatingConstantOutput = false
    let limits: JinjaLimits

    init(globals: [String: JinjaRuntimeValue], limits: JinjaLimits) {
        self.limits = limits
        scopes = [globals]
        installBuiltins()
    }

    // MARK: Errors and limits

    func runtime(_ message: String) -> ChatTemplateError { .runtime(message: message) }

    func step() throws {
        steps += 1
        if steps > limits.maxSteps { throw ChatTemplateError.limitExceeded(what: "evaluation steps", limit: limits.maxSteps) }
    }

    func emit(_ s: String) throws {
        outputBytes += s.utf8.count
        if outputBytes > limits.maxOutputBytes {
            throw ChatTemplateError.limitExceeded(what: "output bytes", limit: limits.maxOutputBytes)
        }
        output += s
    }

    func checkCount(_ n: Int) throws {
        if n > limits.maxCollectionCount {
            throw ChatTemplateError.limitExceeded(what: "collection size", limit: limits.maxCollectionCount)
        }
    }

    // MARK: Scopes

    func lookup(_ name: String) -> JinjaRuntimeValue {
        for scope in scopes.reversed() {
            if let v = scope[name] { return v }
        }
        return .undefined("'\(name)' is undefined")
    }

    func assign(_ name: String, _ value: JinjaRuntimeValue) {
        scopes[scopes.count - 1][name] = value
    }

    func assign(_ target: JinjaTarget, _ value: JinjaRuntimeValue) throws {
        switch target {
        case .name(let n):
            assign(n, value)
        case .tuple(let names):
            let items = try iterate(value)
            guard items.count == names.count else {
                throw runtime("cannot unpack \(items.count) values into \(names.count) names")
            }
            for (n, v) in zip(names, items) { assign(n, v) }
        case .attribute(let n, let attr):
            guard case .namespace(let ns) = lookup(n) else {
                throw runtime("cannot assign attribute on non-namespace object '\(n)'")
            }
            ns.attributes[attr] = value
        }
    }

    // MARK: Statements

    func execute(_ nodes: [JinjaNode]) throws -> JinjaFlow {
        for node in nodes {
            let flow = try execute(node)
            if case .normal = flow { continue }
            return flow
        }
        return .normal
    }

    func execute(_ node: JinjaNode) throws -> JinjaFlow {
        try step()
        switch node {
        case .text(let s):
            try emit(s)
        case .output(let e):
            evaluatingConstantOutput = e.isConstant
            defer { evaluatingConstantOutput = false }
            try emit(try evaluate(e).pyStr)
        case .ifChain(let branches, let otherwise):
            for (condition, body) in branches where try evaluate(condition).truthy {
                return try execute(body)
            }
            return try execute(otherwise)
        case .forLoop(let target, let iterable, let condition, let body, let otherwise):
            return try executeFor(target: target, iterable: iterable, condition: condition, body: body, otherwise: otherwise)
        case .set(let target, let e):
            try assign(target, try evaluate(e))
        case .setBlock(let target, let body):
            try assign(target, .string(try capture(body)))
        case .macro(let m):
            assign(m.name, makeMacro(m))
        case .filterBlock(let name, let args, let body, _):
            let text = try capture(body)
            let (positional, keywords) = try evaluateArguments(args)
            try emit(try applyFilter(name, .string(text), positional, keywords).pyStr)
        case .breakLoop:
            return .breakLoop
        case .continueLoop:
            return .continueLoop
        }
        return .normal
    }

    /// Runs `body` with output redirected and returns what it wrote.
    func capture(_ body: [JinjaNode]) throws -> String {
        let saved = output
        output = ""
        defer { output = saved }
        _ = try execute(body)
        return output
    }

    func executeFor(target: JinjaTarget, iterable: JinjaExpr, condition: JinjaExpr?, body: [JinjaNode], otherwise: [JinjaNode]) throws -> JinjaFlow {
        var items = try iterate(try evaluate(iterable))
        if let condition {
            // The inline filter runs before `loop` exists, so loop.length counts kept items only.
            var kept: [JinjaRuntimeValue] = []
            for item in items {
                try step()
                scopes.append([:])
                defer { scopes.removeLast() }
                try assign(target, item)
                if try evaluate(condition).truthy { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty {
            // The else body runs in the loop's frame, so its assignments do not leak either.
            scopes.append([:])
            defer { scopes.removeLast() }
            return try execute(otherwise)
        }
        let count = items.count
        for (i, item) in items.enumerated() {
            try step()
            var loop = JinjaDict()
            loop["index"] = .int(i + 1)
            loop["index0"] = .int(i)
            loop["revindex"] = .int(count - i)
            loop["revindex0"] = .int(count - i - 1)
            loop["first"] = .bool(i == 0)
            loop["last"] = .bool(i == count - 1)
            loop["length"] = .int(count)
            loop["depth"] = .int(1)
            loop["depth0"] = .int(0)
            loop["previtem"] = i > 0 ? items[i - 1] : .undefined("there is no previous item")
            loop["nextitem"] = i + 1 < count ? items[i + 1] : .undefined("there is no next item")
            loop["cycle"] = .callable(JinjaCallable(name: "cycle") { args, _ in
                guard !args.isEmpty else { throw ChatTemplateError.runtime(message: "no items for cycling given") }
                return args[i % args.count]
            })
            scopes.append(["loop": .dict(loop)])
            defer { scopes.removeLast() }
            try assign(target, item)
            if case .breakLoop = try execute(body) { break }
        }
        return .normal
    }

    func makeMacro(_ m: JinjaMacro) -> JinjaRuntimeValue {
        .callable(JinjaCallable(name: m.name) { [unowned self] args, kwargs in
            guard args.count <= m.parameters.count else {
                throw ChatTemplateError.runtime(message: "macro '\(m.name)' takes not more than \(m.parameters.count) argument(s)")
            }
            callDepth += 1
            defer { callDepth -= 1 }
            if callDepth > limits.maxCallDepth {
                throw ChatTemplateError.limitExceeded(what: "macro call depth", limit: limits.maxCallDepth)
            }
            var frame: [String: JinjaRuntimeValue] = [:]
            for (i, (name, defaultValue)) in m.parameters.enumerated() {
                if i < args.count {
                    frame[name] = args[i]
                } else if let kw = kwargs.first(where: { $0.0 == name }) {
                    frame[name] = kw.1
                } else if let defaultValue {
                    frame[name] = try evaluate(defaultValue)
                } else {
                    frame[name] = .undefined("parameter '\(name)' was not provided")
                }
            }
            for (k, _) in kwargs where !m.parameters.contains(where: { $0.0 == k }) {
                throw ChatTemplateError.runtime(message: "macro '\(m.name)' takes no keyword argument '\(k)'")
            }
            // Macros see the template's top-level names, not the caller's locals.
            let savedScopes = scopes
            scopes = [scopes[0], frame]
            defer { scopes = savedScopes }
            return .string(try capture(m.body))
        })
    }

    // MARK: Expressions

    func evaluate(_ expr: JinjaExpr) throws -> JinjaRuntimeValue {
        try step()
        switch expr {
        case .none: return .none
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .string(let s): return .string(s)
        case .name(let n): return lookup(n)
        case .list(let items):
            return .list(try items.map { try evaluate($0) })
        case .tuple(let items):
            return .tuple(try items.map { try evaluate($0) })
        case .dict(let pairs):
            var d = JinjaDict()
            for (k, v) in pairs {
                let key = try evaluate(k)
                d[key.pyStr] = try evaluate(v)
            }
            return .dict(d)
        case .attribute(let target, let name):
            return try attribute(of: try evaluate(target), name)
        case .item(let target, let index):
            return try item(of: try evaluate(target), try evaluate(index))
        case .slice(let target, let start, let stop, let stepExpr):
            let value = try evaluate(target)
            if !evaluatingConstantOutput || value.isSubscriptable {
                return try slice(value, start: start.map(evaluate), stop: stop.map(evaluate), step: stepExpr.map(evaluate))
            }
            // NOTE: Jinja renders an all-constant `{{ … }}` at compile time through the sandbox's
            // getitem, so there slicing a non-sequence gives Undefined instead of raising.
            return .undefined("'\(value.typeName)' object is not subscriptable")
        case .call(let callee, let args):
            return try evaluateCall(callee, args)
        case .filter(let target, let name, let args, _):
            let value = try evaluate(target)
            let (positional, keywords) = try evaluateArguments(args)
            return try applyFilter(name, value, positional, keywords)
        case .test(let target, let name, let args, let negated, _):
            let value = try evaluate(target)
            let (positional, _) = try evaluateArguments(args)
            return .bool(try applyTest(name, value, positional) != negated)
        case .negate(let e):
            return try negate(try evaluate(e))
        case .plus(let e):
            let v = try evaluate(e)
            guard let n = v.numeric else { throw runtime("bad operand type for unary +: '\(v.typeName)'") }
            return n
        case .not(let e):
            return .bool(!(try evaluate(e).truthy))
        case .and(let l, let r):
            let left = try evaluate(l)
            return left.truthy ? try evaluate(r) : left
        case .or(let l, let r):
            let left = try evaluate(l)
            return left.truthy ? left : try evaluate(r)
        case .binary(let op, let l, let r):
            return try binary(op, try evaluate(l), try evaluate(r))
        case .compare(let first, let rest):
            var left = try evaluate(first)
            for (op, e) in rest {
                let right = try evaluate(e)
                if !(try compare(op, left, right)) { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .conditional(let value, let test, let otherwise):
            if try evaluate(test).truthy { return try evaluate(value) }
            if let otherwise { return try evaluate(otherwise) }
            return .undefined("the inline if-expression evaluated to false and no else section was defined")
        }
    }

    func evaluateArguments(_ args: JinjaArguments) throws -> ([JinjaRuntimeValue], [(String, JinjaRuntimeValue)]) {
        let positional = try args.positional.map { try evaluate($0) }
        let keywords = try args.keywords.map { ($0.0, try evaluate($0.1)) }
        return (positional, keywords)
    }

    func evaluateCall(_ callee: JinjaExpr, _ args: JinjaArguments) throws -> JinjaRuntimeValue {
        // Method calls dispatch directly instead of materializing a bound method.
        if case .attribute(let targetExpr, let name) = callee {
            let target = try evaluate(targetExpr)
            let (positional, keywords) = try evaluateArguments(args)
            if let result = try callMethod(target, name, positional, keywords) { return result }
            return try call(try attribute(of: target, name), positional, keywords, description: name)
        }
        let f = try evaluate(callee)
        let (positional, keywords) = try evaluateArguments(args)
        var description = "object"
        if case .name(let n) = callee { description = n }
        return try call(f, positional, keywords, description: description)
    }

    func call(_ f: JinjaRuntimeValue, _ args: [JinjaRuntimeValue], _ kwargs: [(String, JinjaRuntimeValue)], description: String) throws -> JinjaRuntimeValue {
        switch f {
        case .callable(let c):
            return try c.call(args, kwargs)
        case .undefined(let message):
            throw ChatTemplateError.undefined(message: message)
        default:
            throw runtime("'\(description)' (\(f.typeName)) is not callable")
        }
    }

    func undefinedError(_ v: JinjaRuntimeValue) -> ChatTemplateError {
        if case .undefined(let message) = v { return .undefined(message: message) }
        return .runtime(message: "unexpected value")
    }

    /// `a.b`: attribute first, then item (Jinja's `getattr`).
    func attribute(of target: JinjaRuntimeValue, _ name: String) throws -> JinjaRuntimeValue {
        switch target {
        case .undefined:
            throw undefinedError(target)
        case .dict(let d):
            if JinjaInterpreter.dictMethods.contains(name) { return boundMethod(target, name) }
            return d[name] ?? .undefined("'dict object' has no attribute '\(name)'")
        case .namespace(let ns):
            return ns.attributes[name] ?? .undefined("'Namespace' object has no attribute '\(name)'")
        case .string:
            if JinjaInterpreter.stringMethods.contains(name) { return boundMethod(target, name) }
        case .list, .tuple:
            if JinjaInterpreter.listMethods.contains(name) { return boundMethod(target, name) }
        default:
            break
        }
        return .undefined("'\(target.typeName) object' has no attribute '\(name)'")
    }

    func boundMethod(_ target: JinjaRuntimeValue, _ name: String) -> JinjaRuntimeValue {
        .callable(JinjaCallable(name: name) { [unowned self] args, kwargs in
            guard let result = try callMethod(target, name, args, kwargs) else {
                throw ChatTemplateError.runtime(message: "'\(target.typeName) object' has no attribute '\(name)'")
            }
            return result
        })
    }

    /// `a[b]`: item first, then attribute (Jinja's `getitem`).
    func item(of target: JinjaRuntimeValue, _ key: JinjaRuntimeValue) throws -> JinjaRuntimeValue {
        switch (target, key) {
        case (.undefined, _):
            throw undefinedError(target)
        case (.dict(let d), _):
            if case .string(let k) = key, let v = d[k] { return v }
            if case .int = key, let v = d[key.pyStr] { return v }
        case (.list(let l), _), (.tuple(let l), _):
            if let i = intIndex(key) {
                let j = i < 0 ? i + l.count : i
                if j >= 0 && j < l.count { return l[j] }
                return .undefined("list index out of range")
            }
        case (.string(let s), _):
            if let i = intIndex(key) {
                let scalars = Array(s.unicodeScalars)
                let j = i < 0 ? i + scalars.count : i
                if j >= 0 && j < scalars.count { return .string(String(Character(scalars[j]))) }
                return .undefined("string index out of range")
            }
        case (.namespace(let ns), .string(let k)):
            if let v = ns.attributes[k] { return v }
        default:
            break
        }
        if case .string(let name) = key { return try attribute(of: target, name) }
        return .undefined("'\(target.typeName) object' has no element \(key.pyRepr)")
    }

    func intIndex(_ v: JinjaRuntimeValue) -> Int? {
        switch v {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    func slice(_ target: JinjaRuntimeValue, start: JinjaRuntimeValue?, stop: JinjaRuntimeValue?, step: JinjaRuntimeValue?) throws -> JinjaRuntimeValue {
        func bound(_ v: JinjaRuntimeValue?) throws -> Int? {
            guard let v else { return nil }
            switch v {
            case .undefined, .none: return nil
            default: break
            }
            guard let i = intIndex(v) else { throw runtime("slice indices must be integers or None") }
            return i
        }
        let s = try bound(start), e = try bound(stop), st = try bound(step) ?? 1
        guard st != 0 else { throw runtime("slice step cannot be zero") }
        func indices(_ n: Int) -> [Int] {
            func clamp(_ i: Int?, _ dflt: Int, lower: Int, upper: Int) -> Int {
                guard var i else { return dflt }
                if i < 0 { i += n }
                return min(max(i, lower), upper)
            }
            var out: [Int] = []
            if st > 0 {
                var i = clamp(s, 0, lower: 0, upper: n)
                let end = clamp(e, n, lower: 0, upper: n)
                while i < end {
                    out.append(i)
                    let (next, overflow) = i.addingReportingOverflow(st)
                    if overflow { break }
                    i = next
                }
            } else {
                var i = clamp(s, n - 1, lower: -1, upper: n - 1)
                let end = clamp(e, -1, lower: -1, upper: n - 1)
                while i > end {
                    out.append(i)
                    let (next, overflow) = i.addingReportingOverflow(st)
                    if overflow { break }
                    i = next
                }
            }
            return out
        }
        switch target {
        case .list(let l): return .list(indices(l.count).map { l[$0] })
        case .tuple(let l): return .tuple(indices(l.count).map { l[$0] })
        case .string(let str):
            let scalars = Array(str.unicodeScalars)
            var out = String.UnicodeScalarView()
            for i in indices(scalars.count) { out.append(scalars[i]) }
            return .string(String(out))
        case .undefined: throw undefinedError(target)
        // NOTE: Jinja compiles slices to plain Python subscripts, so this raises (no Undefined).
        default: throw runtime("'\(target.typeName)' object is not subscriptable")
        }
    }

    /// Python iteration: lists, dict keys, string characters; Undefined iterates as empty.
    func iterate(_ v: JinjaRuntimeValue) throws -> [JinjaRuntimeValue] {
        switch v {
        case .list(let l), .tuple(let l): return l
        case .dict(let d): return d.keys.map { .string($0) }
        case .string(let s): return s.unicodeScalars.map { .string(String(Character($0))) }
        case .undefined: return []
        case .namespace(let ns): return ns.attributes.keys.map { .string($0) }
        default: throw runtime("'\(v.typeName)' object is not iterable")
        }
    }

    // MARK: Operators

    func negate(_ v: JinjaRuntimeValue) throws -> JinjaRuntimeValue {
        switch v.numeric {
        case .int(let i)?:
            guard i != Int.min else { throw runtime("integer overflow") }
            return .int(-i)
        case .double(let d)?: return .double(-d)
        default:
            if v.isUndefined { throw undefinedError(v) }
            throw runtime("bad operand type for unary -: '\(v.typeName)'")
        }
    }

    func binary(_ op: String, _ a: JinjaRuntimeValue, _ b: JinjaRuntimeValue) throws -> JinjaRuntimeValue {
        if op == "~" {
            let s = a.pyStr + b.pyStr
            if s.utf8.count > limits.maxOutputBytes { throw ChatTemplateError.limitExceeded(what: "string size", limit: limits.maxOutputBytes) }
            return .string(s)
        }
        if a.isUndefined { throw undefinedError(a) }
        if b.isUndefined { throw undefinedError(b) }
        switch (op, a, b) {
        case ("+", .string(let x), .string(let y)):
            if x.utf8.count + y.utf8.count > limits.maxOutputBytes { throw ChatTemplateError.limitExceeded(what: "string size", limit: limits.maxOutputBytes) }
            return .string(x + y)
        case ("+", .list(let x), .list(let y)):
            try checkCount(x.count + y.count)
            return .list(x + y)
        case ("+", .tuple(let x), .tuple(let y)):
            try checkCount(x.count + y.count)
            return .tuple(x + y)
        case ("*", .string(let s), _), ("*", _, .string(let s)):
            let other = a.stringValue != nil ? b : a
            guard other.stringValue == nil, let n = intIndex(other) else { break }
            let count = max(0, n)
            let (size, overflow) = s.utf8.count.multipliedReportingOverflow(by: count)
            if overflow || size > limits.maxOutputBytes { throw ChatTemplateError.limitExceeded(what: "string size", limit: limits.maxOutputBytes) }
            return .string(String(repeating: s, count: count))
        case ("*", .list(let l), _), ("*", _, .list(let l)):
            let other = a.listValue != nil ? b : a
            guard other.listValue == nil, let n = intIndex(other) else { break }
            let count = max(0, n)
            let (size, overflow) = l.count.multipliedReportingOverflow(by: count)
            if overflow { throw ChatTemplateError.limitExceeded(what: "collection size", limit: limits.maxCollectionCount) }
            try checkCount(size)
            return .list(Array([[JinjaRuntimeValue]](repeating: l, count: count).joined()))
        case ("%", .string(let format), _):
            let args: [JinjaRuntimeValue]
            if case .tuple(let l) = b { args = l } else { args = [b] }
            return .string(try JinjaInterpreter.percentFormat(format, args, mapping: b))
        default:
            break
        }
        guard let x = a.numeric, let y = b.numeric else {
            throw runtime("unsupported operand type(s) for \(op): '\(a.typeName)' and '\(b.typeName)'")
        }
        if case .int(let i) = x, case .int(let j) = y {
            return try intBinary(op, i, j)
        }
        let p = x.asDouble, q = y.asDouble
        switch op {
        case "+": return .double(p + q)
        case "-": return .double(p - q)
        case "*": return .double(p * q)
        case "/":
            guard q != 0 else { throw runtime("division by zero") }
            return .double(p / q)
        case "//":
            guard q != 0 else { throw runtime("float floor division by zero") }
            return .double((p / q).rounded(.down))
        case "%":
            guard q != 0 else { throw runtime("float modulo") }
            let r = p.truncatingRemainder(dividingBy: q)
            return .double(r != 0 && (r < 0) != (q < 0) ? r + q : r)
        case "**": return .double(Foundation.pow(p, q))
        default: throw runtime("unknown operator \(op)")
        }
    }

    func intBinary(_ op: String, _ i: Int, _ j: Int) throws -> JinjaRuntimeValue {
        func checked(_ r: (partialValue: Int, overflow: Bool)) throws -> JinjaRuntimeValue {
            if r.overflow { throw runtime("integer overflow") }
            return .int(r.partialValue)
        }
        switch op {
        case "+": return try checked(i.addingReportingOverflow(j))
        case "-": return try checked(i.subtractingReportingOverflow(j))
        case "*": return try checked(i.multipliedReportingOverflow(by: j))
        case "/":
            guard j != 0 else { throw runtime("division by zero") }
            return .double(Double(i) / Double(j))
        case "//", "%":
            guard j != 0 else { throw runtime("integer division or modulo by zero") }
            if i == Int.min && j == -1 { throw runtime("integer overflow") }
            var q = i / j
            var r = i % j
            if r != 0 && (r < 0) != (j < 0) {
                q -= 1
                r += j
            }
            return .int(op == "//" ? q : r)
        case "**":
            if j < 0 { return .double(Foundation.pow(Double(i), Double(j))) }
            var result = 1
            var base = i
            var e = j
            while e > 0 {
                if e & 1 == 1 { result = try checked(result.multipliedReportingOverflow(by: base)).intValue! }
                e >>= 1
                if e > 0 { base = try checked(base.multipliedReportingOverflow(by: base)).intValue! }
            }
            return .int(result)
        default: throw runtime("unknown operator \(op)")
        }
    }

    func compare(_ op: String, _ a: JinjaRuntimeValue, _ b: JinjaRuntimeValue) throws -> Bool {
        switch op {
        case "==": return JinjaRuntimeValue.pyEqual(a, b)
        case "!=": return !JinjaRuntimeValue.pyEqual(a, b)
        case "in": return try contains(b, a)
        case "notin": return !(try contains(b, a))
        default:
            if a.isUndefined { throw undefinedError(a) }
            if b.isUndefined { throw undefinedError(b) }
            let lt = JinjaRuntimeValue.pyLess(a, b), gt = JinjaRuntimeValue.pyLess(b, a)
            guard let lt, let gt else {
                throw runtime("'\(op)' not supported between instances of '\(a.typeName)' and '\(b.typeName)'")
            }
            switch op {
            case "<": return lt
            case ">": return gt
            case "<=": return !gt
            default: return !lt
            }
        }
    }

    /// Python's `needle in haystack`.
    func contains(_ haystack: JinjaRuntimeValue, _ needle: JinjaRuntimeValue) throws -> Bool {
        switch haystack {
        case .string(let s):
            guard case .string(let n) = needle else {
                if needle.isUndefined { throw undefinedError(needle) }
                throw runtime("'in <string>' requires string as left operand, not \(needle.typeName)")
            }
            return n.isEmpty || s.contains(n)
        case .list(let l), .tuple(let l): return l.contains { JinjaRuntimeValue.pyEqual($0, needle) }
        case .dict(let d):
            if case .string(let k) = needle { return d[k] != nil }
            return false
        case .namespace(let ns):
            if case .string(let k) = needle { return ns.attributes[k] != nil }
            return false
        case .undefined: throw undefinedError(haystack)
        default: throw runtime("argument of type '\(haystack.typeName)' is not iterable")
        }
    }

    /// Python's `format % args` for the common conversions (%s %r %d %i %f %x %%).
    static func percentFormat(_ format: String, _ args: [JinjaRuntimeValue], mapping: JinjaRuntimeValue) throws -> String {
        var out = ""
        var chars = Array(format)[...]
        var next = 0
        while let c = chars.popFirst() {
            guard c == "%" else { out.append(c); continue }
            var spec = ""
            while let d = chars.first, "0123456789.-+ #".contains(d) { spec.append(d); chars.removeFirst() }
            guard let conv = chars.popFirst() else { throw ChatTemplateError.runtime(message: "incomplete format") }
            if conv == "%" { out += "%"; continue }
            guard next < args.count else { throw ChatTemplateError.runtime(message: "not enough arguments for format string") }
            let arg = args[next]
            next += 1
            switch conv {
            case "s": out += arg.pyStr
            case "r": out += arg.pyRepr
            case "d", "i":
                guard let n = arg.numeric else { throw ChatTemplateError.runtime(message: "%d format: a real number is required") }
                if case .int(let i) = n { out += String(i) } else { out += String(Int(exactly: n.asDouble.rounded(.towardZero)) ?? 0) }
            case "f", "F":
                guard let n = arg.numeric else { throw ChatTemplateError.runtime(message: "%f format: a real number is required") }
                let precision = spec.split(separator: ".").last.flatMap { spec.contains(".") ? Int($0) : nil } ?? 6
                out += String(format: "%.\(min(precision, 50))f", n.asDouble)
            case "x":
                guard case .int(let i)? = arg.numeric else { throw ChatTemplateError.runtime(message: "%x format: an integer is required") }
                out += String(i, radix: 16)
            default:
                throw ChatTemplateError.runtime(message: "unsupported format character '\(conv)'")
            }
        }
        // Python only complains about unused arguments when they were not a mapping (a list
        // counts as one, since it supports subscripts).
        var isMapping = false
        switch mapping {
        case .dict, .list: isMapping = true
        default: break
        }
        if next < args.count, !isMapping {
            throw ChatTemplateError.runtime(message: "not all arguments converted during string formatting")
        }
        return out
    }
}

extension JinjaExpr {
    /// Whether Jinja's compiler would fold this expression to a constant (no variables or calls).
    var isConstant: Bool {
        switch self {
        case .none, .bool, .int, .double, .string: return true
        case .name, .call: return false
        case .list(let items), .tuple(let items): return items.allSatisfy(\.isConstant)
        case .dict(let pairs): return pairs.allSatisfy { $0.0.isConstant && $0.1.isConstant }
        case .attribute(let e, _): return e.isConstant
        case .item(let e, let i): return e.isConstant && i.isConstant
        case .slice(let e, let a, let b, let c):
            return e.isConstant && [a, b, c].allSatisfy { $0?.isConstant ?? true }
        case .filter(let e, _, let args, _), .test(let e, _, let args, _, _):
            return e.isConstant && args.positional.allSatisfy(\.isConstant) && args.keywords.allSatisfy { $0.1.isConstant }
        case .negate(let e), .plus(let e), .not(let e): return e.isConstant
        case .and(let a, let b), .or(let a, let b), .binary(_, let a, let b): return a.isConstant && b.isConstant
        case .compare(let a, let rest): return a.isConstant && rest.allSatisfy { $0.1.isConstant }
        case .conditional(let a, let t, let o): return a.isConstant && t.isConstant && (o?.isConstant ?? true)
        }
    }
}

extension JinjaRuntimeValue {
    var isSubscriptable: Bool {
        switch self {
        case .list, .tuple, .string, .undefined: return true
        default: return false
        }
    }

    var intValue: Int? {
        if case .int(let i) = self { return i }
        return nil
    }

    var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    var listValue: [JinjaRuntimeValue]? {
        if case .list(let l) = self { return l }
        if case .tuple(let l) = self { return l }
        return nil
    }
}
