// The adapter_config.json every method writes, pinned: each method's config (defaults, and with the
// common fields set) and every PEFT fixture's config decoded and re-encoded must give exactly the
// bytes recorded in Tests/Fixtures/adapter-configs/golden.json. Guards the shared-field refactor
// (`PEFTCommonConfig`) against any change of file format. SCION_WRITE_CONFIG_GOLDEN=1 rewrites the file.

import Foundation
import Testing
import ScionAdapters

@Suite struct ConfigFormatTests {
    static let goldenPath = Fixtures.root.appendingPathComponent("adapter-configs/golden.json").path

    static func encode(_ c: any AdapterConfig) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try e.encode(c), as: UTF8.self)
    }

    /// Label → encoded config.
    static func current() throws -> [String: String] {
        var out: [String: String] = [:]
        for m in allAdapterMethods {
            out[m.name + "-default"] = try encode(m.makeConfig(r: 4, targetModules: nil))
            var c = m.makeConfig(r: 6, targetModules: .names(["q_proj", "v_proj"]))
            c.baseModelNameOrPath = "some/model"
            c.fanInFanOut = true
            out[m.name + "-set"] = try encode(c)
            var regex = m.makeConfig(r: 2, targetModules: .regex(".*\\.k_proj"))
            regex.targetModules = .allLinear
            out[m.name + "-all-linear"] = try encode(regex)
        }
        for name in PEFTParityTests.cases {
            out["fixture-" + name] = try encode(PEFTFormat.readConfig(directory: Fixtures.peftPath(name)))
        }
        return out
    }

    @Test func everyConfigEncodesAsRecorded() throws {
        let now = try Self.current()
        if ProcessInfo.processInfo.environment["SCION_WRITE_CONFIG_GOLDEN"] != nil {
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            try e.encode(now).write(to: URL(fileURLWithPath: Self.goldenPath))
            return
        }
        let golden = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: URL(fileURLWithPath: Self.goldenPath)))
        for (label, text) in golden.sorted(by: { $0.key < $1.key }) {
            #expect(now[label] == text, "\(label)")
        }
    }
}
