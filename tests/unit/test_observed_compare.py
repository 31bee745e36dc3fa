"""What members' servers showed, read back: every table is read whole or is an error (never
"nothing there"), and the comparison with the lab names each difference."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import cast

import pytest

from lab.asterisk.probes import Answer, LookupResult
from lab.core.running import Lab
from lab.observe import observed
from lab.topology import Imported, Topology, load

PEERS_22 = """\
EID                  Host                                          Port   Model      AvgTime  Status         
02:00:00:00:00:03    10.77.244.12                              (S) 4520   Symmetric  99 ms    OK (10 ms)     
02:00:00:00:00:01    (Unspecified)                             (D) 0      Symmetric  Unavail  UNREACHABLE    
2 dundi peers [1 online, 1 offline, 0 unmonitored]
"""  # noqa: W291, E501
PEERS_16 = """\
EID                  Host                 Port   Model      AvgTime  Status         
02:00:00:00:00:03    10.77.244.12    (S) 4520   Symmetric  Unavail  Unmonitored    
1 dundi peers [0 online, 0 offline, 1 unmonitored]
"""  # noqa: W291
MAPPINGS = """\
DUNDi Cntxt  Weight  Local Cntxt  Options    Tech  Destination              
network1     0       dundi-networ NONE       IAX2  dundi:${SECRET}@10.77.244
"""  # noqa: W291
CACHE = """\
Number       Context          Expiration  From               Weight  Destination (Flags)
555000123    network1            290 sec  02:00:00:00:00:04  0       IAX2/dundi:<masked>@10.77.244.13/555000123 (EXISTS|CANMATCH)
Number of entries: 1
"""  # noqa: E501


def test_tables_of_22_and_16_are_read() -> None:
    assert observed.parse_peer_list(PEERS_22) == {
        "02:00:00:00:00:03": "OK",
        "02:00:00:00:00:01": "UNREACHABLE",
    }
    assert observed.parse_peer_list(PEERS_16) == {"02:00:00:00:00:03": "Unmonitored"}
    assert observed.parse_mappings(MAPPINGS) == [
        ("network1", "0", "dundi-networ", "NONE", "IAX2", "dundi:${SECRET}@10.77.244")
    ]
    [entry] = observed.parse_cache(CACHE)
    assert (entry.number, entry.context, entry.eid, entry.tech) == (
        "555000123",
        "network1",
        "02:00:00:00:00:04",
        "IAX2",
    )


@pytest.mark.parametrize(
    ("parse", "text", "why"),
    [
        (observed.parse_peer_list, PEERS_22.rsplit("2 dundi", 1)[0], "output was cut"),
        (observed.parse_peer_list, PEERS_22.replace("2 dundi peers", "3 dundi peers"),
         "3 peers announced, 2 read"),
        (observed.parse_peer_list, PEERS_22.replace("(S) 4520", "??"), "cannot read the line"),
        (observed.parse_peer_list, "", "printed nothing"),
        (observed.parse_peer_list, "Unable to connect to remote asterisk\n", "no header line"),
        (observed.parse_cache, "No such command 'dundi show cache' (type 'core show help')\n",
         "did not know 'dundi show cache'"),
        (observed.parse_cache, CACHE.replace("entries: 1", "entries: 0"),
         "0 entries announced, 1 read"),
        (observed.parse_cache, CACHE.replace(" sec ", " s "), "cannot read the line"),
        (observed.parse_mappings, MAPPINGS + "x y\n", "cannot read the line"),
    ],
    ids=["peers-cut", "peers-count", "peers-line", "peers-empty", "peers-no-header",
         "cache-unknown-command", "cache-count", "cache-line", "mappings-line"],
)  # fmt: skip
def test_what_cannot_be_read_is_an_error(parse: object, text: str, why: str) -> None:
    with pytest.raises(observed.Unreadable, match=why):
        parse(text)  # type: ignore[operator]


@dataclass
class StubLab:
    """What the comparison asks of a lab: its topology, CLI output, lookups."""

    topology: Topology
    shows: dict[str, str]
    answers: dict[str, list[str]] = field(default_factory=dict)  # number → answering EIDs

    def cli(self, node: str, command: str) -> str:
        return self.shows[command]

    def lookup(self, number: str, network: str, *, from_node: str) -> LookupResult:
        found = tuple(
            Answer(0, "IAX2", f"dundi:x@h/{number}", ("EXISTS",), eid, 5)
            for eid in self.answers.get(number, [])
        )
        return LookupResult(number, network, found, 1, 1.0, "")


def seed_with_observed(files: dict[str, str]) -> Topology:
    """The seed chain, its node c collected with these observed/ files."""
    topo = load("scenarios/seed-chain.yaml")
    imported = Imported(dir="/x/c.tar.gz", written="c", peers=(), observed=tuple(files.items()))
    c = dataclasses.replace(topo.node("c"), imported=imported)
    return dataclasses.replace(topo, nodes=tuple(c if n.name == "c" else n for n in topo.nodes))


def test_each_difference_is_named_and_unreadable_output_is_an_error() -> None:
    there_peers = (
        "EID Host Port Model AvgTime Status\n"
        "02:00:00:00:00:04    10.0.0.4  (S) 4520   Symmetric  3 ms  OK (3 ms)\n"
        "02:00:00:00:00:02    10.0.0.2  (S) 4520   Symmetric  3 ms  UNREACHABLE\n"
        "0a:00:00:00:00:09    10.0.0.9  (S) 4520   Symmetric  3 ms  OK (3 ms)\n"
        "3 dundi peers [2 online, 1 offline, 0 unmonitored]\n"
    )
    here_peers = (
        "EID Host Port Model AvgTime Status\n"
        "02:00:00:00:00:04    10.1.0.4  (S) 4520   Symmetric  3 ms  UNREACHABLE\n"
        "02:00:00:00:00:02    10.1.0.2  (S) 4520   Symmetric  3 ms  OK (3 ms)\n"
        "2 dundi peers [1 online, 1 offline, 0 unmonitored]\n"
    )
    topo = seed_with_observed(
        {
            "dundi-show-peers.txt": there_peers,
            "dundi-show-mappings.txt": MAPPINGS,
            "dundi-show-cache.txt": CACHE.replace("entries: 1", "x"),
        }
    )
    here_mappings = MAPPINGS.replace("NONE", "NOPARTIAL").replace("10.77.244", "10.1.0.3")
    lab = StubLab(topo, {"dundi show peers": here_peers, "dundi show mappings": here_mappings})
    [view] = observed.compare(cast(Lab, lab), settle=0)
    assert view.member == "c" and not view.reproduced
    assert view.different == [
        "peer b (02:00:00:00:00:02): UNREACHABLE there, OK: reachable here, not there",
        "peer d (02:00:00:00:00:04): OK there, UNREACHABLE: reachable there, not here",
        "peer 0a:00:00:00:00:09 (no member): OK there, not in the lab (no member has this "
        "entity ID)",
        "mapping network1 0 dundi-networ NONE IAX2 dundi:${SECRET}@…: there, not here",
        "mapping network1 0 dundi-networ NOPARTIAL IAX2 dundi:${SECRET}@…: here, not there",
    ]
    assert view.errors == [
        "observed/dundi-show-cache.txt: cannot read the line 'Number of x'",
    ]


def test_a_server_the_lab_reproduces_says_so_cached_answers_included() -> None:
    topo = seed_with_observed(
        {
            "dundi-show-peers.txt": PEERS_16,
            "dundi-show-mappings.txt": MAPPINGS,
            "dundi-show-cache.txt": CACHE,
        }
    )
    mappings = MAPPINGS.replace("10.77.244", "10.1.0.3")  # the lab's own address
    lab = StubLab(
        topo,
        {"dundi show peers": PEERS_16, "dundi show mappings": mappings},
        {"555000123": ["02:00:00:00:00:04"]},
    )
    [view] = observed.compare(cast(Lab, lab), settle=0)
    assert view.reproduced, (view.different, view.errors)
    assert view.same == [
        "peers: the same 1 (1 Unmonitored)",
        "mappings: the same 1",
        "cache: 1 entries there, 1 of 1 numbers answered alike here",
    ]
    lab.answers = {"555000123": ["02:00:00:00:00:02"]}
    [view] = observed.compare(cast(Lab, lab), settle=0)
    assert view.different == [
        "cache 555000123@network1: answered by d (02:00:00:00:00:04) there; "
        "here b (02:00:00:00:00:02)"
    ]
