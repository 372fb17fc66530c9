import Foundation
import JSON
import Testing

/// The hand-written RFC 8259 reader and writer (module JSON), on its own:
/// what it accepts, what it refuses and where, and that writing then
/// reading gives the same value.
@Suite("JSON text (RFC 8259)")
struct JSONTextTests {
    func parse(_ text: String) throws(JSONParseError) -> JSONValue { try JSONValue(parsing: Array(text.utf8)) }
    func failure(_ text: String) -> JSONParseError? {
        do { _ = try parse(text); return nil } catch { return error }
    }
    func failure(_ bytes: [UInt8]) -> JSONParseError? {
        do { _ = try JSONValue(parsing: bytes); return nil } catch { return error }
    }

    @Test func scalarsAreJSONTexts() throws {
        // §2: any value is a JSON text, with whitespace around it.
        #expect(try parse(" \t\r\n true \n") == .bool(true))
        #expect(try parse("null") == .null)
        #expect(try parse("\"x\"") == .string("x"))
        #expect(try parse("-0") == .int(0))
        #expect(try parse("[]") == .array([]) && parse("{}") == .object([:]))
    }

    @Test func numbers() throws {
        // §6: integers that fit Int64 stay exact; the rest are doubles.
        #expect(try parse("9223372036854775807") == .int(Int64.max))
        #expect(try parse("-9223372036854775808") == .int(Int64.min))
        #expect(try parse("9223372036854775808") == .double(9223372036854775808))
        #expect(try parse("1.5") == .double(1.5))
        #expect(try parse("1E2") == .double(100) && parse("1e-2") == .double(0.01) && parse("1e+2") == .double(100))
        #expect(try parse("-0.0") == .double(-0.0))
        for bad in ["01", "-", "+1", "1.", ".5", "1e", "1e+", "0x10", "NaN", "Infinity", "-Infinity", "1_000"] {
            #expect(failure(bad) != nil, "\(bad) is not a JSON number")
        }
        #expect(failure("1e400")?.problem.contains("out of range") == true, "no infinity from an overflowing exponent")
        #expect(failure("007")?.offset == 0)
    }

    @Test func strings() throws {
        #expect(try parse(#""\" \\ \/ \b \f \n \r \t""#) == .string("\" \\ / \u{08} \u{0C} \n \r \t"))
        #expect(try parse(#""\u00e9\u4e2D""#) == .string("é中"), "hex digits in either case")
        // §7: a character outside the BMP as a UTF-16 surrogate pair.
        #expect(try parse(#""\ud83d\ude00""#) == .string("😀"))
        #expect(try parse("\"😀 é\"") == .string("😀 é"), "raw UTF-8 passes through")
        #expect(failure(#""\ud83d""#)?.problem.contains("unpaired surrogate") == true)
        #expect(failure(#""\ude00""#)?.problem.contains("unpaired surrogate") == true)
        #expect(failure(#""\ud83d\u0041""#)?.problem.contains("low surrogate") == true)
        #expect(failure(#""\x41""#)?.problem == "invalid escape")
        #expect(failure(#""\u12""#) != nil)
        #expect(failure("\"a\u{01}b\"")?.problem == "unescaped control character in string")
        #expect(failure("\"tab\tinside\"") != nil, "a raw tab must be escaped")
        #expect(failure("\"open")?.problem == "unterminated string")
        #expect(try parse("\"\\u0000\"") == .string("\u{0}"), "NUL is allowed escaped")
    }

    @Test func utf8IsCheckedUpFront() {
        // §8.1: JSON text exchanged between systems is UTF-8.
        #expect(failure([0x22, 0xC3, 0x28, 0x22])?.problem == "invalid UTF-8")
        #expect(failure([0x22, 0xED, 0xA0, 0x80, 0x22])?.problem == "invalid UTF-8", "an encoded surrogate is not UTF-8")
        #expect(failure([0xFF]) != nil)
    }

    @Test func structureErrorsNameTheirOffset() {
        #expect(failure("[1,]")?.offset == 3, "no trailing comma")
        #expect(failure("{\"a\":1,}")?.problem == "expected a member name")
        #expect(failure("{\"a\" 1}")?.problem == "expected ':'")
        #expect(failure("{a:1}")?.problem == "expected a member name")
        #expect(failure("[1 2]")?.problem == "expected ',' or ']'")
        #expect(failure("{} {}")?.problem == "unexpected data after the JSON value")
        #expect(failure("")?.problem == "unexpected end of input")
        #expect(failure("tru")?.problem == "truncated literal")
        #expect(failure("nul1")?.problem == "invalid literal")
        #expect(failure("'a'")?.problem == "unexpected character")
        #expect(failure("// comment\n1") != nil, "no comments")
    }

    @Test func nestingIsBounded() throws {
        let deep = String(repeating: "[", count: 513) + String(repeating: "]", count: 513)
        #expect(failure(deep)?.problem.contains("nesting deeper") == true, "no unbounded recursion")
        let ok = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(try parse(ok).arrayValue?.count == 1)
    }

    @Test func repeatedNamesKeepTheLast() throws {
        // §4 leaves it open; the last one wins, as most readers do.
        #expect(try parse(#"{"a":1,"a":2}"#) == .object(["a": .int(2)]))
    }

    @Test func writingIsCompactSortedAndRoundTrips() throws {
        let value: JSONValue = [
            "z": [1, .double(2.5), true, nil], "a": "quote \" slash / back \\ nl \n ctl \u{01} é 😀", "m": ["k": -7],
        ]
        let text = value.encodedString
        #expect(text.hasPrefix(#"{"a":"quote \" slash / back \\ nl \n ctl \u0001 é 😀","m":{"k":-7},"z":[1,2.5,true,null]}"#))
        #expect(try JSONValue(parsing: value.encodedBytes) == value)
        #expect(JSONValue.double(.infinity).encodedString == "null", "no non-finite numbers in JSON")
    }

    @Test func codableThroughValues() throws {
        struct Record: Codable, Equatable {
            var name: String
            var when: Date
            var tags: [String: Int]
            var note: String?
        }
        let r = Record(name: "x/y", when: Date(timeIntervalSince1970: 1_700_000_000.5), tags: ["b": 2, "a": 1], note: nil)
        let bytes = try JSONValueEncoder().encodedBytes(r)
        #expect(String(decoding: bytes, as: UTF8.self) == #"{"name":"x/y","tags":{"a":1,"b":2},"when":1700000000.5}"#)
        #expect(try JSONValueDecoder().decode(Record.self, from: bytes) == r)
        // Records Foundation's encoder wrote (dates as seconds since 1970,
        // what older datastore files hold) still read.
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        let foundation = try encoder.encode(r)
        #expect(try JSONValueDecoder().decode(Record.self, from: Array(foundation)) == r)
    }

    @Test func decodingErrorsNameTheField() throws {
        struct Inner: Codable { var port: Int }
        struct Outer: Codable { var items: [Inner] }
        do {
            _ = try JSONValueDecoder().decode(Outer.self, from: Array(#"{"items":[{"port":1},{"port":"x"}]}"#.utf8))
            Issue.record("decoded a string as Int")
        } catch let error as DecodingError {
            #expect(error.fieldPath.map(\.stringValue) == ["items", "1", "port"] || error.fieldPath.map(\.stringValue) == ["items", "Index 1", "port"])
            #expect(!error.problem.isEmpty)
        }
    }
}
