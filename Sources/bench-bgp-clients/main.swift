// bench-bgp-clients: a load generator for a route reflector. Opens N iBGP
// client sessions from N source addresses (one event loop, a few connects
// in flight at a time, as BIRD's listen backlog of 8 wants), each
// announcing 2 /32s with itself as next hop, and reports when every client
// holds every other client's prefixes (2N − 2 each). Prints one JSON line.
//   bench-bgp-clients REFLECTOR CLIENTS FIRST_SOURCE AS [IN_FLIGHT]
// Written for the bench: no BGP load generator that links cheaply enough
// exists in Debian (GoBGP adds one route per UPDATE; Python uses a core).
import BGP
import Foundation
import IPAddressing
import NIOCore
import NIOPosix

let args = CommandLine.arguments
guard args.count >= 5, let reflector = IPv4Address(args[1]), let count = Int(args[2]), let first = IPv4Address(args[3]),
      let asnArgument = UInt32(args[4]) else {
    FileHandle.standardError.write(Data("usage: bench-bgp-clients REFLECTOR CLIENTS FIRST_SOURCE AS [IN_FLIGHT]\n".utf8))
    exit(2)
}
/// Globals the client class reads (a class cannot capture guard bindings).
enum Setup {
    nonisolated(unsafe) static var asn: UInt32 = 0
    nonisolated(unsafe) static var clients = 0
}
Setup.asn = asnArgument
Setup.clients = count
let inFlight = args.count > 5 ? Int(args[5]) ?? 8 : 8
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let loop = group.next()
let start = ContinuousClock.now
let context = CodecContext(fourOctetAS: true)

/// Everything below runs on `loop`.
final class State: @unchecked Sendable {
    var established = 0
    var converged = 0
    var firstEstablished: ContinuousClock.Instant?
    var lastConverged: ContinuousClock.Instant?
    var updatesReceived = 0
    var prefixesReceived = 0
    var next = 0
    var connecting = 0
    var failures = 0
    let done: EventLoopPromise<Void>
    init(done: EventLoopPromise<Void>) { self.done = done }
}
let state = State(done: loop.makePromise())

final class Client: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let index: Int
    let address: IPv4Address
    var buffer = ByteBuffer()
    var negotiated = false
    var up = false
    var held = Set<IPv4Prefix>()
    var own: Set<IPv4Prefix>
    var isConverged = false

    init(index: Int, address: IPv4Address) {
        self.index = index
        self.address = address
        own = [Client.prefix(index, 0), Client.prefix(index, 1)]
    }

    static func prefix(_ i: Int, _ k: Int) -> IPv4Prefix { IPv4Prefix(address: IPv4Address(0x0A90_0000 &+ UInt32(i * 2 + k)), length: 32)! }

    func send(_ m: BGPMessage, _ context: ChannelHandlerContext) {
        var b = context.channel.allocator.buffer(capacity: 64)
        m.encode(into: &b, context: negotiated ? CodecContext(fourOctetAS: true) : .initial)
        context.writeAndFlush(wrapOutboundOut(b), promise: nil)
    }

    func channelActive(context: ChannelHandlerContext) {
        let open = OpenMessage(asNumber: Setup.asn, holdTime: 240, bgpIdentifier: address, capabilities: [.multiprotocol(.ipv4Unicast)])
        send(.open(open), context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        buffer.writeBuffer(&bytes)
        while true {
            let decoded: DecodedMessage?
            do { decoded = try BGPMessage.decode(from: &buffer, context: negotiated ? CodecContext(fourOctetAS: true) : .initial) } catch {
                FileHandle.standardError.write(Data("client \(index): \(error)\n".utf8))
                context.close(promise: nil)
                return
            }
            guard let d = decoded else { return }
            switch d.message {
            case .open:
                negotiated = true
                send(.keepalive, context)
            case .keepalive where !up:
                up = true
                state.established += 1
                if state.firstEstablished == nil { state.firstEstablished = .now }
                let u = UpdateMessage(attributes: PathAttributes([.origin(.igp), .asPath(ASPath()), .nextHop(address), .localPref(100)]),
                                      nlri: own.sorted().map { IPv4NLRI($0) })
                send(.update(u), context)
                send(.update(.endOfRIB(.ipv4Unicast)), context)
            case .keepalive:
                send(.keepalive, context)
            case .update(let u):
                state.updatesReceived += 1
                for n in u.withdrawnIPv4 { held.remove(n.prefix) }
                for n in u.reachableIPv4 where !own.contains(n.prefix) {
                    held.insert(n.prefix)
                    state.prefixesReceived += 1
                }
                if !isConverged && held.count == 2 * Setup.clients - 2 {
                    isConverged = true
                    state.converged += 1
                    if state.converged == Setup.clients {
                        state.lastConverged = .now
                        state.done.succeed()
                    }
                }
            case .notification(let n):
                FileHandle.standardError.write(Data("client \(index): \(n)\n".utf8))
            default:
                break
            }
        }
    }
}

@Sendable func source(_ i: Int) -> IPv4Address { IPv4Address(first.value &+ UInt32(i)) }

/// Opens connections, `inFlight` at a time.
@Sendable func connectMore() {
    while state.connecting < inFlight && state.next < count {
        let i = state.next
        state.next += 1
        state.connecting += 1
        ClientBootstrap(group: loop)
            .connectTimeout(.seconds(10))
            .channelInitializer { ch in ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(Client(index: i, address: source(i))) } }
            .bind(to: try! SocketAddress(ipAddress: source(i).description, port: 0))
            .connect(to: try! SocketAddress(ipAddress: reflector.description, port: 179))
            .whenComplete { result in
                state.connecting -= 1
                if case .failure(let e) = result {
                    state.failures += 1
                    FileHandle.standardError.write(Data("client \(i): connect: \(e)\n".utf8))
                }
                connectMore()
            }
    }
}

loop.execute { connectMore() }
let timeout = loop.scheduleTask(in: .seconds(600)) { state.done.fail(ChannelError.connectTimeout(.seconds(600))) }
let ok = (try? state.done.futureResult.wait()) != nil
timeout.cancel()
let (established, converged, updates, prefixes, failures, firstUp, last) = try! loop.submit {
    (state.established, state.converged, state.updatesReceived, state.prefixesReceived, state.failures, state.firstEstablished, state.lastConverged)
}.wait()
func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
let convergence = (firstUp != nil && last != nil) ? seconds(last! - firstUp!) : -1
print("{\"clients\":\(count),\"established\":\(established),\"converged\":\(converged),\"ok\":\(ok),\"connect_failures\":\(failures),"
      + "\"convergence_s\":\(String(format: "%.3f", convergence)),\"total_s\":\(String(format: "%.3f", seconds(ContinuousClock.now - start))),"
      + "\"updates_received\":\(updates),\"prefixes_received\":\(prefixes),"
      + "\"prefixes_per_update\":\(String(format: "%.2f", updates > 0 ? Double(prefixes) / Double(updates) : 0))}")
exit(ok ? 0 : 1)
