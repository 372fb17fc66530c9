import ArgumentParser
import BGP
import Foundation

struct BGPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bgp",
        abstract: "BGP tools.",
        subcommands: [BGPRoutes.self, BGPReset.self, BGPMRTDump.self, BGPDecode.self]
    )
}

/// `caracal bgp decode`: decodes BGP messages from hex or a binary file and
/// shows what Caracal would do with them, including the NOTIFICATION it
/// would send (or the RFC 7606 action) for malformed ones.
struct BGPDecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decode BGP messages (hex argument, hex on stdin, or --file binary).",
        discussion: """
            Messages are decoded in order as a stream. A malformed message prints the \
            NOTIFICATION Caracal would send (names, numbers, data hex) or the RFC 7606 \
            action, and the command exits with status 2.
            """
    )

    @Argument(help: "Hex bytes of one or more messages (spaces and colons allowed). Reads stdin when absent.")
    var hex: [String] = []

    @Option(name: .long, help: "Read raw binary messages from this file instead of hex.")
    var file: String?

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @Flag(name: .long, inversion: .prefixedNo, help: "AS numbers in AS_PATH/AGGREGATOR are 4 octets (RFC 6793).")
    var fourOctetAs = true

    @Option(name: .long, help: "Families whose NLRI carry ADD-PATH path IDs, comma-separated (ipv4, ipv6).")
    var addPath: String = ""

    @Flag(name: .long, help: "Allow messages up to 65535 octets (RFC 8654).")
    var extendedMessage = false

    mutating func run() throws {
        var families: Set<AddressFamily> = []
        for name in addPath.split(separator: ",") where !name.isEmpty {
            guard let f = AddressFamily(name: String(name)) else {
                throw ValidationError("--add-path: unknown family '\(name)' (use ipv4, ipv6, ipv4-unicast, ipv6-unicast)")
            }
            families.insert(f)
        }
        let context = CodecContext(fourOctetAS: fourOctetAs, addPath: families, extendedMessage: extendedMessage)
        let bytes = try input()
        let (messages, error) = BGPMessage.decodeAll(bytes, context: context)
        var failed = error != nil
        if json {
            var items: [JSONValue] = []
            var offset = 0
            for m in messages {
                var o: [(String, JSONValue)] = [("offset", .int(Int64(offset))), ("length", .int(Int64(m.length))), ("message", m.message.json(endOfRIB: m.errors.isEmpty))]
                if !m.errors.isEmpty {
                    o.append(("action", .string(m.action!.description)))
                    o.append(("errors", .array(m.errors.map(\.json))))
                    if m.isTreatAsWithdraw, case .update(let u) = m.message {
                        let w = u.allPrefixes
                        o.append(("withdraw", .array(w.ipv4.map { .string($0.description) } + w.ipv6.map { .string($0.description) })))
                    }
                    failed = true
                }
                items.append(.object(o))
                offset += m.length
            }
            var top: [(String, JSONValue)] = [("messages", .array(items))]
            if let e = error {
                top.append(("error", .object([("offset", .int(Int64(offset)))] + (e.json.objectPairs ?? []))))
            }
            print(JSONValue.object(top).rendered())
        } else {
            var offset = 0
            for m in messages {
                print("[\(offset)] \(m.message.text(endOfRIB: m.errors.isEmpty))")
                if !m.errors.isEmpty {
                    failed = true
                    print("  RFC 7606 action: \(m.action!)")
                    for e in m.errors { print("  error: \(e.reason); NOTIFICATION (not sent) \(e.notification)") }
                    if m.isTreatAsWithdraw, case .update(let u) = m.message {
                        let w = u.allPrefixes
                        print("  withdraw: " + (w.ipv4.map(\.description) + w.ipv6.map(\.description)).joined(separator: " "))
                    }
                }
                offset += m.length
            }
            if let e = error {
                print("[\(offset)] malformed: \(e.reason)")
                print("  action: \(e.action)")
                let n = e.notification
                print("  NOTIFICATION code \(n.code) (\(n.codeName)) subcode \(n.subcode) (\(n.subcodeName)) data \(n.data.isEmpty ? "-" : Hex.encode(n.data))")
            }
        }
        if failed { throw ExitCode(2) }
    }

    private func input() throws -> [UInt8] {
        if let file {
            // FileHandle, not FileManager.contents: it also reads pipes (<(...)).
            guard let handle = FileHandle(forReadingAtPath: file) else {
                throw DecodeInputError(message: "cannot open \(file)")
            }
            defer { try? handle.close() }
            return [UInt8](handle.readDataToEndOfFile())
        }
        let text: String
        if hex.isEmpty {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            text = hex.joined(separator: " ")
        }
        guard let bytes = Hex.decode(text) else {
            throw ValidationError("input is not hex (an odd number of digits or a non-hex character)")
        }
        guard !bytes.isEmpty else { throw ValidationError("no input") }
        return bytes
    }
}

struct DecodeInputError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

extension JSONValue {
    var objectPairs: [(String, JSONValue)]? {
        if case .object(let o) = self { return o }
        return nil
    }
}
