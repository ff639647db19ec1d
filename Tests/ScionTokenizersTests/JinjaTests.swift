// Unit tests of the Jinja interpreter behind ChatTemplate: whitespace control, loops,
// scoping, filters, errors with positions, and robustness (seeded random and mutated
// templates must render or throw a typed error, never crash or hang).
// Expected strings follow Jinja2 3.1 with trim_blocks and lstrip_blocks, as transformers uses.

import Foundation
import Testing

@testable import ScionTokenizers

/// Renders `source` with `variables`.
private func render(_ source: String, _ variables: JinjaObject = [:]) throws -> String {
    try ChatTemplate(source: source).render(variables: variables)
}

/// A small deterministic generator (SplitMix64) so failures reproduce from the seed.
private struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private let fuzzPieces = [
    "{{", "}}", "{%", "%}", "{#", "#}", "-", "+", " ", "\n", "if ", "elif ", "else", "endif", "for ", " in ",
    "endfor", "set ", "=", "x", "messages", "loop.index", "[", "]", "(", ")", "{", "}", "'a'", "\"b\"", "1", "2.5",
    "|", "trim", "join", "length", "tojson", "default", "map", "selectattr", "is ", "defined", "not ", "and ",
    "or ", "~", "*", "/", "//", "%", "**", ",", ":", ".", "ns", "namespace(", "range(", "macro ", "endmacro", "raw",
    "endraw", "break", "continue", "none", "true", "\\", "'", "\"", "é", "🚀", "1e309", "-1", "[::-1]", "items()",
]

@Suite struct JinjaTests {
    @Test(arguments: [
        ("a {{- ' b ' -}} c", "a b c"),
        ("a\n{%- if true %}\nb{% endif %}", "ab"),
        ("{% if true %}\nx\n{% endif %}\ny", "x\ny"),
        ("  {% if true %}x{% endif %}", "x"),
        ("  {%+ if true %}x{% endif %}", "  x"),
        ("a  {% if true %}x{% endif %}", "a  x"),
        ("{{ 'v' }}\n", "v"),
        ("{{ 'v' }}\n\n", "v\n"),
        ("line\r\nnext", "line\nnext"),
        ("{# c #}\nx", "x"),
        ("  {# c #}  \nx", "  \nx"),
        ("a {#- c -#} b", "ab"),
        ("{% raw %}{{ x }}{% endraw %}", "{{ x }}"),
        ("{% for i in [1,2] %}\n  {{ i }}\n{% endfor %}", "  1\n  2\n"),
        ("{% if true -%}  \n  x  {%- endif %}", "x"),
        ("  {% raw %} a {% endraw %}\n  b", " a   b"),
        ("x\n  {%- raw -%}  a  {%- endraw %}\nb", "xab"),
        ("{% raw %}\nA\n  {% endraw %}\nB", "\nA\nB"),
        ("a\n    {# c #}\nb", "a\nb"),
        ("{% if true %}  \nX{% endif %}", "  \nX"),
        ("{%- if true %}\n\n{% endif %}|", "\n|"),
        ("{{ 'a' }}  {% if true %}\nb{% endif %}", "a  b"),
        ("{% if true %}a{% endif %}  {% if true %}b{% endif %}", "a  b"),
        ("{% if true %}\n  {% if true %}\nb{% endif %}{% endif %}", "b"),
        ("\t {% set x = 1 %}\n\tv", "\tv"),
        ("a\n  {#+ note #}  y", "a\n    y"),
        ("a\n  {# note +#}\n  y", "a\n\n  y"),
        ("a {# note +#}\n b", "a \n b"),
        ("x\n{#+ note #}\nb", "x\nb"),
        ("  {#+ c #}x", "  x"),
        ("a {#- note +#}\n b", "a\n b"),
        ("a\n{#- note +#}  y", "a  y"),
        ("q {# n #}\n  \n x", "q   \n x"),
    ])
    func whitespaceControl(_ source: String, _ expected: String) throws {
        #expect(try render(source) == expected)
    }

    @Test func loopVariables() throws {
        let s = "{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}"
        #expect(try render(s) == "103TrueFalse3;212FalseFalse3;321FalseTrue3;")
    }

    @Test func loopScopeDoesNotLeakButNamespaceDoes() throws {
        let s = "{% set x = 1 %}{% set ns = namespace(y=1) %}{% for i in [1, 2] %}{{ x }}{% set x = 5 %}{% set ns.y = ns.y + i %}{% endfor %}{{ x }}{{ ns.y }}"
        #expect(try render(s) == "1114")
    }

    /// Jinja2 idtracking quirks, checked against jinja2 3.1.6 with the context `v = "a"`.
    @Test(arguments: [
        ("{{ v }}{% set v = 'x' %}{{ v }}", "ax"),
        ("{% for i in [1] %}{{ v }}{% endfor %}{% set v = 'x' %}", ""),
        ("{% for i in [1] %}{{ v }}{% endfor %}{% set v = 'x' %}{{ v }}", "x"),
        ("{% if true %}{{ v }}{% endif %}{% set v = 'x' %}", "a"),
        ("{% macro m() %}{{ v }}{% endmacro %}{{ m() }}{% set v = 'x' %}{{ m() }}", "x"),
        ("{% if false %}{% set v = 'x' %}{% endif %}{% for i in [1] %}{{ v }}{% endfor %}", "a"),
        ("{% for i in [] %}{% else %}{% set v = 'b' %}{% endfor %}{{ v }}", "a"),
    ])
    func topLevelAssignmentShadowsContext(_ source: String, _ expected: String) throws {
        #expect(try render(source, ["v": "a"]) == expected)
    }

    @Test func ifScopeLeaks() throws {
        #expect(try render("{% if true %}{% set x = 'in' %}{% endif %}{{ x }}") == "in")
    }

    @Test func loopElseFilterBreakContinue() throws {
        #expect(try render("{% for x in [] %}a{% else %}empty{% endfor %}") == "empty")
        #expect(try render("{% for x in range(6) if x is odd %}{{ x }}{{ loop.length }}{% endfor %}") == "133353")
        #expect(try render("{% for x in range(9) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}") == "013")
    }

    @Test func macrosWithDefaultsAndKeywords() throws {
        let s = "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', punct='?') }} {{ greet(name='C') }}"
        #expect(try render(s) == "Hi A! Hi B? Hi C!")
    }

    @Test(arguments: [
        ("{{ '  x  ' | trim }}", "x"),
        ("{{ 'ab' | upper }}{{ 'AB' | lower }}", "ABab"),
        ("{{ [3, 1, 2] | sort | join(',') }}", "1,2,3"),
        ("{{ {'b': 1, 'a': 2} | tojson }}", "{\"b\": 1, \"a\": 2}"),
        ("{{ {'a': [1, 2]} | tojson(indent=2) }}", "{\n  \"a\": [\n    1,\n    2\n  ]\n}"),
        ("{{ 'é\"' | tojson }}", "\"é\\\"\""),
        ("{{ missing | default('d') }}", "d"),
        ("{{ [1, 2, 3] | length }}{{ 'héllo' | length }}", "35"),
        ("{{ [{'a': 1}, {'a': 2}] | map(attribute='a') | list }}", "[1, 2]"),
        ("{{ [{'r': 'u'}, {'r': 's'}] | selectattr('r', 'equalto', 'u') | list }}", "[{'r': 'u'}]"),
        ("{{ 'a-b'.split('-') }}{{ 'abc'[::-1] }}{{ [1, 2, 3][-1] }}", "['a', 'b']cba3"),
        ("{{ {'k': 'v'}.get('k') }}{{ {'k': 'v'}.get('x', 'd') }}", "vd"),
        ("{{ {'k': 'v'}.items() | list }}", "[('k', 'v')]"),
        ("{{ '{} {}'.format(1, 'a') }}", "1 a"),
        ("{{ 7 // 2 }} {{ 7 / 2 }} {{ -7 % 3 }} {{ 2 ** 8 }}", "3 3.5 2 256"),
        ("{{ none }} {{ true }} {{ 1.0 }} {{ 1e20 }}", "None True 1.0 1e+20"),
        ("{{ 'x' if false else 'y' }}{{ 'z' if false }}", "y"),
        ("{{ 1 in [1] }}{{ 'a' not in 'b' }}{{ not 0 }}", "TrueTrueTrue"),
        ("{{ x is defined }}{{ none is none }}{{ 4 is even }}{{ 'a' is string }}", "FalseTrueTrueTrue"),
    ])
    func expressionsAndFilters(_ source: String, _ expected: String) throws {
        #expect(try render(source) == expected)
    }

    @Test func attributeAndItemAccess() throws {
        let vars: JinjaObject = ["m": ["role": "user", "items": "field"]]
        #expect(try render("{{ m.role }}{{ m['role'] }}{{ m['items'] }}{{ m.missing is defined }}", vars) == "useruserfieldFalse")
    }

    @Test func transformersExtensions() throws {
        // strftime_now formats the current local time; {% generation %} renders its body.
        let year = try render("{{ strftime_now('%Y') }}")
        #expect(year.count == 4 && Int(year) != nil)
        #expect(try render("a{% generation %}b{{ 1 }}{% endgeneration %}c") == "ab1c")
    }

    @Test func raiseExceptionCarriesMessage() {
        #expect(throws: ChatTemplateError.raised(message: "bad roles")) {
            try render("{{ raise_exception('bad roles') }}")
        }
    }

    @Test func syntaxErrorsHaveLineAndColumn() {
        #expect(throws: ChatTemplateError.syntax(message: "unexpected end of template, expected 'elif' or 'else' or 'endif'", line: 2, column: 3)) {
            try ChatTemplate(source: "{% if x %}\nab")
        }
        #expect(throws: ChatTemplateError.syntax(message: "missing end of variable tag '}}'", line: 1, column: 3)) {
            try ChatTemplate(source: "ab{{ x")
        }
        do {
            _ = try ChatTemplate(source: "ok\n{{ x | nosuchfilter }}")
            Issue.record("expected an error")
        } catch let error as ChatTemplateError {
            #expect(error == .unknownFilter(name: "nosuchfilter", line: 2, column: 8))
            #expect("\(error)".contains("nosuchfilter"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
        #expect(throws: ChatTemplateError.self) { try ChatTemplate(source: "{% endfor %}") }
        #expect(throws: ChatTemplateError.self) { try ChatTemplate(source: "{{ x is nosuchtest }}") }
    }

    @Test func runtimeErrorsAreTyped() {
        #expect(throws: ChatTemplateError.self) { try render("{{ 'a' + 1 }}") }
        #expect(throws: ChatTemplateError.self) { try render("{{ 1 // 0 }}") }
        #expect(throws: ChatTemplateError.self) { try render("{{ x.y }}") }
        #expect(throws: ChatTemplateError.self) { try render("{{ 9223372036854775807 + 1 }}") }
        #expect(throws: ChatTemplateError.self) { try render("{{ [].append(1) }}") }
        #expect(throws: ChatTemplateError.self) { try render("{% set x.y = 1 %}") }
    }

    @Test func runawayTemplatesHitLimits() throws {
        // Unbounded recursion, huge output and long loops all end in a typed error.
        #expect(throws: ChatTemplateError.limitExceeded(what: "macro call depth", limit: 32)) {
            try render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")
        }
        var nested = try! ChatTemplate(source: "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}")
        nested.maxSteps = 100_000
        #expect(throws: ChatTemplateError.limitExceeded(what: "evaluation steps", limit: 100_000)) { try nested.render(variables: [:]) }
        var big = try! ChatTemplate(source: "{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}")
        big.maxOutputBytes = 1 << 20
        #expect(throws: ChatTemplateError.limitExceeded(what: "output bytes", limit: 1 << 20)) { try big.render(variables: [:]) }
        #expect(throws: ChatTemplateError.self) { try render("{{ 'x' * 1000000000000 }}") }
        #expect(throws: ChatTemplateError.self) { try render("{{ range(1000000000) | length }}") }
        #expect(throws: ChatTemplateError.self) { try render("{{ 2 ** 100 }}") }
        #expect(throws: ChatTemplateError.self) { try ChatTemplate(source: String(repeating: "{{ (", count: 1) + String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5001) + " }}") }
        #expect(throws: ChatTemplateError.self) { try ChatTemplate(source: String(repeating: "{% if x %}", count: 5000)) }
        #expect(throws: ChatTemplateError.self) { try ChatTemplate(source: "{{ 1" + String(repeating: " + 1", count: 20000) + " }}") }
        #expect(throws: ChatTemplateError.self) { try ChatTemplate(source: "{{ x" + String(repeating: "|trim", count: 20000) + " }}") }
        #expect(throws: ChatTemplateError.self) { try ChatTemplate(source: "{{ x" + String(repeating: ".a", count: 20000) + " }}") }
        #expect(throws: ChatTemplateError.self) { try render("{{ range(-9000000000000000000, 9000000000000000000) | length }}") }
        #expect(try render("{{ range(0, 10, -9223372036854775807 - 1) | list }}") == "[]")
        #expect(try render("{{ 'abc'[1::9223372036854775807] }}{{ 'abc'[::-9223372036854775807] }}") == "bc")
    }

    @Test func randomTemplatesRenderOrThrow() {
        let messages: JinjaObject = ["messages": [["role": "user", "content": "hi"], ["role": "assistant", "content": "yo"]], "x": [1, 2, 3]]
        for seed in UInt64(0)..<3000 {
            var rng = SeededGenerator(state: seed)
            var source = ""
            for _ in 0..<Int.random(in: 1...40, using: &rng) {
                source += fuzzPieces.randomElement(using: &rng)!
            }
            do {
                var template = try ChatTemplate(source: source)
                template.maxSteps = 200_000
                template.maxOutputBytes = 1 << 20
                _ = try template.render(variables: messages)
            } catch is ChatTemplateError {
                // Rendering or throwing a typed error are both fine.
            } catch {
                Issue.record("seed \(seed): untyped error \(error) for \(source.debugDescription)")
            }
        }
    }

    @Test func mutatedFixtureTemplatesRenderOrThrow() throws {
        let sources = try ["qwen2_tools.jinja", "llama3.jinja", "gemma.jinja", "features_expr.jinja", "features_filters.jinja"]
            .map { Array(try ChatTemplateFixtures.source($0).unicodeScalars) }
        let conversation = ChatTemplateFixtures.cases.first { $0.conversation == "tool_use" }?.messages ?? []
        for seed in UInt64(0)..<1500 {
            var rng = SeededGenerator(state: seed)
            var scalars = sources[Int(seed) % sources.count]
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 0..<scalars.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: scalars.remove(at: i)
                case 1: scalars.insert(scalars[Int.random(in: 0..<scalars.count, using: &rng)], at: i)
                default:
                    let j = Int.random(in: 0..<scalars.count, using: &rng)
                    scalars.swapAt(i, j)
                }
            }
            let source = String(String.UnicodeScalarView(scalars))
            do {
                var template = try ChatTemplate(source: source)
                template.maxSteps = 500_000
                _ = try template.render(messages: conversation, addGenerationPrompt: seed % 2 == 0, tools: [["type": "function"]])
            } catch is ChatTemplateError {
            } catch {
                Issue.record("seed \(seed): untyped error \(error)")
            }
        }
    }

    /// Seeded random expressions rendered by jinja2 (expressions.json): same text, or both throw.
    @Test func randomExpressionsMatchJinja2() throws {
        let data = try Data(contentsOf: ChatTemplateFixtures.directory.appendingPathComponent("expressions.json"))
        guard case .object(let root) = try JinjaValue(jsonData: data), case .object(let context)? = root["context"],
            case .array(let cases)? = root["cases"]
        else {
            Issue.record("expressions.json is malformed")
            return
        }
        #expect(cases.count >= 400)
        // Jinja evaluates an all-constant `{{ … }}` while compiling, where slicing a non-sequence
        // gives Undefined. Scion treats an output as constant only when it has no variables at
        // all; here jinja2 also folds a conditional whose untaken branch names a variable.
        let knownDivergences: Set<String> = [
            "{{ [(not (['x', 'y'] | d('x', true))), ({'k': 'v', 'a': 2}[1:3] if (1, 'a') else [[], z])] }}"
        ]
        for case .object(let c) in cases {
            let source = c["source"]?.stringValue ?? ""
            if knownDivergences.contains(source) { continue }
            let result = Result { try ChatTemplate(source: source).render(variables: context) }
            switch (result, c["expected"]?.stringValue) {
            case (.success(let output), let expected?):
                #expect(output == expected, "\(source)")
            case (.failure(let error), let expected?):
                Issue.record("\(source): threw \(error), jinja2 rendered \(expected.debugDescription)")
            case (.success(let output), nil):
                Issue.record("\(source): rendered \(output.debugDescription), jinja2 raised \(c["error"]?.stringValue ?? "")")
            case (.failure(let error), nil):
                #expect(error is ChatTemplateError, "\(source)")
            }
        }
    }

    /// Seeded random mixes of text and tags (whitespace.json): byte-identical output to jinja2.
    @Test func randomWhitespaceTemplatesMatchJinja2() throws {
        let data = try Data(contentsOf: ChatTemplateFixtures.directory.appendingPathComponent("whitespace.json"))
        guard case .object(let root) = try JinjaValue(jsonData: data), case .object(let context)? = root["context"],
            case .array(let cases)? = root["cases"]
        else {
            Issue.record("whitespace.json is malformed")
            return
        }
        #expect(cases.count >= 500)
        for case .object(let c) in cases {
            let source = c["source"]?.stringValue ?? ""
            let result = Result { try ChatTemplate(source: source).render(variables: context) }
            switch (result, c["expected"]?.stringValue) {
            case (.success(let output), let expected?):
                #expect(output == expected, "\(source.debugDescription)")
            case (.failure(let error), let expected?):
                Issue.record("\(source.debugDescription): threw \(error), jinja2 rendered \(expected.debugDescription)")
            case (.success(let output), nil):
                Issue.record("\(source.debugDescription): rendered \(output.debugDescription), jinja2 raised")
            case (.failure, nil):
                break
            }
        }
    }
}
