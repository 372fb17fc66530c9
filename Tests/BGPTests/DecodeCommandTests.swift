import BGP
import Foundation
import TestSupport
import Testing

/// `caracal bgp decode`, run as the built binary (next to the test bundle).
@Suite struct DecodeCommandTests {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static var binary: URL { URL(fileURLWithPath: BuiltProduct.path("caracal")) }

    func caracal(_ args: [String], stdin: String? = nil) throws -> Run {
        let p = Process()
        p.executableURL = Self.binary
        p.arguments = ["bgp", "decode"] + args
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = inp
        try p.run()
        if let stdin { inp.fileHandleForWriting.write(Data(stdin.utf8)) }
        try inp.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    let keepalive = "ffffffffffffffffffffffffffffffff001304"

    @Test func binaryIsBuilt() {
        #expect(FileManager.default.isExecutableFile(atPath: Self.binary.path), "build the caracal product first: \(Self.binary.path)")
    }

    @Test func decodesHexArgumentsAndStdin() throws {
        let r = try caracal([keepalive])
        #expect(r.status == 0)
        #expect(r.stdout == "[0] KEEPALIVE\n")
        // Several messages on stdin, with spaces, newlines and colons.
        let eor = "ffffffffffffffffffffffffffffffff 0017 02 0000 0000"
        let s = try caracal([], stdin: "\(keepalive)\n\(eor)\nff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:ff:00:13:04\n")
        #expect(s.status == 0)
        #expect(s.stdout == "[0] KEEPALIVE\n[19] UPDATE End-of-RIB ipv4-unicast\n[42] KEEPALIVE\n")
    }

    @Test func decodesABinaryFileAsJSON() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("caracal-decode-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("msgs.bin")
        let n = NotificationMessage.cease(.administrativeShutdown, communication: "bye")
        try Data(BGPMessage.notification(n).encoded(context: .initial) + BGPMessage.keepalive.encoded(context: .initial)).write(to: file)
        let r = try caracal(["--file", file.path, "--json"])
        #expect(r.status == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let messages = try #require(json["messages"] as? [[String: Any]])
        #expect(messages.count == 2)
        let first = try #require(messages.first?["message"] as? [String: Any])
        let notification = try #require(first["notification"] as? [String: Any])
        #expect(notification["shutdown_communication"] as? String == "bye")
        #expect(notification["code_name"] as? String == "Cease")
    }

    @Test func malformedInputPrintsTheNotificationAndExits2() throws {
        // An UPDATE whose NLRI claims /33.
        let bad = "ffffffffffffffffffffffffffffffff001c02000000000021 0a000000 00"
        let r = try caracal([bad])
        #expect(r.status == 2)
        #expect(r.stdout.contains("NOTIFICATION code 3 (UPDATE Message Error) subcode 10 (Invalid Network Field)"))
        #expect(r.stdout.contains("action: session reset"))
        // A bad marker, in JSON.
        let j = try caracal(["--json", "fe" + String(repeating: "ff", count: 15) + "001304"])
        #expect(j.status == 2)
        #expect(j.stdout.contains("\"subcode_name\":\"Connection Not Synchronized\""))
    }

    @Test func treatAsWithdrawIsReportedWithThePrefixes() throws {
        // ORIGIN 5: treat-as-withdraw of 10.0.0.0/8.
        let attrs = "400101054002004003040a000001"
        let body = "0000" + String(format: "%04x", attrs.count / 2) + attrs + "080a"
        let msg = "ffffffffffffffffffffffffffffffff" + String(format: "%04x", 19 + body.count / 2) + "02" + body
        let r = try caracal([msg])
        #expect(r.status == 2)
        #expect(r.stdout.contains("RFC 7606 action: treat-as-withdraw"))
        #expect(r.stdout.contains("withdraw: 10.0.0.0/8"))
    }

    @Test func decodeContextOptions() throws {
        // NLRI with a path ID only decode as intended with --add-path ipv4.
        let attrs = attr(0x40, 1, [0]) + attr(0x40, 2, [2, 2, 0, 0, 0, 1, 0, 0, 0xFD, 0xE9]) + attr(0x40, 3, [10, 0, 0, 1])
        let msg = Hex.encode(frame(2, updateBody(attributes: attrs, nlri: [0, 0, 0, 7, 8, 10])))
        let with = try caracal(["--add-path", "ipv4", msg])
        #expect(with.status == 0)
        #expect(with.stdout.contains("nlri 10.0.0.0/8 path-id 7"), "\(with.stdout)")
        #expect(try caracal([msg]).status == 2)
        let bad = try caracal(["--add-path", "ipx", msg])
        #expect(bad.status != 0 && bad.status != 2)
        // 2-octet AS_PATH needs --no-four-octet-as.
        let two = Hex.encode(frame(2, updateBody(attributes: attr(0x40, 1, [0]) + attr(0x40, 2, [2, 1, 0, 1]) + attr(0x40, 3, [10, 0, 0, 1]), nlri: [8, 10])))
        let r2 = try caracal(["--no-four-octet-as", two])
        #expect(r2.status == 0 && r2.stdout.contains("AS_PATH 1\n"), "\(r2.stdout)")
        #expect(try caracal([two]).status == 2)
        #expect(try caracal(["zz"]).status != 0)
    }
}
