import Testing
@testable import Policy

/// The compiler's parts on their own: the endpoint index and the peer sets
/// (the truth-table, golden and incremental tests cover them together).
@Suite("compiler parts")
struct CompilerPartsTests {
    func selector(_ text: String) throws -> Selector { try Selector(parsing: text) }

    @Test func endpointsOfOneNamespaceAndLabelsShareAClass() throws {
        var index = EndpointIndex(Fixtures.inventory)
        #expect(index.classes.count == 9, "3 namespaces x 3 pod labels")
        let extra = Endpoint(namespace: "x", name: "a2", labels: ["pod": "a"], addresses: [NumericAddress("10.99.9.9")!],
                             interface: "crcxa2", ports: [NamedPort(name: "serve-80-tcp", port: 80)])
        let i = index.append(extra)
        #expect(i == 9 && index.classes.count == 9, "a replica joins its class")
        #expect(index.classes[index.classOfEndpoint[i]].members == [0, 9])
        #expect(index.endpointsByPortName["serve-80-tcp"]?.contains(i) == true)
        index.remove(at: i)
        #expect(index.classes[index.classOfEndpoint[i]].members == [0], "removed from its class; the index stays taken")
        #expect(index.endpointsByPortName["serve-80-tcp"]?.contains(i) == false)
    }

    @Test func selectionsFollowNamespacesAndAreCached() throws {
        var index = EndpointIndex(Fixtures.inventory)
        let inY = index.select(try selector("pod == 'a'"), namespaces: try selector("ns == 'y'"), own: nil)
        #expect(inY.map { index.inventory.endpoints[$0].name } == ["a"] && inY.map { index.inventory.endpoints[$0].namespace } == ["y"])
        let own = index.select(try selector("all()"), namespaces: nil, own: "z")
        #expect(Set(own.map { index.inventory.endpoints[$0].namespace }) == ["z"] && own.count == 3)
        let everywhere = index.select(try selector("pod == 'b'"), namespaces: nil, own: nil)
        #expect(everywhere.count == 3 && everywhere == everywhere.sorted())
        #expect(index.selectionCache.count == 3)
        #expect(index.addresses(ofIndices: inY).contains(Fixtures.address("y", "a")))
    }

    @Test func peerSetsAreSharedByTheirTextAndRememberWhatTheyAreMadeOf() throws {
        var index = EndpointIndex(Fixtures.inventory)
        var sets = PeerSets()
        let key = EndpointIndex.SelectionKey(pods: try selector("pod == 'c'"), namespaces: nil, own: "x")
        let def = PeerSets.PeerDefinition(selections: [key], fixed: AddressSet(), intersect: nil, subtract: nil)
        let addresses = sets.define("pods c in x", def, &index)
        #expect(addresses.contains(Fixtures.address("x", "c")) && !addresses.contains(Fixtures.address("y", "c")))
        #expect(sets.peersBySelection[key] == ["pods c in x"])
        var made = 0
        let name = sets.peerSet("pods c in x", .ipv4) { made += 1; return addresses }
        let again = sets.peerSet("pods c in x", .ipv4) { made += 1; return addresses }
        #expect(name == again && made == 0, "addresses come from the definition, once")
        #expect(sets.sets[name]?.comment == "peers: pods c in x")
        // A named-port set resolves on the selected endpoints.
        let tuples = PeerSets.TupleDefinition(selection: key, portName: "serve-81-udp", proto: .udp, family: .ipv4, within: nil)
        let tupleSet = sets.tupleSet("t-x-c-81", tuples, "port serve-81-udp", &index)
        #expect(sets.sets[tupleSet]?.tuples == [AddressProtoPort(address: Fixtures.address("x", "c"), proto: .udp, port: 81)])
    }
}
