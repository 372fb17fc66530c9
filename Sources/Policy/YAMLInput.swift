@_exported import StrictYAML

/// Bad policy or endpoint input (see `YAMLInputError`).
public typealias PolicyInputError = YAMLInputError
