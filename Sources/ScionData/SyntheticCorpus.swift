// Scion's built-in corpus: a seeded generator of a small English-like language with real structure,
// so a tiny model's learning is measurable without downloading anything. The text is generated
// here, never copied. Structure a model can learn:
//   - a probabilistic grammar: subject–verb number agreement ("the cat sees" / "the cats see"),
//     "a"/"an" before vowels, relative clauses ("the dog that chases two cats") and nested
//     complement clauses ("Mira says that the boys think that …"), depth-limited;
//   - a fixed table of facts (each person's town, pet and trade) that every document states the
//     same way, in statements and question–answer pairs.
// The grammar and facts are constants; the seed only drives sampling.

import Foundation
import ScionTensor
import ScionTokenizers

/// A seeded generator of Scion's synthetic training language, and its entropy baselines.
///
/// ```swift
/// let docs = SyntheticCorpus.generate(documents: 2000, seed: 1)
/// let tokenizer = try SyntheticCorpus.tokenizer()          // byte-level BPE, ~512 ids, EOS = 0
/// let baseline = SyntheticCorpus.unigramEntropy(of: docs, tokenizer: tokenizer)  // nats/token
/// ```
public enum SyntheticCorpus {
    /// The end-of-text token of ``tokenizer(vocabularySize:)`` (id 0).
    public static let endOfText = "<|endoftext|>"

    struct Noun { let singular: String; let plural: String }
    struct Verb { let singular: String; let plural: String }
    struct Person { let name: String; let town: String; let pet: String; let trade: String }

    static let nouns = [
        Noun(singular: "cat", plural: "cats"), Noun(singular: "dog", plural: "dogs"),
        Noun(singular: "bird", plural: "birds"), Noun(singular: "child", plural: "children"),
        Noun(singular: "farmer", plural: "farmers"), Noun(singular: "teacher", plural: "teachers"),
        Noun(singular: "mouse", plural: "mice"), Noun(singular: "fox", plural: "foxes"),
        Noun(singular: "owl", plural: "owls"), Noun(singular: "girl", plural: "girls"),
        Noun(singular: "boy", plural: "boys"), Noun(singular: "elder", plural: "elders"),
    ]
    static let adjectives = ["small", "old", "red", "quiet", "happy", "tall", "green", "brave", "idle", "eager"]
    static let transitive = [
        Verb(singular: "sees", plural: "see"), Verb(singular: "likes", plural: "like"),
        Verb(singular: "chases", plural: "chase"), Verb(singular: "finds", plural: "find"),
        Verb(singular: "helps", plural: "help"), Verb(singular: "follows", plural: "follow"),
    ]
    static let intransitive = [
        Verb(singular: "sleeps", plural: "sleep"), Verb(singular: "runs", plural: "run"),
        Verb(singular: "sings", plural: "sing"), Verb(singular: "waits", plural: "wait"),
    ]
    static let complement = [
        Verb(singular: "thinks", plural: "think"), Verb(singular: "says", plural: "say"),
        Verb(singular: "knows", plural: "know"),
    ]
    static let adverbs = ["quickly", "slowly", "often", "today", "again"]
    static let places = ["in the garden", "near the river", "by the mill", "at the market", "under the bridge"]
    static let singularDeterminers = ["the", "a", "every", "this"]
    static let pluralDeterminers = ["the", "some", "two", "these", "many"]
    static let people = [
        Person(name: "Mira", town: "Dovren", pet: "a fox", trade: "baker"),
        Person(name: "Tobin", town: "Kelmar", pet: "a goat", trade: "miner"),
        Person(name: "Ansel", town: "Ashby", pet: "an owl", trade: "weaver"),
        Person(name: "Lena", town: "Porlen", pet: "a crow", trade: "sailor"),
        Person(name: "Oskar", town: "Dovren", pet: "a goat", trade: "smith"),
        Person(name: "Pia", town: "Kelmar", pet: "an eel", trade: "potter"),
        Person(name: "Rudi", town: "Ashby", pet: "a crow", trade: "baker"),
        Person(name: "Sela", town: "Porlen", pet: "a fox", trade: "healer"),
    ]

    /// Sampling state: the generator and helpers.
    struct Sampler {
        var g: RandomGenerator

        mutating func pick<T>(_ items: [T]) -> T { items[g.nextIndex(below: items.count)] }
        mutating func chance(_ p: Double) -> Bool { g.nextUniform() < p }

        /// A noun phrase of the given number; `depth` bounds nesting.
        mutating func nounPhrase(plural: Bool, depth: Int) -> String {
            if !plural && chance(0.15) { return pick(SyntheticCorpus.people).name }
            let det = pick(plural ? SyntheticCorpus.pluralDeterminers : SyntheticCorpus.singularDeterminers)
            let noun = pick(SyntheticCorpus.nouns)
            var words: [String] = []
            if chance(0.4) { words.append(pick(SyntheticCorpus.adjectives)) }
            words.append(plural ? noun.plural : noun.singular)
            var article = det
            if det == "a", let first = words[0].first, "aeiou".contains(first) { article = "an" }
            var phrase = ([article] + words).joined(separator: " ")
            if depth > 0 && chance(0.25) {
                phrase += " that " + verbPhrase(plural: plural, depth: depth - 1)
            }
            return phrase
        }

        /// A verb phrase agreeing with a subject of the given number.
        mutating func verbPhrase(plural: Bool, depth: Int) -> String {
            let r = g.nextUniform()
            func form(_ v: Verb) -> String { plural ? v.plural : v.singular }
            if r < 0.5 {
                return form(pick(SyntheticCorpus.transitive)) + " " + nounPhrase(plural: chance(0.4), depth: depth)
            } else if r < 0.8 || depth == 0 {
                var s = form(pick(SyntheticCorpus.intransitive))
                if chance(0.5) { s += " " + pick(SyntheticCorpus.adverbs) }
                return s
            } else {
                return form(pick(SyntheticCorpus.complement)) + " that " + clause(depth: depth - 1)
            }
        }

        /// A clause: subject and agreeing verb phrase, sometimes with a place.
        mutating func clause(depth: Int) -> String {
            let plural = chance(0.4)
            var s = nounPhrase(plural: plural, depth: depth) + " " + verbPhrase(plural: plural, depth: depth)
            if chance(0.2) { s += " " + pick(SyntheticCorpus.places) }
            return s
        }

        /// A statement or question–answer pair about one person's facts.
        mutating func fact() -> String {
            let p = pick(SyntheticCorpus.people)
            switch g.nextIndex(below: 6) {
            case 0: return "\(p.name) lives in \(p.town)."
            case 1: return "\(p.name) keeps \(p.pet)."
            case 2: return "\(p.name) is a \(p.trade)."
            case 3: return "Where does \(p.name) live? \(p.name) lives in \(p.town)."
            case 4: return "What does \(p.name) keep? \(p.name) keeps \(p.pet)."
            default: return "Who is the \(p.trade) from \(p.town)? \(SyntheticCorpus.whoIs(trade: p.trade, town: p.town))."
            }
        }

        mutating func document() -> String {
            let count = 3 + g.nextIndex(below: 6)
            var sentences: [String] = []
            for _ in 0..<count {
                if chance(0.3) {
                    sentences.append(fact())
                } else {
                    let c = clause(depth: 2)
                    sentences.append(c.prefix(1).uppercased() + c.dropFirst() + ".")
                }
            }
            return sentences.joined(separator: " ")
        }
    }

    /// The names of everyone with `trade` in `town`, joined with "and".
    static func whoIs(trade: String, town: String) -> String {
        people.filter { $0.trade == trade && $0.town == town }.map(\.name).joined(separator: " and ")
    }

    /// Generates `documents` documents (3–8 sentences each) for `seed`.
    ///
    /// The same seed gives the same text on every platform.
    public static func generate(documents: Int, seed: UInt64) -> [String] {
        var s = Sampler(g: RandomGenerator(seed: seed))
        return (0..<documents).map { _ in s.document() }
    }

    /// A byte-level BPE tokenizer trained on the corpus (deterministic: fixed corpus and trainer).
    ///
    /// `<|endoftext|>` is id 0. Training stops early when no pair is seen twice, so the vocabulary
    /// can be smaller than asked.
    ///
    /// - Parameter vocabularySize: The target vocabulary size (at least 257).
    /// - Throws: `TokenizerError` from the trainer.
    public static func tokenizer(vocabularySize: Int = 512) throws -> Tokenizer {
        let texts = generate(documents: 1000, seed: 0x5C10)
        return try BPETrainer(vocabularySize: vocabularySize, specialTokens: [endOfText]).train(on: texts)
    }

    /// The documents tokenized into an in-memory corpus.
    public static func corpus(documents: [String], tokenizer: Tokenizer) -> InMemoryCorpus {
        InMemoryCorpus(documents: documents.map { TextDocument(text: $0) }, tokenizer: tokenizer)
    }

    /// The entropy, in nats per token, of the unigram model fitted to the tokenized documents with
    /// EOS after each: the loss a model that ignores context cannot beat.
    public static func unigramEntropy(of documents: [String], tokenizer: Tokenizer) -> Double {
        EntropyBaseline.unigram(sequences: tokenSequences(documents, tokenizer: tokenizer))
    }

    /// The conditional entropy, in nats per token, of the bigram model fitted to the tokenized
    /// documents (EOS after each): a model that learns the grammar should go below it.
    public static func bigramEntropy(of documents: [String], tokenizer: Tokenizer) -> Double {
        EntropyBaseline.bigram(sequences: tokenSequences(documents, tokenizer: tokenizer))
    }

    static func tokenSequences(_ documents: [String], tokenizer: Tokenizer) -> [[Int]] {
        let eos = tokenizer.id(forToken: endOfText)
        return documents.map { tokenizer.tokenIDs($0) + (eos.map { [$0] } ?? []) }
    }
}

/// Empirical entropies of token sequences: baselines for training loss.
public enum EntropyBaseline {
    /// `-Σ p(x) ln p(x)` over the token frequencies of all sequences, in nats.
    public static func unigram(sequences: [[Int]]) -> Double {
        var counts: [Int: Int] = [:]
        var n = 0
        for s in sequences {
            for t in s { counts[t, default: 0] += 1 }
            n += s.count
        }
        guard n > 0 else { return 0 }
        // Summed in key order: dictionary order varies between runs, and so would the last bits.
        return counts.keys.sorted().reduce(0.0) { acc, key in
            let p = Double(counts[key] ?? 0) / Double(n)
            return acc - p * Foundation.log(p)
        }
    }

    /// `H(X_t | X_{t-1})` over adjacent pairs within each sequence (in-sample), in nats.
    ///
    /// ```
    /// H = -Σ_{a,b} p(a,b) ln( c(a,b) / c(a,·) )
    /// ```
    public static func bigram(sequences: [[Int]]) -> Double {
        var pairs: [Int64: Int] = [:]
        var firsts: [Int: Int] = [:]
        var n = 0
        for s in sequences where s.count > 1 {
            for i in 1..<s.count {
                pairs[Int64(s[i - 1]) << 32 | Int64(s[i]), default: 0] += 1
                firsts[s[i - 1], default: 0] += 1
                n += 1
            }
        }
        guard n > 0 else { return 0 }
        var h = 0.0
        for key in pairs.keys.sorted() {
            let c = pairs[key] ?? 0
            let a = Int(key >> 32)
            let conditional = Double(c) / Double(firsts[a] ?? c)
            h -= Double(c) / Double(n) * Foundation.log(conditional)
        }
        return h
    }
}
