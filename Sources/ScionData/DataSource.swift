// Training-data inputs: plain text, JSONL text, prompt/completion pairs and chat conversations,
// read into documents made of segments that are or are not supervised (trained on).
// Not tokenization (see DocumentTokenizer.swift) nor caching (TokenCache.swift). Every error names
// the file, and the 1-based line where there is one.

import Foundation
import ScionTokenizers

/// How a plain-text file is cut into documents.
public enum TextSplitting: String, Sendable, Codable, Hashable {
    /// Each file is one document.
    case wholeFile
    /// Paragraphs separated by one or more blank lines are separate documents.
    case blankLines
}

/// One input of the training data.
///
/// Text and JSONL-text documents are supervised throughout. Prompt/completion pairs supervise
/// only the completion; chat conversations supervise only the assistant turns.
///
/// ```swift
/// let sources: [DataSource] = [
///     .text(URL(filePath: "books/"), splitting: .blankLines),
///     .jsonl(URL(filePath: "web.jsonl"), textField: "text"),
///     .promptCompletion(URL(filePath: "sft.jsonl")),
///     .chat(URL(filePath: "chats.jsonl")),
/// ]
/// ```
public enum DataSource: Sendable, Hashable, Codable {
    /// A text file, or a folder read recursively (non-hidden regular files, sorted by path).
    case text(URL, splitting: TextSplitting = .wholeFile)
    /// JSON Lines with the document text in `textField`.
    case jsonl(URL, textField: String = "text")
    /// JSON Lines with a prompt (not supervised) and a completion (supervised).
    case promptCompletion(URL, promptField: String = "prompt", completionField: String = "completion")
    /// JSON Lines with a list of `{role, content}` messages, rendered with the chat template;
    /// the assistant turns are supervised.
    case chat(URL, messagesField: String = "messages")

    /// The file or folder this source reads.
    public var url: URL {
        switch self {
        case .text(let u, _), .jsonl(let u, _), .promptCompletion(let u, _, _), .chat(let u, _): return u
        }
    }

    /// Whether some tokens of this source are not supervised (so a loss mask is needed).
    public var hasUnsupervisedTokens: Bool {
        switch self {
        case .text, .jsonl: return false
        case .promptCompletion, .chat: return true
        }
    }

    /// A stable description of the kind and options (not the path), for cache fingerprints.
    var optionsDescription: String {
        switch self {
        case .text(_, let s): return "text:\(s.rawValue)"
        case .jsonl(_, let f): return "jsonl:\(f)"
        case .promptCompletion(_, let p, let c): return "pc:\(p):\(c)"
        case .chat(_, let m): return "chat:\(m)"
        }
    }

    /// The regular files this source reads, sorted by path.
    ///
    /// - Throws: ``DataError/unreadable(path:reason:)`` when the path is missing or unreadable.
    public func files() throws -> [URL] {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw DataError.unreadable(path: url.path, reason: "no such file or folder")
        }
        guard isDirectory.boolValue else { return [url] }
        guard let e = fm.enumerator(at: url, includingPropertiesForKeys: [.isRegularFileKey],
                                    options: [.skipsHiddenFiles]) else {
            throw DataError.unreadable(path: url.path, reason: "cannot list folder")
        }
        var out: [URL] = []
        for case let f as URL in e {
            let values = try? f.resourceValues(forKeys: [.isRegularFileKey])
            if values?.isRegularFile == true { out.append(f) }
        }
        return out.sorted { $0.path < $1.path }
    }
}

/// A piece of a document's text and whether the model is trained to predict it.
public struct TextSegment: Sendable, Equatable {
    /// The text.
    public var text: String
    /// Whether its tokens are targets of the loss.
    public var supervised: Bool

    /// Creates a segment.
    public init(_ text: String, supervised: Bool = true) {
        self.text = text
        self.supervised = supervised
    }
}

/// A document before tokenization: segments in order.
public struct TextDocument: Sendable, Equatable {
    /// The segments, concatenated in order.
    public var segments: [TextSegment]

    /// Creates a document.
    public init(segments: [TextSegment]) { self.segments = segments }

    /// A fully supervised document.
    public init(text: String) { self.segments = [TextSegment(text)] }
}

/// Reads ``DataSource``s into ``TextDocument``s.
public enum SourceReader {
    /// Reads all documents of a source, file by file.
    ///
    /// - Parameters:
    ///   - source: The input.
    ///   - chatTemplate: Needed for ``DataSource/chat(_:messagesField:)`` sources.
    /// - Returns: The documents in file order, empty documents dropped.
    /// - Throws: ``DataError`` naming the file and line.
    public static func documents(of source: DataSource, chatTemplate: ChatTemplate? = nil) throws
        -> [TextDocument] {
        var out: [TextDocument] = []
        for file in try source.files() {
            let data = try readFile(file)
            try documents(in: data, path: file.path, source: source, chatTemplate: chatTemplate) {
                out.append($0)
            }
        }
        return out
    }

    /// Reads a file's bytes.
    static func readFile(_ url: URL) throws -> Data {
        do {
            return try Data(contentsOf: url)
        } catch {
            throw DataError.unreadable(path: url.path, reason: error.localizedDescription)
        }
    }

    /// Decodes a file as UTF-8, naming the first bad line when it is not.
    static func decodeUTF8(_ data: Data, path: String) throws -> String {
        let text = String(decoding: data, as: UTF8.self)
        if text.utf8.elementsEqual(data) { return text }
        var line = 1
        for piece in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            if !String(decoding: piece, as: UTF8.self).utf8.elementsEqual(piece) { break }
            line += 1
        }
        throw DataError.invalidUTF8(path: path, line: line)
    }

    static func documents(in data: Data, path: String, source: DataSource, chatTemplate: ChatTemplate?,
                          emit: (TextDocument) -> Void) throws {
        if case .text(_, let splitting) = source {
            let text = try decodeUTF8(data, path: path)
            switch splitting {
            case .wholeFile:
                if !text.isEmpty { emit(TextDocument(text: text)) }
            case .blankLines:
                for p in paragraphs(text) { emit(TextDocument(text: p)) }
            }
            return
        }
        var lineNumber = 0
        for piece in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            guard String(decoding: piece, as: UTF8.self).utf8.elementsEqual(piece) else {
                throw DataError.invalidUTF8(path: path, line: lineNumber)
            }
            if piece.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            let value: JinjaValue
            do {
                value = try JinjaValue(jsonData: Data(piece))
            } catch {
                throw DataError.invalidJSON(path: path, line: lineNumber, reason: "\(error)")
            }
            guard case .object(let object) = value else {
                throw DataError.invalidJSON(path: path, line: lineNumber, reason: "not a JSON object")
            }
            func string(_ field: String) throws -> String {
                guard let s = object[field]?.stringValue else {
                    throw DataError.invalidJSON(path: path, line: lineNumber,
                                                reason: "missing string field \"\(field)\"")
                }
                return s
            }
            switch source {
            case .text: break
            case .jsonl(_, let field):
                let text = try string(field)
                if !text.isEmpty { emit(TextDocument(text: text)) }
            case .promptCompletion(_, let p, let c):
                emit(TextDocument(segments: [TextSegment(try string(p), supervised: false),
                                             TextSegment(try string(c), supervised: true)]))
            case .chat(_, let field):
                guard case .array(let items)? = object[field] else {
                    throw DataError.invalidJSON(path: path, line: lineNumber,
                                                reason: "missing array field \"\(field)\"")
                }
                var messages: [ChatMessage] = []
                for item in items {
                    guard case .object(let m) = item, m["role"]?.stringValue != nil else {
                        throw DataError.invalidJSON(path: path, line: lineNumber,
                                                    reason: "a message is not an object with a role")
                    }
                    messages.append(ChatMessage(fields: m))
                }
                guard let chatTemplate else {
                    throw DataError.chatTemplate(path: path, line: lineNumber, reason: "no chat template given")
                }
                do {
                    emit(try ChatRendering.document(messages: messages, template: chatTemplate))
                } catch let e as ChatRendering.NotPrefixStable {
                    throw DataError.chatTemplate(path: path, line: lineNumber, reason: e.reason)
                } catch {
                    throw DataError.chatTemplate(path: path, line: lineNumber, reason: "\(error)")
                }
            }
        }
    }

    /// Paragraphs separated by blank (empty or whitespace-only) lines, trimmed of outer newlines.
    static func paragraphs(_ text: String) -> [String] {
        var out: [String] = []
        var current: [Substring] = []
        func flush() {
            if !current.isEmpty { out.append(current.joined(separator: "\n")) }
            current = []
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { flush() } else { current.append(line) }
        }
        flush()
        return out
    }
}

/// Renders a conversation into segments so that only the assistant turns are supervised.
///
/// For assistant message `i`, the text of `render(messages[..<i], addGenerationPrompt: true)` is the
/// context (role header included, not supervised) and the rest of `render(messages[...i])` is the
/// answer and its end-of-turn marker (supervised). This needs a template whose renders of
/// a conversation's prefixes are prefixes of the whole render, as ChatML-style templates are.
public enum ChatRendering {
    struct NotPrefixStable: Error { let reason: String }

    /// The conversation as a document with the assistant turns supervised.
    ///
    /// - Throws: `ChatTemplateError` from rendering, or an error when the template's renders
    ///   are not prefix-stable.
    public static func document(messages: [ChatMessage], template: ChatTemplate) throws -> TextDocument {
        var segments: [TextSegment] = []
        var done = ""  // the text covered by segments so far
        func append(_ full: String, supervised: Bool) throws {
            guard full.hasPrefix(done) else {
                throw NotPrefixStable(reason: "template renders of a prefix are not a prefix of the whole")
            }
            let piece = String(full.dropFirst(done.count))
            if !piece.isEmpty { segments.append(TextSegment(piece, supervised: supervised)) }
            done = full
        }
        for i in messages.indices where messages[i].role == "assistant" {
            try append(try template.render(messages: Array(messages[..<i]), addGenerationPrompt: true),
                       supervised: false)
            try append(try template.render(messages: Array(messages[...i])), supervised: true)
        }
        try append(try template.render(messages: messages), supervised: false)
        return TextDocument(segments: segments)
    }
}
