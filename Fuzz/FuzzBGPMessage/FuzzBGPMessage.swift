import BGP
import NIOCore

#if FUZZING
import CFuzzDriver
#else
import Foundation
#endif

/// One input: the first byte picks the session context (4-octet AS, ADD-PATH
/// for IPv4 / IPv6, extended messages), the rest is a stream of messages.
/// Properties: decoding never traps; every message that decodes cleanly
/// re-encodes to bytes that decode to the same value, and to the same bytes.
func fuzzMessage(_ input: [UInt8]) {
    guard let selector = input.first else { return }
    var addPath: Set<AddressFamily> = []
    if selector & 2 != 0 { addPath.insert(.ipv4Unicast) }
    if selector & 4 != 0 { addPath.insert(.ipv6Unicast) }
    let context = CodecContext(fourOctetAS: selector & 1 != 0, addPath: addPath, extendedMessage: selector & 8 != 0)
    let (messages, _) = BGPMessage.decodeAll(Array(input.dropFirst()), context: context)
    for d in messages {
        let bytes = d.message.encoded(context: context)
        guard d.errors.isEmpty else { continue }
        let again: DecodedMessage
        do {
            again = try BGPMessage.decode(bytes, context: context)
        } catch {
            fatalError("re-encoded message does not decode: \(error)\n\(d.message)\n\(Hex.encode(bytes))")
        }
        guard again.message == d.message, again.errors.isEmpty else {
            fatalError("round trip changed the message:\n\(d.message)\n\(again.message)")
        }
        guard again.message.encoded(context: context) == bytes else {
            fatalError("second encoding differs")
        }
        _ = d.message.text
        _ = d.message.json.rendered()
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    fuzzMessage(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

@_cdecl("FuzzBGPMessage_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    var argc = argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        fuzzMessage(Array(UnsafeBufferPointer(start: data!, count: size)))
        return 0
    }
}
#else
/// Corpus replayer: `FuzzBGPMessage DIR|FILE...` runs every input once.
@main
struct Replay {
    static func main() {
        var count = 0
        for path in CommandLine.arguments.dropFirst() {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
                print("no such input: \(path)")
                exit(1)
            }
            let files = isDir.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { path + "/" + $0 }
                : [path]
            for f in files {
                guard let data = FileManager.default.contents(atPath: f) else { continue }
                fuzzMessage([UInt8](data))
                count += 1
            }
        }
        print("FuzzBGPMessage: replayed \(count) inputs")
    }
}
#endif
