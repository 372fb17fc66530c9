/// Checks on a decoded UPDATE that depend on who sent it (RFC 4271 §6.3,
/// RFC 7606 §7, RFC 6793 §6, RFC 4760 §7): the decoder alone cannot know
/// whether the peer is internal, what its AS is, or what was negotiated.
extension UpdateMessage {
    /// Returns the UPDATE with the attributes that must be discarded removed,
    /// and the errors found (none of them tears the session down).
    /// `enforceFirstAS` is the §6.3 check that an external peer put its own
    /// AS first; turn it off for route servers (RFC 7947).
    public func checked(for session: NegotiatedSession, enforceFirstAS: Bool = true) -> (UpdateMessage, [BGPError]) {
        var out = self
        var errors: [BGPError] = []
        let announces = !nlri.isEmpty || !(attributes.mpReach?.nlri.isEmpty ?? true)
        func discard(_ type: UInt8, _ reason: BGPErrorReason, _ n: NotificationMessage) {
            out.attributes.remove(type: type)
            errors.append(BGPError(reason, n, .attributeDiscard))
        }
        if !session.isInternal {
            if let path = attributes.asPath {
                // RFC 7606 §7.2: confederation segments from a peer outside
                // the confederation; RFC 4271 §6.3: first AS is not the peer.
                let confed = path.segments.contains { $0.kind == .confedSequence || $0.kind == .confedSet }
                if announces, confed || (enforceFirstAS && path.firstAS != session.peerAS) {
                    errors.append(BGPError(.malformedASPath, NotificationMessage(update: .malformedASPath), .treatAsWithdraw))
                }
            }
            // RFC 7606 §7.5, §7.9, §7.10: iBGP-only attributes from an external peer.
            for t in [PathAttributeType.localPref, PathAttributeType.originatorID, PathAttributeType.clusterList] where attributes[t] != nil {
                discard(t, .attributeFromExternalPeer(t), NotificationMessage(update: .malformedAttributeList))
            }
        }
        // RFC 6793 §6: a NEW speaker ignores AS4_PATH / AS4_AGGREGATOR from a NEW speaker.
        if session.fourOctetAS {
            for t in [PathAttributeType.as4Path, PathAttributeType.as4Aggregator] where attributes[t] != nil {
                discard(t, .unexpectedAS4Attribute(t), NotificationMessage(update: .optionalAttributeError))
            }
        }
        // RFC 4760 §7 / RFC 7606 §7.11: a family that was not negotiated.
        for (type, family) in [(PathAttributeType.mpReachNLRI, attributes.mpReach?.family), (PathAttributeType.mpUnreachNLRI, attributes.mpUnreach?.family)] {
            if let f = family, !session.families.contains(f) {
                discard(type, type == PathAttributeType.mpReachNLRI ? .malformedMPReach(f) : .malformedMPUnreach(f), NotificationMessage(update: .optionalAttributeError))
            }
        }
        // RFC 8950: IPv4 NLRI with an IPv6 next hop only when negotiated.
        if let m = out.attributes.mpReach, m.family.afi == .ipv4, case .ipv6 = m.nextHop,
           !session.extendedNextHop.contains(where: { $0.nlriAFI == .ipv4 && $0.nextHopAFI == .ipv6 }) {
            errors.append(BGPError(.malformedMPReach(m.family), NotificationMessage(update: .optionalAttributeError), .treatAsWithdraw))
        }
        return (out, errors)
    }
}

extension PathAttributes {
    /// RFC 6793 §4.2.3: the AS path and aggregator to use for a route heard
    /// from an OLD (2-octet) speaker, merging AS4_PATH and AS4_AGGREGATOR in;
    /// on a 4-octet session AS_PATH and AGGREGATOR as they are.
    public func effectiveASPath(fourOctetSession: Bool) -> (asPath: ASPath?, aggregator: Aggregator?) {
        guard !fourOctetSession else { return (asPath, aggregator) }
        var agg = aggregator
        var useAS4Path = true
        if let a = aggregator, let a4 = as4Aggregator {
            if a.asn == BGPLimits.asTrans { agg = a4 } else { useAS4Path = false }
        }
        guard useAS4Path, let path = asPath, let path4 = as4Path else { return (asPath, agg) }
        var needed = path.selectionLength - path4.selectionLength
        // An AS4_PATH longer than the AS_PATH is ignored.
        guard needed >= 0 else { return (path, agg) }
        var lead: [ASPathSegment] = []
        for s in path.segments {
            guard needed > 0 else { break }
            switch s.kind {
            case .confedSequence, .confedSet:
                lead.append(s)  // counts zero (RFC 5065 §5.3)
            case .set:
                lead.append(s)
                needed -= 1
            case .sequence:
                let take = min(needed, s.asns.count)
                lead.append(ASPathSegment(.sequence, Array(s.asns.prefix(take))))
                needed -= take
            }
        }
        var segments = lead
        for s in path4.segments {
            if let last = segments.last, last.kind == .sequence, s.kind == .sequence, last.asns.count + s.asns.count <= 255 {
                segments[segments.count - 1].asns += s.asns
            } else {
                segments.append(s)
            }
        }
        return (ASPath(segments), agg)
    }
}
