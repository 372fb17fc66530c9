/// A label selector in Caracal's expression language (Calico-like):
///
///     app == 'web' && tier in {'a', 'b'}
///     has(team) && !(env != 'prod' || role not in {"db"})
///     all()
///
/// Grammar (lowest precedence first):
///
///     expr    := or
///     or      := and ( '||' and )*
///     and     := unary ( '&&' unary )*
///     unary   := '!' unary | primary
///     primary := '(' expr ')' | 'all()' | 'has(' key ')'
///              | key ( '==' | '!=' ) string
///              | key ( 'in' | 'not in' ) '{' [ string ( ',' string )* ] '}'
///
/// Keys are label keys (`[A-Za-z0-9_./-]+`); strings use single or double
/// quotes. The empty selector (only whitespace) selects everything.
public indirect enum Selector: Hashable, Sendable {
    case all
    case equals(String, String)
    case notEquals(String, String)
    case isIn(String, [String])
    case notIn(String, [String])
    case has(String)
    case not(Selector)
    case and(Selector, Selector)
    case or(Selector, Selector)

    /// Whether a set of labels satisfies the selector. A missing label is
    /// not equal to anything, so `k != 'v'` and `k not in {...}` match it
    /// (as in Calico).
    public func matches(_ labels: [String: String]) -> Bool {
        switch self {
        case .all: return true
        case let .equals(k, v): return labels[k] == v
        case let .notEquals(k, v): return labels[k] != v
        case let .isIn(k, vs): return labels[k].map { vs.contains($0) } ?? false
        case let .notIn(k, vs): return labels[k].map { !vs.contains($0) } ?? true
        case let .has(k): return labels[k] != nil
        case let .not(s): return !s.matches(labels)
        case let .and(a, b): return a.matches(labels) && b.matches(labels)
        case let .or(a, b): return a.matches(labels) || b.matches(labels)
        }
    }

    /// Conjunction of selectors (`.all` for none).
    public static func allOf(_ parts: [Selector]) -> Selector {
        let useful = parts.filter { $0 != .all }
        guard var result = useful.first else { return .all }
        for p in useful.dropFirst() { result = .and(result, p) }
        return result
    }
}

extension Selector: CustomStringConvertible {
    /// Canonical text: parses back to an equal value.
    public var description: String { render(parentPrecedence: 0) }

    private func render(parentPrecedence: Int) -> String {
        // Byte search: with Foundation imported, `contains("'")` would be
        // a locale-aware substring search, slow on the compiler's path.
        func q(_ s: String) -> String { s.utf8.contains(UInt8(ascii: "'")) ? "\"\(s)\"" : "'\(s)'" }
        func list(_ vs: [String]) -> String { "{" + vs.map(q).joined(separator: ", ") + "}" }
        switch self {
        case .all: return "all()"
        case let .equals(k, v): return "\(k) == \(q(v))"
        case let .notEquals(k, v): return "\(k) != \(q(v))"
        case let .isIn(k, vs): return "\(k) in \(list(vs))"
        case let .notIn(k, vs): return "\(k) not in \(list(vs))"
        case let .has(k): return "has(\(k))"
        case let .not(s): return "!" + s.render(parentPrecedence: 3)
        // The parser folds `a || b || c` to the left, so a right operand of
        // the same operator (`a || (b || c)`) keeps its parentheses: without
        // them the text would parse back to a differently shaped tree.
        case let .and(a, b):
            let text = a.render(parentPrecedence: 2) + " && " + b.render(parentPrecedence: 3)
            return parentPrecedence > 2 ? "(\(text))" : text
        case let .or(a, b):
            let text = a.render(parentPrecedence: 1) + " || " + b.render(parentPrecedence: 2)
            return parentPrecedence > 1 ? "(\(text))" : text
        }
    }
}

/// A selector that does not parse: `position` is the 0-based character
/// offset in the input where the problem was found.
public struct SelectorParseError: Error, Hashable, Sendable, CustomStringConvertible {
    public var position: Int
    public var message: String
    public var input: String

    public var description: String {
        "selector error at position \(position): \(message) in \"\(input)\""
    }
}

extension Selector {
    /// Parses the expression language described on `Selector`.
    public init(parsing text: String) throws(SelectorParseError) {
        var parser = SelectorParser(text)
        self = try parser.parseAll()
    }
}

struct SelectorParser {
    private let chars: [Character]
    private let input: String
    private var pos = 0
    /// Bounds recursion so hostile input cannot exhaust the stack.
    private var depth = 0
    static let maxDepth = 64

    init(_ text: String) {
        input = text
        chars = Array(text)
    }

    mutating func parseAll() throws(SelectorParseError) -> Selector {
        skipSpace()
        if pos == chars.count { return .all }
        let s = try parseOr()
        skipSpace()
        guard pos == chars.count else { throw fail("unexpected '\(chars[pos])'") }
        return s
    }

    private func fail(_ message: String, at position: Int? = nil) -> SelectorParseError {
        SelectorParseError(position: position ?? pos, message: message, input: input)
    }

    private mutating func skipSpace() {
        while pos < chars.count, chars[pos].isWhitespace { pos += 1 }
    }

    private mutating func eat(_ token: String) -> Bool {
        skipSpace()
        let t = Array(token)
        guard pos + t.count <= chars.count, Array(chars[pos..<pos + t.count]) == t else { return false }
        pos += t.count
        return true
    }

    /// A keyword must not run on into a key character (`in` vs `inner`).
    private mutating func eatWord(_ word: String) -> Bool {
        skipSpace()
        let save = pos
        guard eat(word) else { return false }
        if pos < chars.count, Self.isKeyChar(chars[pos]) { pos = save; return false }
        return true
    }

    static func isKeyChar(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || c == "_" || c == "." || c == "/" || c == "-")
    }

    private mutating func enter() throws(SelectorParseError) {
        depth += 1
        if depth > Self.maxDepth { throw fail("expression nested too deeply") }
    }

    private mutating func parseOr() throws(SelectorParseError) -> Selector {
        try enter(); defer { depth -= 1 }
        var left = try parseAnd()
        while eat("||") { left = .or(left, try parseAnd()) }
        return left
    }

    private mutating func parseAnd() throws(SelectorParseError) -> Selector {
        try enter(); defer { depth -= 1 }
        var left = try parseUnary()
        while eat("&&") { left = .and(left, try parseUnary()) }
        return left
    }

    private mutating func parseUnary() throws(SelectorParseError) -> Selector {
        try enter(); defer { depth -= 1 }
        skipSpace()
        if pos < chars.count, chars[pos] == "!", !(pos + 1 < chars.count && chars[pos + 1] == "=") {
            pos += 1
            return .not(try parseUnary())
        }
        return try parsePrimary()
    }

    private mutating func parsePrimary() throws(SelectorParseError) -> Selector {
        skipSpace()
        guard pos < chars.count else { throw fail("expected an expression, found end of input") }
        if eat("(") {
            let inner = try parseOr()
            guard eat(")") else { throw fail("expected ')'") }
            return inner
        }
        let key = parseKey()
        guard !key.isEmpty else { throw fail("expected a label key, 'has(', 'all()' or '('") }
        if key == "all", eat("(") {
            guard eat(")") else { throw fail("expected ')' after 'all('") }
            return .all
        }
        if key == "has", eat("(") {
            skipSpace()
            let inner = parseKey()
            guard !inner.isEmpty else { throw fail("expected a label key inside has()") }
            guard eat(")") else { throw fail("expected ')' after has(\(inner)") }
            return .has(inner)
        }
        if eat("==") { return .equals(key, try parseString()) }
        if eat("!=") { return .notEquals(key, try parseString()) }
        if eatWord("in") { return .isIn(key, try parseSet()) }
        if eatWord("not") {
            guard eatWord("in") else { throw fail("expected 'in' after 'not'") }
            return .notIn(key, try parseSet())
        }
        skipSpace()
        throw fail(pos < chars.count
            ? "expected '==', '!=', 'in' or 'not in' after key '\(key)'"
            : "expected an operator after key '\(key)', found end of input")
    }

    private mutating func parseKey() -> String {
        skipSpace()
        let start = pos
        while pos < chars.count, Self.isKeyChar(chars[pos]) { pos += 1 }
        return String(chars[start..<pos])
    }

    private mutating func parseString() throws(SelectorParseError) -> String {
        skipSpace()
        guard pos < chars.count, chars[pos] == "'" || chars[pos] == "\"" else {
            throw fail("expected a quoted string")
        }
        let quote = chars[pos]
        let start = pos
        pos += 1
        var value = ""
        while pos < chars.count, chars[pos] != quote {
            value.append(chars[pos])
            pos += 1
        }
        guard pos < chars.count else { throw fail("unterminated string", at: start) }
        pos += 1
        return value
    }

    private mutating func parseSet() throws(SelectorParseError) -> [String] {
        guard eat("{") else { throw fail("expected '{'") }
        var values: [String] = []
        if eat("}") { return values }
        repeat {
            values.append(try parseString())
        } while eat(",")
        guard eat("}") else { throw fail("expected ',' or '}'") }
        return values
    }
}
