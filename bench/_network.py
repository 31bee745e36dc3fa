"""The network section: a 20-member network folder written as members write their files,
`lab reach` over its 400 cells, and `lab diff` between it and a copy that loses a mapping."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from lab.core.pipeline import start
from lab.observe import diff, reach
from lab.topology import generate, network

from _plan import Plan
from _results import Results, log
from _up import unique

MEMBERS = 20


def member_files(count: int, folder: Path) -> None:
    """`count` members on a ring with chords, one folder each, in the members' style: host
    names, key names of their own, comments, an #include."""
    edges = generate.ring_edges(count, chord_every=4, chord_span=count // 2)
    peers: dict[int, list[int]] = {i: [] for i in range(count)}
    for a, b in edges:
        peers[a].append(b)
        peers[b].append(a)
    folder.mkdir(parents=True)
    for i in range(count):
        me = generate.name(i)
        sections = "".join(
            f"\n[02:00:00:10:00:{j + 1:02x}] ; {generate.name(j)}\nmodel = symmetric\n"
            f"host = pbx.{generate.name(j)}.example.net\ninkey = {generate.name(j)}-key\n"
            f"outkey = {me}-key\ninclude = network1\npermit = network1\nqualify = yes\n"
            for j in sorted(peers[i])
        )
        prefix = generate.prefix(i, count)
        files = {
            "dundi.conf": f"; dundi.conf of member {me}\n[general]\n"
            f"entityid = 02:00:00:10:00:{i + 1:02x}\nttl = 32\ncachetime = 60\n"
            f"outgoing_sip_tech = SIP\n{sections}\n"
            "[mappings]\nnetwork1 => network1-context,0,IAX2,"
            f"dundi:${{SECRET}}@pbx.{me}.example.net/${{NUMBER}}\n",
            "iax.conf": "[general]\nbindport = 4569\n\n[dundi]\ntype = user\n"
            "dbsecret = dundi/secret\ncontext = incoming\n",
            "extensions.conf": f"#include phones.conf\n\n[lookup]\nswitch => DUNDi/network1\n\n"
            f"[network1-context]\nexten => _{prefix}XXXXXX,1,NoOp\n\n[incoming]\n"
            f"exten => _{prefix}XXXXXX,1,Goto(internal,${{EXTEN:-4}},1)\n\n[outgoing]\n"
            "exten => _XXXXXXXXX,1,Goto(lookup,${EXTEN},1)\n",
            "phones.conf": "[internal]\nexten => _XXXX,1,Answer()\n same => n,Hangup()\n",
        }
        (folder / me).mkdir()
        for file, text in files.items():
            (folder / me / file).write_text(text)
    (folder / "network.yaml").write_text(f"name: bench-net\ndescription: {count} members\n")


def drop_mapping(folder: Path, member: str) -> None:
    """The edit `lab diff` measures: one member comments out its mapping line."""
    path = folder / member / "dundi.conf"
    path.write_text(path.read_text().replace("network1 =>", ";network1 =>"))


def bench_network(res: Results, plan: Plan, tmp: Path, created: set[str]) -> None:
    add = res.adder("network")
    base = tmp / "network-base"
    member_files(MEMBERS, base)
    topo, _ = network.load_network(base)
    name = unique("bench-net")
    created.add(name)
    started = time.perf_counter()
    lab = start(topo.renamed(name), root=tmp / "labs")
    up_s = time.perf_counter() - started
    try:
        walls, cells, again = [], 0, []
        for run in range(plan.network_runs):
            log.print(f"lab reach over {MEMBERS} members, run {run + 1}/{plan.network_runs}")
            matrix = reach.compute(lab)
            walls.append(matrix.seconds)
            again.append(matrix.rechecked)
            cells = len(matrix.cells)
            counts = matrix.counts()
            if counts.get(reach.OK, 0) != cells - MEMBERS:
                res.errors.append(f"network: lab reach found {counts}, not all OK")
        add(
            "lab reach (lookups, no calls)",
            f"{MEMBERS} members, {cells} cells",
            "s",
            walls,
            f"lab up --network took {up_s:.1f} s; lookups asked again alone: {again}",
        )
    finally:
        lab.down()
    head = tmp / "network-head"
    shutil.copytree(base, head)
    drop_mapping(head, generate.name(MEMBERS // 2))
    walls, lost = [], 0
    for run in range(plan.network_runs):
        log.print(f"lab diff of two {MEMBERS}-member networks, run {run + 1}/{plan.network_runs}")
        started = time.perf_counter()
        result = diff.run(base, head, root=tmp / "diff")
        walls.append(time.perf_counter() - started)
        lost = len(result.lost)
    if lost < MEMBERS - 1:  # everyone else loses that member's prefix (and maybe transit)
        res.errors.append(f"network: lab diff lost {lost} routes, expected {MEMBERS - 1} or more")
    add(
        "lab diff (both up at once, both matrices, both down; no calls)",
        f"{MEMBERS} members",
        "s",
        walls,
        f"one member's mapping line commented out: {lost} routes lost",
    )
