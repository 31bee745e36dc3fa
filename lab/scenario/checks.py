"""Running one step against a lab: faults, checks, waits, and their verdicts."""

from __future__ import annotations

import re
import time

from lab.core.running import Lab
from lab.errors import LabError
from lab.redact import redact
from lab.scenario.steps import Step

__all__ = ["execute_step"]


def execute_step(step: Step, lab: Lab) -> tuple[bool, str, str, str]:
    """(passed, what was seen, what was expected, skip reason)."""
    nodes = step.nodes
    if step.kind == "stop":
        lab.stop_node(nodes[0])
    elif step.kind == "start":
        lab.start_node(nodes[0])
    elif step.kind == "restart":
        lab.restart_node(nodes[0])
    elif step.kind == "partition":
        lab.partition(*nodes)
    elif step.kind == "heal":
        lab.heal(*nodes)
    elif step.kind == "impair":
        try:
            lab.impair(*nodes, delay_ms=step.delay_ms, loss_pct=step.loss_pct)
        except LabError as exc:
            return True, "", "", f"the kernel cannot impair links here ({exc})"
    elif step.kind == "wait_until":
        return _wait(step, lab)
    else:
        return _check(step, lab)
    return True, "done", "", ""


def _wait(step: Step, lab: Lab) -> tuple[bool, str, str, str]:
    assert step.inner is not None
    deadline = time.monotonic() + step.within
    tries = 0
    while True:
        tries += 1
        ok, seen, expected, _ = _check(step.inner, lab)
        if ok:
            return True, f"{seen} (after {tries} tries)", expected, ""
        if time.monotonic() > deadline:
            return False, f"{seen} (still, after {step.within:.0f} s)", expected, ""
        time.sleep(1)


def _check(step: Step, lab: Lab) -> tuple[bool, str, str, str]:
    if step.kind == "lookup":
        return _check_lookup(step, lab)
    if step.kind == "call":
        return _check_call(step, lab)
    if step.kind == "link":
        return _check_link(step, lab)
    return _check_cli(step, lab)


def _verdict(checks: list[tuple[bool, str]], seen: str) -> tuple[bool, str, str, str]:
    failed = [what for ok, what in checks if not ok]
    expected = "; ".join(what for _, what in checks)
    return not failed, seen, ("" if not failed else "; ".join(failed)) or expected, ""


def _name(lab: Lab, host_or_eid: str) -> str:
    node = lab.node_for(host_or_eid)
    return node.name if node else host_or_eid


def _check_lookup(step: Step, lab: Lab) -> tuple[bool, str, str, str]:
    result = lab.lookup(step.number, step.network, from_node=step.nodes[0], bypass=step.bypass)
    e = step.expect
    by = sorted(_name(lab, a.eid) for a in result.answers)
    best = result.best
    if result.found and best is not None:
        seen = (
            f"found by {', '.join(by)}; best {_name(lab, best.eid)} at {best.host} "
            f"weight {best.weight} ({result.asterisk_ms} ms)"
        )
    else:
        seen = f"not found ({result.asterisk_ms} ms)"
    checks: list[tuple[bool, str]] = []
    if e.found is not None:
        checks.append((result.found == e.found, "found" if e.found else "not found"))
    if e.answered_by is not None:
        checks.append((by == sorted(e.answered_by), f"answered by {', '.join(e.answered_by)}"))
    if e.best is not None:
        checks.append((best is not None and _name(lab, best.eid) == e.best, f"best {e.best}"))
    if e.host is not None:
        ip = lab.topology.node(e.host).ip
        checks.append((best is not None and best.host == ip, f"host {e.host} ({ip})"))
    if e.weight is not None:
        checks.append((best is not None and best.weight == e.weight, f"weight {e.weight}"))
    if e.answers is not None:
        checks.append((len(result.answers) == e.answers, f"{e.answers} answers"))
    return _verdict(checks, seen)


def _check_call(step: Step, lab: Lab) -> tuple[bool, str, str, str]:
    result = lab.call(step.nodes[0], step.number, step.network)
    e = step.expect
    callee = lab.node_for(result.host or "")
    if result.answered:
        seen = (
            f"answered by {callee.name if callee else result.host} in "
            f"{result.setup_ms:.0f} ms, digits {result.digits or '(none)'}"
        )
    else:
        seen = (
            f"not answered: {result.status}, cause {result.cause or '?'}"
            f"{', dial ' + result.dial_status if result.dial_status else ''}"
        )
    media = (
        callee is not None
        and result.callee_code == callee.code
        and result.callee_extension == step.number[-4:]
        and result.callee_saw_caller == result.caller
    )
    checks: list[tuple[bool, str]] = []
    if e.answered is not None:
        checks.append((result.answered == e.answered, "answered" if e.answered else "not answered"))
    if e.callee is not None:
        want = lab.topology.node(e.callee)
        checks.append(
            (
                callee is not None and callee.name == e.callee and result.callee_code == want.code,
                f"answered by {e.callee}",
            )
        )
    if e.media is not None:
        checks.append(
            (
                media == e.media,
                "media verified (extension, caller, node code)"
                if e.media
                else "media not verified",
            )
        )
    if e.status is not None:
        checks.append((result.status == e.status, f"status {e.status}"))
    return _verdict(checks, seen)


def _check_link(step: Step, lab: Lab) -> tuple[bool, str, str, str]:
    node, peer = step.nodes
    links = {ln.peer: ln for ln in lab.links(node)}
    status = links[peer].status if peer in links else "ABSENT"
    want = step.expect.status or "OK"
    return _verdict(
        [(status.upper().startswith(want), f"status {want}")], f"{node} sees {peer} as {status}"
    )


def _check_cli(step: Step, lab: Lab) -> tuple[bool, str, str, str]:
    output = redact(lab.cli(step.nodes[0], step.command))
    e = step.expect
    checks: list[tuple[bool, str]] = []
    if e.match is not None:
        checks.append(
            (re.search(e.match, output, re.MULTILINE) is not None, f"output matches /{e.match}/")
        )
    if e.not_match is not None:
        checks.append(
            (
                re.search(e.not_match, output, re.MULTILINE) is None,
                f"output does not match /{e.not_match}/",
            )
        )
    lines = [" ".join(line.split()) for line in output.splitlines() if line.strip()]
    shown = next((ln for ln in lines if e.match and re.search(e.match, ln)), None)
    seen = shown or " | ".join(lines[:2])
    return _verdict(checks, seen[:160])
