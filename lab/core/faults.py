"""Narrow faults between two nodes, made with the kernel's packet filter inside the nodes.

A fault is a set of rules in the *receiving* node's INPUT chain, as a firewall on that
server would hold them: packets from the other node are dropped silently, refused (ICMP
port unreachable goes back on the wire) or dropped at random (the `statistic` match: loss
without netem, which this machine's kernel lacks). `only` narrows a fault to one kind of
traffic: DUNDi (UDP 4520) or IAX2 (UDP 4569); DUNDi only *finds* the route and IAX2 then
goes straight from caller to callee, so the two fail very differently.

Every rule carries a comment naming the pair, so `heal` removes what the lab put there and
nothing else.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

PORTS = {"dundi": 4520, "iax2": 4569}
KINDS = tuple(PORTS)
_TAG = "dundi-lab"


@dataclass(frozen=True)
class Cut:
    """Packets from `sender` dropped at `receiver` (who holds the rule)."""

    sender: str
    receiver: str
    only: str | None = None  # "dundi", "iax2" or None (all traffic)
    reject: bool = False  # refuse (ICMP port unreachable) instead of a silent drop
    loss_pct: float = 100  # below 100: drop this share of the packets at random

    def tag(self) -> str:
        """The rule's comment: who, what and how (no spaces, so `iptables -S` keeps it
        unquoted)."""
        how = (
            "reject"
            if self.reject
            else "drop"
            if self.loss_pct >= 100
            else f"loss{self.loss_pct:g}"
        )
        return f"{_TAG}:{self.sender}>{self.receiver}:{self.only or 'all'}:{how}"

    def rule(self, sender_ip: str) -> list[str]:
        """The rule's match and target, as `iptables -A INPUT` takes them."""
        spec = ["-s", f"{sender_ip}/32"]
        if self.only is not None:
            spec += ["-p", "udp", "--dport", str(PORTS[self.only])]
        if self.loss_pct < 100:
            probability = f"{self.loss_pct / 100:.4f}"
            spec += ["-m", "statistic", "--mode", "random", "--probability", probability]
        spec += ["-m", "comment", "--comment", self.tag()]
        if self.reject:
            return [*spec, "-j", "REJECT", "--reject-with", "icmp-port-unreachable"]
        return [*spec, "-j", "DROP"]


def cuts(
    first: str,
    second: str,
    *,
    only: str | None = None,
    oneway: bool = False,
    reject: bool = False,
    loss_pct: float = 100,
) -> list[Cut]:
    """The cuts for `first`-`second` (both ways) or `first`->`second` (`oneway`: only what
    `first` sends is lost)."""
    pairs = [(first, second)] if oneway else [(first, second), (second, first)]
    return [Cut(s, r, only, reject, loss_pct) for s, r in pairs]


def ours(
    listing: str, first: str, second: str, *, only: str | None, oneway: bool
) -> list[list[str]]:
    """From `iptables -S INPUT` of a node: the lab's rules between the pair that `heal`
    with these options removes, each as the argv after `iptables` that deletes it."""
    senders = {first} if oneway else {first, second}
    found = []
    for line in listing.splitlines():
        try:
            words = shlex.split(line)
        except ValueError:  # not one of ours (the lab's comments need no quoting)
            continue
        if words[:2] != ["-A", "INPUT"] or "--comment" not in words:
            continue
        tag = words[words.index("--comment") + 1]
        parts = tag.split(":")
        if len(parts) != 4 or parts[0] != _TAG:
            continue
        sender, _, receiver = parts[1].partition(">")
        if {sender, receiver} != {first, second} or sender not in senders:
            continue
        if only is not None and parts[2] != only:
            continue
        found.append(["-D", *words[1:]])
    return found
