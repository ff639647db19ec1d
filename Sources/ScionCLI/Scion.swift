// The `scion` command-line tool: parse arguments, call one library entry point, print.
// One file per subcommand; every subcommand offers --json for scripts.

import ArgumentParser
import Foundation

@main
struct Scion: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scion",
        abstract: "Pretrain, grow, adapt, compress and serve transformer language models in Swift.",
        version: ScionVersionInfo.string,
        subcommands: [DoctorCommand.self, DemoCommand.self, InspectCommand.self, TokenizeCommand.self,
                      GenerateCommand.self, ChatCommand.self, EvalCommand.self, EmbedCommand.self, TrainCommand.self,
                      FinetuneCommand.self, AdapterCommand.self, GrowCommand.self, CheckCommand.self])
}

/// Prints a value as pretty, key-sorted JSON on stdout.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data = try encoder.encode(value)
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write(Data("\n".utf8))
}
