import Yams

/// Bad YAML input (a policy, an endpoint file, an agent configuration).
/// Names the document (1-based), the field path inside it and the
/// line/column where the problem is, so a user can fix the file; nothing
/// from an input with any such error is applied.
public struct YAMLInputError: Error, Hashable, Sendable, CustomStringConvertible {
    public var document: Int
    public var path: String
    public var line: Int?
    public var column: Int?
    public var message: String

    public init(document: Int, path: String, line: Int? = nil, column: Int? = nil, message: String) {
        self.document = document
        self.path = path
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String {
        var where_ = "document \(document)"
        if let line, let column { where_ += " (line \(line), column \(column))" }
        let field = path.isEmpty ? "" : " \(path):"
        return "\(where_):\(field) \(message)"
    }
}

/// One YAML node with the path that led to it, for strict decoding with
/// precise errors: unknown fields and wrong types are errors.
public struct YField {
    public let node: Node
    public let path: String
    public let document: Int

    public init(node: Node, path: String, document: Int) {
        self.node = node
        self.path = path
        self.document = document
    }

    public func error(_ message: String, column offset: Int = 0) -> YAMLInputError {
        YAMLInputError(document: document, path: path, line: node.mark?.line,
                         column: node.mark.map { $0.column + offset }, message: message)
    }

    public var isMapping: Bool {
        if case .mapping = node { return true }
        return false
    }

    public var isNull: Bool {
        if case .scalar(let s) = node { return s.tag == Tag(.null) || (s.style == .plain && (s.string == "null" || s.string == "~" || s.string.isEmpty)) }
        return false
    }

    public func child(_ key: String, _ node: Node) -> YField {
        YField(node: node, path: path.isEmpty ? key : "\(path).\(key)", document: document)
    }

    /// A mapping whose keys must all be in `allowed`.
    public func mapping(allowed: Set<String>) throws(YAMLInputError) -> [String: YField] {
        if isNull { return [:] }
        guard case .mapping(let m) = node else { throw error("expected a mapping") }
        var out: [String: YField] = [:]
        for (k, v) in m {
            guard case .scalar(let ks) = k else { throw error("mapping keys must be strings") }
            let key = ks.string
            let field = child(key, v)
            guard allowed.contains(key) else {
                throw YAMLInputError(document: document, path: field.path, line: k.mark?.line,
                                       column: k.mark?.column, message: "unknown field '\(key)'")
            }
            guard out[key] == nil else {
                throw YAMLInputError(document: document, path: field.path, line: k.mark?.line,
                                       column: k.mark?.column, message: "duplicate field '\(key)'")
            }
            out[key] = field
        }
        return out
    }

    public func sequence() throws(YAMLInputError) -> [YField] {
        if isNull { return [] }
        guard case .sequence(let s) = node else { throw error("expected a list") }
        return s.enumerated().map { YField(node: $0.element, path: "\(path)[\($0.offset)]", document: document) }
    }

    public func string() throws(YAMLInputError) -> String {
        guard case .scalar(let s) = node, !isNull || s.style != .plain || !s.string.isEmpty else {
            throw error("expected a string")
        }
        return s.string
    }

    public func int() throws(YAMLInputError) -> Int {
        guard case .scalar(let s) = node, s.style == .plain, let v = Int(s.string) else {
            throw error("expected an integer")
        }
        return v
    }

    public func double() throws(YAMLInputError) -> Double {
        guard case .scalar(let s) = node, s.style == .plain, let v = Double(s.string), v.isFinite else {
            throw error("expected a number")
        }
        return v
    }

    /// An integer or a string, as in Kubernetes' IntOrString.
    public func intOrString() throws(YAMLInputError) -> Either {
        guard case .scalar(let s) = node, !isNull else { throw error("expected a number or a name") }
        if s.style == .plain, let v = Int(s.string) { return .int(v) }
        return .string(s.string)
    }

    public enum Either { case int(Int), string(String) }

    public func stringMap() throws(YAMLInputError) -> [String: String] {
        if isNull { return [:] }
        guard case .mapping(let m) = node else { throw error("expected a mapping of strings") }
        var out: [String: String] = [:]
        for (k, v) in m {
            guard case .scalar(let ks) = k else { throw error("keys must be strings") }
            let f = child(ks.string, v)
            guard out[ks.string] == nil else { throw f.error("duplicate key '\(ks.string)'") }
            out[ks.string] = try f.string()
        }
        return out
    }

    public func stringList() throws(YAMLInputError) -> [String] {
        var out: [String] = []
        for f in try sequence() { out.append(try f.string()) }
        return out
    }
}

/// Splits a YAML stream into its documents, reporting syntax errors with
/// the document they occur in.
public func yamlDocuments(_ text: String) throws(YAMLInputError) -> [YField] {
    var out: [YField] = []
    do {
        var documents = try Yams.compose_all(yaml: text)
        while let node = documents.next() {
            out.append(YField(node: node, path: "", document: out.count + 1))
        }
        if let failure = documents.error { throw failure }
    } catch let e as YamlError {
        var line: Int?, column: Int?, problem = "\(e)"
        switch e {
        case let .scanner(_, p, mark, _), let .parser(_, p, mark, _), let .composer(_, p, mark, _):
            line = mark.line; column = mark.column; problem = p
        default: break
        }
        // The failing document is the one after the last complete one.
        throw YAMLInputError(document: out.count + 1, path: "", line: line, column: column,
                               message: "invalid YAML: \(problem)")
    } catch {
        throw YAMLInputError(document: out.count + 1, path: "", message: "invalid YAML: \(error)")
    }
    return out
}
