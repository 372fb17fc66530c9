import BGP
import IPAddressing

/// Who hears about a path, and with which attributes: iBGP split horizon,
/// route reflection (RFC 4456 §8), the well-known communities (RFC 1997)
/// and the attribute rewriting of RFC 4271 §5.1 on the way out.
public enum Advertisement {
    /// What the rules need of the receiving side: all members of an update
    /// group share it.
    public struct Receiver: Hashable, Sendable {
        public var isInternal: Bool
        public var isReflectorClient: Bool
        public init(isInternal: Bool, isReflectorClient: Bool) {
            self.isInternal = isInternal
            self.isReflectorClient = isReflectorClient
        }
    }

    /// Whether `path` (a best path) may be sent to `peer`.
    public static func mayAdvertise(_ path: Path, to peer: RIBPeer, speaker: RIBSpeaker) -> Bool {
        path.peer.address != peer.address  // never back to its sender
            && mayAdvertise(path, to: Receiver(isInternal: speaker.isInternal(peer), isReflectorClient: peer.isReflectorClient), speaker: speaker)
    }

    /// The same for any peer of the `receiver` kind (its sender aside).
    public static func mayAdvertise(_ path: Path, to receiver: Receiver, speaker: RIBSpeaker) -> Bool {
        let communities = path.attributes.attributes.communities
        if communities.contains(.noAdvertise) { return false }
        let fromInternal = speaker.isInternal(path.peer), toInternal = receiver.isInternal
        if !toInternal && (communities.contains(.noExport) || communities.contains(.noExportSubconfed)) { return false }
        // Our own routes go to every peer.
        if path.peer.isLocal { return true }
        guard fromInternal && toInternal else { return true }
        // iBGP to iBGP only by reflection: from a client to every peer
        // (to the other clients unless client-to-client reflection is
        // off), from a non-client to clients only.
        if path.peer.isReflectorClient { return !receiver.isReflectorClient || speaker.clientToClientReflection }
        return receiver.isReflectorClient
    }

    /// The attributes and next hop `path` is sent to `peer` with (a
    /// link-local next hop is never passed on: it is valid on its link only).
    /// - Parameter localAddress: this speaker's address on the session
    ///   (the next hop towards eBGP peers, and with `nextHopSelf`).
    public static func exported(
        _ path: Path, to peer: RIBPeer, speaker: RIBSpeaker, localAddress: IPAddress, nextHopSelf: Bool = false
    ) -> (attributes: PathAttributes, nextHop: IPAddress) {
        exported(path, toInternal: speaker.isInternal(peer), speaker: speaker, localAddress: localAddress, nextHopSelf: nextHopSelf)
    }

    /// The same for an iBGP (`toInternal`) or eBGP receiver.
    public static func exported(
        _ path: Path, toInternal: Bool, speaker: RIBSpeaker, localAddress: IPAddress, nextHopSelf: Bool = false
    ) -> (attributes: PathAttributes, nextHop: IPAddress) {
        var a = path.attributes.attributes
        // A route we originate is not reflected: it is ours.
        let fromInternal = speaker.isInternal(path.peer) && !path.peer.isLocal
        if toInternal {
            // LOCAL_PREF travels inside the AS (RFC 4271 §5.1.5).
            a.set(.localPref(path.localPref))
            if fromInternal {
                // Reflection (RFC 4456 §8): the originator is recorded once,
                // our cluster prepended; the next hop is never rewritten.
                if a.originatorID == nil { a.set(.originatorID(path.peer.routerID)) }
                a.set(.clusterList([speaker.clusterID] + a.clusterList))
                // (A link-local next hop means nothing off its link: ours.)
                return (a, path.nextHop.isIPv6LinkLocal ? localAddress : path.nextHop)
            }
            // Our own routes carry our address on the session, and so do
            // routes through a link-local next hop (RFC 2545 §3: it is
            // valid on its link only).
            return (a, nextHopSelf || path.peer.isLocal || path.nextHop.isIPv6LinkLocal ? localAddress : path.nextHop)
        }
        // To another AS: our AS prepended, no LOCAL_PREF, no reflection
        // attributes, and a MED learned from a neighbouring AS is not passed
        // on to another (RFC 4271 §5.1.4); the next hop is ours.
        a.set(.asPath((a.asPath ?? ASPath()).prepending(speaker.asn)))
        a.remove(type: PathAttributeType.localPref)
        a.remove(type: PathAttributeType.originatorID)
        a.remove(type: PathAttributeType.clusterList)
        if !fromInternal { a.remove(type: PathAttributeType.multiExitDisc) }
        return (a, localAddress)
    }
}
