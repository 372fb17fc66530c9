import BGP
import NIOCore

/// One TCP connection to a peer with its own RFC 4271 §8 state machine.
/// A peer has one, or two while a collision (§6.8) is being resolved.
/// Confined to the speaker's event loop (hence `@unchecked Sendable`: NIO
/// closures that capture it run on that loop only).
final class Connection: @unchecked Sendable {
    let id: Int
    var fsm: SessionFSM
    /// Created from the peer's configuration (not for a colliding inbound
    /// connection): restarts follow the configured passive/active mode.
    let primary: Bool
    /// Whether the peer opened this TCP connection (§6.8 needs to know).
    var inbound: Bool
    var channel: Channel?
    var handler: BGPChannelHandler?
    var timers: [SessionTimer: Scheduled<Void>] = [:]
    var lastWrite: EventLoopFuture<Void>?
    /// Bytes handed to the channel whose write has not completed: what
    /// this connection holds in memory beyond the kernel's socket buffer.
    var queuedBytes = 0
    weak var session: PeerSession?
    /// Bumped whenever an outgoing connect must be abandoned.
    var connectGeneration = 0

    init(id: Int, fsm: SessionFSM, primary: Bool, inbound: Bool) {
        self.id = id
        self.fsm = fsm
        self.primary = primary
        self.inbound = inbound
    }

    var sendContext: CodecContext { fsm.negotiated?.sendContext ?? .initial }
    var receiveContext: CodecContext { fsm.negotiated?.receiveContext ?? .initial }
}

/// Frames nothing itself: it accumulates bytes and hands them to the
/// connection's owner, which decodes with the context negotiated so far
/// (the codec frames, `BGPMessage.decode(from:context:)`).
final class BGPChannelHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer

    var inbound = ByteBuffer()
    /// Set once the speaker knows which connection this channel is; bytes
    /// that arrive before wait in `inbound`.
    var onReadable: (() -> Void)? {
        didSet { if onReadable != nil, inbound.readableBytes > 0 { onReadable?() } }
    }
    var onInactive: (() -> Void)?
    /// The channel's writability changed (its queue crossed a watermark).
    var onWritabilityChanged: ((Bool) -> Void)?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        inbound.writeBuffer(&bytes)
        onReadable?()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        onWritabilityChanged?(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        onInactive?()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A reset or a refused write: the connection is gone; channelInactive follows.
        context.close(promise: nil)
    }
}
