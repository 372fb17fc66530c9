import BGP
import IPAddressing

/// Who hears about a path, and with which attributes: iBGP split horizon,
/// route reflection (RFC 4456 §8), the well-known communities (RFC 1997)
/// and the attribute rewriting of RFC 4271 §5.1 on the way out.
public enum Advertisement {
    /// Whether `path` (a best path) may be sent to `peer`.
    public static func mayAdvertise(_ path: Path, to peer: RIBPeer, speaker: RIBSpeaker) -> Bool {
        if path.peer.address == peer.address { return false }  // never back to its sender
        let communities = path.attributes.attributes.communities
        if communities.contains(.noAdvertise) { return false }
        let fromInternal = speaker.isInternal(path.peer), toInternal = speaker.isInternal(peer)
        if !toInternal && (communities.contains(.noExport) || communities.contains(.noExportSubconfed)) { return false }
        // Our own routes go to every peer.
        if path.peer.isLocal { return true }
        guard fromInternal && toInternal else { return true }
        // iBGP to iBGP only by reflection: from a client to every peer
        // (to the other clients unless client-to-client reflection is
        // off), from a non-client to clients only.
        if path.peer.isReflectorClient { return !peer.isReflectorClient || speaker.clientToClientReflection }
        return peer.isReflectorClient
    }

    /// The attributes and next hop `path` is sent to `peer` with.
    /// - Parameter localAddress: this speaker's address on the session
    ///   (the next hop towards eBGP peers, and with `nextHopSelf`).
    public static func exported(
        _ path: Path, to peer: RIBPeer, speaker: RIBSpeaker, localAddress: IPAddress, nextHopSelf: Bool = false
    ) -> (attributes: PathAttributes, nextHop: IPAddress) {
        var a = path.attributes.attributes
        func drop(_ type: UInt8) { a.list.removeAll { $0.value.typeCode == type } }
        func set(_ value: PathAttributeValue) {
            if let i = a.list.firstIndex(where: { $0.value.typeCode == value.typeCode }) { a.list[i] = PathAttribute(value) } else { a.list.append(PathAttribute(value)) }
        }
        // A route we originate is not reflected: it is ours.
        let fromInternal = speaker.isInternal(path.peer) && !path.peer.isLocal
        if speaker.isInternal(peer) {
            // LOCAL_PREF travels inside the AS (RFC 4271 §5.1.5).
            set(.localPref(path.localPref))
            if fromInternal {
                // Reflection (RFC 4456 §8): the originator is recorded once,
                // our cluster prepended; the next hop is never rewritten.
                if a.originatorID == nil { set(.originatorID(path.peer.routerID)) }
                set(.clusterList([speaker.clusterID] + a.clusterList))
                return (a, path.nextHop)
            }
            return (a, nextHopSelf ? localAddress : path.nextHop)
        }
        // To another AS: our AS prepended, no LOCAL_PREF, no reflection
        // attributes, and a MED learned from a neighbouring AS is not passed
        // on to another (RFC 4271 §5.1.4); the next hop is ours.
        let asPath = a.asPath ?? ASPath()
        var segments = asPath.segments
        if let first = segments.first, first.kind == .sequence, first.asns.count < 255 {
            segments[0] = ASPathSegment(.sequence, [speaker.asn] + first.asns)
        } else {
            segments.insert(ASPathSegment(.sequence, [speaker.asn]), at: 0)
        }
        set(.asPath(ASPath(segments)))
        drop(PathAttributeType.localPref)
        drop(PathAttributeType.originatorID)
        drop(PathAttributeType.clusterList)
        if !fromInternal { drop(PathAttributeType.multiExitDisc) }
        return (a, localAddress)
    }
}
