import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus

/// Prometheus metrics over HTTP (`GET /metrics`, text format 0.0.4) on the
/// configured address: every swift-metrics metric of the process (BGP
/// sessions and updates, route programming) through swift-prometheus; and
/// `GET /healthz` and `/readyz` for probes (`Probe`).
public struct ProbeResult: Sendable {
    public var ok: Bool
    public var detail: String
    public init(ok: Bool, detail: String) {
        self.ok = ok
        self.detail = detail
    }
}

/// Answers a health (`/healthz`) or readiness (`/readyz`) probe.
typealias Probe = @Sendable (_ readiness: Bool) -> EventLoopFuture<ProbeResult>

final class MetricsEndpoint: Sendable {
    let registry: PrometheusCollectorRegistry
    private let channel: Channel

    /// Bootstraps swift-metrics with a Prometheus registry (once per process).
    static func bootstrap() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }

    static func start(host: String, port: Int, registry: PrometheusCollectorRegistry, group: EventLoopGroup,
                      probe: @escaping Probe) -> EventLoopFuture<MetricsEndpoint> {
        ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(MetricsHandler(registry: registry, probe: probe))
                }
            }
            .bind(host: host, port: port)
            .map { MetricsEndpoint(registry: registry, channel: $0) }
    }

    private init(registry: PrometheusCollectorRegistry, channel: Channel) {
        self.registry = registry
        self.channel = channel
    }

    func close() -> EventLoopFuture<Void> { channel.close() }
}

private final class MetricsHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let registry: PrometheusCollectorRegistry
    let probe: Probe

    init(registry: PrometheusCollectorRegistry, probe: @escaping Probe) {
        self.registry = registry
        self.probe = probe
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let request) = unwrapInboundIn(data) else { return }
        let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
        switch path {
        case "/metrics":
            respond(context, request, .ok, "text/plain; version=0.0.4", registry.emitToBuffer())
        case "/healthz", "/readyz":
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            probe(path == "/readyz").hop(to: context.eventLoop).whenComplete { result in
                let r = (try? result.get()) ?? ProbeResult(ok: false, detail: "probe failed")
                self.respond(bound.value, request, r.ok ? .ok : .serviceUnavailable, "text/plain", Array((r.detail + "\n").utf8))
            }
        default:
            respond(context, request, .notFound, "text/plain", Array("not found: try /metrics, /healthz or /readyz\n".utf8))
        }
    }

    private func respond(_ context: ChannelHandlerContext, _ request: HTTPRequestHead, _ status: HTTPResponseStatus,
                         _ type: String, _ body: [UInt8]) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: "\(body.count)")
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
