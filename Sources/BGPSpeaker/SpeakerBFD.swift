import BFD
import BFDService
import BGP
import Logging

/// BFD for BGP peers (RFC 5882 §4.3 and §10.2's BGP client): the speaker's
/// `BFDManager` runs on the speaker's own event loop, one session per peer
/// with `bfd` set, from the BGP session's local address: single hop (RFC
/// 5881), or multihop (RFC 5883) for `ebgpMultihop` peers and `multihop`.
///
/// - BFD fails (Up → Down, not the peer's AdminDown) while the BGP session
///   is Established: the session is torn down at once with Cease/BFD Down
///   (RFC 9384; inside a Hard Reset when the N-bit was negotiated, RFC
///   8538) and the peer's routes are withdrawn without graceful-restart
///   retention: the peer is gone, not restarting. BGP stays down until BFD
///   is Up again.
/// - With `bfd.graceful` (BIRD's `bfd graceful`), a failure closes the
///   TCP connection instead, as if it were lost: graceful restart keeps the
///   peer's routes for its restart time.
/// - The peer's AdminDown (it shuts its BFD down on purpose, as a
///   restarting Caracal does) is not a failure (RFC 5882 §3.2): BGP's own
///   rules, graceful restart included, decide.
/// - BFD fails while the BGP session is already down and its routes are
///   kept stale for a restarting peer (GR helper): when the peer's packets
///   had the C bit (its BFD does not share fate with its control plane),
///   the forwarding plane failed too and the stale routes go now (RFC 5882
///   §4.3.1); without C, BFD going down is what a control-plane restart
///   looks like and the restart goes on, unless the peer is one that
///   signals AdminDown when it restarts (`failureEndsRestart`: Caracal
///   nodes), for which a failure means a dead node.
extension BGPSpeaker {
    static func sessionConfiguration(_ s: BFDSettings) -> BFDSessionConfiguration {
        BFDSessionConfiguration(desiredMinTxInterval: UInt32(s.minTx) * 1000, requiredMinRxInterval: UInt32(s.minRx) * 1000,
                                detectMultiplier: UInt8(s.multiplier))
    }

    /// The manager, made when the first peer wants BFD.
    func bfdManager() -> BFDManager? {
        if let bfd { return bfd }
        let manager = BFDManager(loop: loop, logger: logger)
        do {
            try manager.start()
        } catch {
            // (Another BFD daemon on the port.) Said once; the sessions stay
            // Down, which BGP does not act on: only Up → Down is a failure.
            logger.error("BFD cannot receive: its sessions will stay Down", metadata: ["error": "\(error)"])
        }
        manager.onStateChange = { [weak self] key, change in self?.bfdChanged(key, change) }
        bfd = manager
        return manager
    }

    /// Adds, reconfigures or removes the peer's BFD session to match its
    /// configuration (the local address: configured, or the BGP session's).
    func bfdUpdate(_ session: PeerSession) {
        guard let settings = session.config.bfd else {
            // BFD turned off by a reload: a session it held starts again.
            let held = session.bfdHeld
            bfdRemove(session)
            if held, peers[session.config.address] === session, let c = session.connections.first, c.fsm.state == .idle {
                feed(session, c, .manualStart(passive: session.config.passive))
            }
            return
        }
        guard let local = session.localAddress ?? session.config.localAddress, let bfd = bfdManager() else { return }
        let key = BFDKey(peer: session.config.address, local: local, multihop: settings.multihop)
        if let old = session.bfdKey, old != key { bfd.removeSession(old) }
        do {
            try bfd.addSession(key, configuration: Self.sessionConfiguration(settings))
            session.bfdKey = key
        } catch {
            session.lastError = "BFD: \(error)"
            logger.error("BFD session not created", metadata: ["peer": "\(session.config.name)", "error": "\(error)"])
        }
    }

    func bfdRemove(_ session: PeerSession) {
        if let key = session.bfdKey { bfd?.removeSession(key) }
        session.bfdKey = nil
        session.bfdHeld = false
    }

    func bfdStatus(_ session: PeerSession) -> BFDSessionStatus? {
        session.bfdKey.flatMap { bfd?.status($0) }
    }

    private func bfdChanged(_ key: BFDKey, _ change: BFDStateChange) {
        guard let session = peers[key.peer], session.bfdKey == key else {
            bfd?.removeSession(key)
            return
        }
        if change.to == .up {
            guard session.bfdHeld else { return }
            session.bfdHeld = false
            logger.info("BFD up again: BGP session restarts", metadata: ["peer": "\(session.config.name)"])
            if let c = session.connections.first, c.fsm.state == .idle { feed(session, c, .manualStart(passive: session.config.passive)) }
            return
        }
        guard change.isFailure else { return }
        if let c = session.connections.first(where: { $0.fsm.state == .established }), session.config.bfd?.graceful == true {
            logger.warning("BFD down: BGP session closed as a lost connection (bfd.graceful: graceful restart keeps the routes)",
                           metadata: ["peer": "\(session.config.name)", "diagnostic": "\(change.diagnostic)"])
            session.lastError = "BFD went down (\(change.diagnostic)): session closed gracefully"
            if let channel = c.channel { channel.close(promise: nil) } else { feed(session, c, .tcpConnectionFails) }
        } else if let c = session.connections.first(where: { $0.fsm.state == .established }) {
            let cease = NotificationMessage(cease: .bfdDown)
            let n = session.negotiated?.gracefulNotification == true ? NotificationMessage.hardReset(wrapping: cease) : cease
            logger.warning("BFD down: BGP session torn down, routes withdrawn without graceful restart",
                           metadata: ["peer": "\(session.config.name)", "diagnostic": "\(change.diagnostic)"])
            session.bfdFailed = true
            session.bfdHeld = true
            for other in session.connections where other !== c { feed(session, other, .manualStop(nil)) }
            feed(session, c, .manualStop(n))
            session.bfdFailed = false
            session.lastError = "BFD went down (\(change.diagnostic)): session torn down and held until BFD was Up again"
        } else if rib.staleCount(for: key.peer) > 0, change.remoteControlPlaneIndependent || session.config.bfd?.failureEndsRestart == true {
            session.staleTimer?.cancel()
            sweepStale(key.peer, why: "BFD down while the peer restarts, C bit set: its forwarding plane failed (RFC 5882 §4.3.1)")
        }
    }
}
