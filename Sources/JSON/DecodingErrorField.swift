/// The field a `DecodingError` is about and what is wrong with it, so every
/// reader of operator input names the field the same way (CNI pool
/// definitions, desired-routes files), whichever decoder produced the error.
extension DecodingError {
    /// The path to the offending field; for a missing key it ends with that key.
    public var fieldPath: [any CodingKey] {
        switch self {
        case let .keyNotFound(key, context): context.codingPath + [key]
        case let .typeMismatch(_, context), let .valueNotFound(_, context), let .dataCorrupted(context): context.codingPath
        @unknown default: []
        }
    }

    /// What is wrong with the field, without its path.
    public var problem: String {
        switch self {
        case .keyNotFound: "missing"
        case let .typeMismatch(_, context): "wrong type: \(context.debugDescription)"
        case .valueNotFound: "missing value"
        case let .dataCorrupted(context): context.debugDescription
        @unknown default: "\(self)"
        }
    }
}
