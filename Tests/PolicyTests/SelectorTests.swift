import Testing
@testable import Policy

@Suite struct SelectorTests {
    @Test func parsesAndEvaluates() throws {
        let s = try Selector(parsing: "app == 'web' && tier in {'a','b'}")
        #expect(s.matches(["app": "web", "tier": "a"]))
        #expect(!s.matches(["app": "web", "tier": "c"]))
        #expect(!s.matches(["tier": "a"]))
        let t = try Selector(parsing: "has(team) && !(env != \"prod\" || role not in {'db'})")
        #expect(t.matches(["team": "t", "env": "prod", "role": "db"]))
        #expect(!t.matches(["team": "t", "env": "dev", "role": "db"]))
        #expect(!t.matches(["env": "prod", "role": "db"]))
    }

    @Test func precedenceAndOrBindsLooser() throws {
        let s = try Selector(parsing: "a == '1' || b == '2' && c == '3'")
        #expect(s == .or(.equals("a", "1"), .and(.equals("b", "2"), .equals("c", "3"))))
        #expect(s.matches(["a": "1"]))
        #expect(!s.matches(["b": "2"]))
    }

    @Test func missingLabelSemantics() throws {
        #expect(try Selector(parsing: "x != 'v'").matches([:]))
        #expect(try Selector(parsing: "x not in {'v'}").matches([:]))
        #expect(!(try Selector(parsing: "x in {'v'}").matches([:])))
        #expect(try Selector(parsing: "").matches(["any": "thing"]))
        #expect(try Selector(parsing: "all()").matches([:]))
        #expect(try Selector(parsing: "!has(x)").matches([:]))
    }

    @Test func roundTripsThroughDescription() throws {
        for text in ["app == 'web' && tier in {'a', 'b'}", "!(a == 'x' || has(b))", "k not in {}", "(a == '1' || b == '2') && c != '3'",
                     "all()", "x.y/z-w == \"it's\"",
                     // Right-nested groups of the same operator (found by FuzzSelector).
                     "a == '1' || (b == '2' || c == '3')", "a == '1' && (b == '2' && !c == '3')",
                     "x == '0' || (a == '2' || a == '2' || !b == '2' || b == '4') || b == '&|'"] {
            let s = try Selector(parsing: text)
            #expect(try Selector(parsing: s.description) == s, "\(text) -> \(s)")
        }
    }

    @Test func rightNestedGroupKeepsItsParentheses() throws {
        let s = try Selector(parsing: "a == '1' || (b == '2' || c == '3')")
        #expect(s == .or(.equals("a", "1"), .or(.equals("b", "2"), .equals("c", "3"))))
        #expect(s.description == "a == '1' || (b == '2' || c == '3')")
    }

    @Test(arguments: [
        ("app = 'web'", 4), ("app == web", 7), ("app == 'web", 7), ("(a == 'b'", 9), ("has(", 4),
        ("a in {'x' 'y'}", 10), ("a not 'x'", 6), ("&& a == 'b'", 0), ("a == 'b' b", 9), ("a", 1),
    ])
    func errorsNamePosition(text: String, position: Int) {
        #expect(throws: SelectorParseError.self) { try Selector(parsing: text) }
        do { _ = try Selector(parsing: text) } catch { #expect(error.position == position, "\(text): \(error)") }
    }

    @Test func deepNestingIsAnErrorNotACrash() {
        let text = String(repeating: "(", count: 10_000) + "a == 'b'" + String(repeating: ")", count: 10_000)
        #expect(throws: SelectorParseError.self) { try Selector(parsing: text) }
        let bangs = String(repeating: "!", count: 10_000) + "has(a)"
        #expect(throws: SelectorParseError.self) { try Selector(parsing: bangs) }
    }

    @Test func labelSelectorTranslation() {
        let ls = LabelSelector(matchLabels: ["app": "web"], matchExpressions: [
            .init(key: "tier", op: .in, values: ["a", "b"]), .init(key: "env", op: .notIn, values: ["dev"]),
            .init(key: "team", op: .exists), .init(key: "legacy", op: .doesNotExist),
        ])
        #expect(ls.selector.matches(["app": "web", "tier": "a", "team": "x"]))
        #expect(!ls.selector.matches(["app": "web", "tier": "a", "team": "x", "legacy": "1"]))
        #expect(!ls.selector.matches(["app": "web", "tier": "a", "team": "x", "env": "dev"]))
        #expect(!ls.selector.matches(["app": "web", "tier": "a"]))
        #expect(LabelSelector().selector.matches([:]))
    }
}
