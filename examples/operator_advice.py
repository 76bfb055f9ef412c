#!/usr/bin/env python3
"""An example lineage analyst, in plain Python (standard library only).

Attach it to a campaign, running or finished:

    lineage attach CAMPAIGN --exec 'python3 examples/operator_advice.py' --name operator-advice

It speaks protocol 1 (docs/analysts.md): lineage writes one JSON object per line on its
standard input (`hello`; the events before its starting point as `history`; then one `event`
per committed event; and `caught_up`); after each `event` it answers on standard output with
any number of `insight` / `analysis` lines and then `done` with that event's `seq`.

What it concludes: after every scored proposal, how much each kind of edit changed fitness
against the parent, as a direct operator weight (`op:NAME:weight`) that the campaign's
researcher multiplies into its operator draw, citing the fitness events it is based on; and a
one-line analysis of the scored architecture. Its state is rebuilt from the events it is shown,
so it needs no file of its own: after a restart, lineage sends what it had already
processed as `history`, which rebuilds that state without answering it again.
"""

import json
import sys

proposals = {}  # arch -> (parent, [edit kinds])
fitness = {}  # arch -> (total, fitness event id)
gains = {}  # edit kind -> [(gain, fitness event id)]


def send(message):
    sys.stdout.write(json.dumps(message, sort_keys=True) + "\n")
    sys.stdout.flush()


def weight(values):
    """More of what helped, less of what hurt: 1 + 5 x mean gain, within [0.5, 2]."""
    mean = sum(v for v, _ in values) / len(values)
    return max(0.5, min(2.0, 1.0 + 5.0 * mean))


def on_event(event, answer):
    payload, kind = event["payload"], event["type"]
    if kind == "ArchitectureProposed":
        edits = [e["kind"] for e in payload.get("edits", [])]
        proposals[payload["arch"]] = (payload.get("parent"), edits)
        return
    if kind != "FitnessAssigned" or payload["stage"] != "exploration":
        return
    arch = payload["arch"]
    fitness[arch] = (payload["total"], event["id"])
    parent, edits = proposals.get(arch, (None, []))
    if parent not in fitness or not edits:
        return
    gain = payload["total"] - fitness[parent][0]
    for edit in edits:
        gains.setdefault(edit, []).append((gain, event["id"]))
    if not answer:
        return
    send({
        "type": "analysis",
        "arch": arch,
        "summary": f"{'+'.join(edits)} moved fitness {gain:+.3f} against {parent}",
        "numbers": {"gain": gain},
        "cites": [event["id"], fitness[parent][1]],
    })
    data = {f"op:{op}:weight": weight(values) for op, values in sorted(gains.items())}
    cites = sorted({e for values in gains.values() for _, e in values})
    uses = sum(len(values) for values in gains.values())
    send({
        "type": "insight",
        "kind": "operator-advice",
        "text": "; ".join(
            f"{op} x{data[f'op:{op}:weight']:.2f} over {len(values)} use(s)" for op, values in sorted(gains.items())
        ),
        "confidence": uses / (uses + 5.0),
        "data": data,
        "cites": cites,
    })


for line in sys.stdin:
    message = json.loads(line)
    if message["type"] == "history":
        on_event(message["event"], answer=False)
    elif message["type"] == "event":
        event = message["event"]
        on_event(event, answer=True)
        send({"type": "done", "seq": event["seq"]})
