import BGP
import NIOCore
import FuzzSupport

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
@_cdecl("FuzzBGPMessage_main")
public func fuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    FuzzTarget.runLibFuzzer(argc, argv, fuzzMessage)
}
#else
@main
struct Replay {
    static func main() { FuzzTarget.replay(name: "FuzzBGPMessage", fuzzMessage) }
}
#endif
