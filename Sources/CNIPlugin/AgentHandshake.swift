#if canImport(Glibc)
import Glibc
#endif
import CNI
import NetNS

/// ADD's wait for the node agent: one request on its control socket,
/// `{"command":"awaitPolicy","revision":N}`, answered once the agent's
/// nftables rules cover the datastore as of revision N (the pod's endpoint
/// included). Blocking on purpose: the plugin is one short process with no
/// event loop (docs/cni.md, "Latency"); a hand-written client because the
/// agent's NIO client would pull an event loop into every ADD.
enum AgentHandshake {
    enum Outcome: Equatable { case applied, noAgent }

    /// `revision` is read only once an agent answers the connect: a node
    /// without an agent pays one failed connect and no datastore read.
    static func awaitPolicy(socket path: String, revision: () throws -> Int64, timeoutMs: Int) throws -> Outcome {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw CNIError(.tryAgainLater, "agent socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw CNIError.invalidField("agentSocket", "longer than a Unix socket path may be")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if connected != 0 {
            // No agent on this node (not installed, or not started yet):
            // nothing to wait for; its first apply covers the pod.
            if errno == ENOENT || errno == ECONNREFUSED { return .noAgent }
            throw CNIError(.tryAgainLater, "agent socket \(path): \(String(cString: strerror(errno)))")
        }
        let request = Array("{\"command\":\"awaitPolicy\",\"revision\":\(try revision())}\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
            throw CNIError(.tryAgainLater, "agent socket \(path): request not sent")
        }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        var remaining = timeoutMs
        while !answer.contains(UInt8(ascii: "\n")) {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let started = MonotonicClock.milliseconds
            let ready = poll(&poller, 1, Int32(remaining))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else {
                throw CNIError(.tryAgainLater, "the node agent did not confirm the pod's policy within \(timeoutMs) ms")
            }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            answer += buffer[0..<n]
            remaining = max(1, remaining - (MonotonicClock.milliseconds - started))
        }
        let text = String(decoding: answer, as: UTF8.self)
        guard text.contains("\"ok\":true") else {
            throw CNIError(.tryAgainLater, "the node agent refused: \(text.trimmingCharacters(in: [" ", "\n"]))")
        }
        return .applied
    }
}
