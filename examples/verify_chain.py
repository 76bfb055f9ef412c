#!/usr/bin/env python3
"""Verify a lineage campaign's hash chain with nothing but the Python standard library.

    python3 examples/verify_chain.py lineage.db CAMPAIGN

The rule (docs/events.md): hash_n = SHA-256(hash_{n-1} || body_n), where hash_{-1} is 32 zero
bytes and body_n is the exact UTF-8 text stored in lineage_events.body. Exit status 0 when the
chain is intact and ends at the campaign's recorded head; 1, naming the first bad event, when not.
"""
import hashlib
import json
import sqlite3
import sys


def verify(path, campaign):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    head = db.execute(
        "SELECT head_seq, head_hash FROM lineage_campaigns WHERE id = ?", (campaign,)
    ).fetchone()
    if head is None:
        return f"unknown campaign {campaign}"
    prev = bytes(32)
    expected_seq = 0
    rows = db.execute(
        "SELECT seq, prev_hash, hash, body FROM lineage_events WHERE campaign = ? ORDER BY seq",
        (campaign,),
    )
    for seq, prev_hash, stored_hash, body in rows:
        if seq != expected_seq:
            return f"event {expected_seq}: missing (found seq {seq})"
        if bytes.fromhex(prev_hash) != prev:
            return f"event {seq}: prev_hash does not match the previous event's hash"
        digest = hashlib.sha256(prev + body.encode("utf-8")).digest()
        if digest.hex() != stored_hash:
            return f"event {seq}: body does not hash to the stored hash (edited)"
        envelope = json.loads(body)
        if envelope["seq"] != seq or envelope["campaign"] != campaign:
            return f"event {seq}: body records seq {envelope['seq']} of {envelope['campaign']}"
        prev = digest
        expected_seq += 1
    if expected_seq < head[0]:
        return f"event {expected_seq}: log ends early (the head says {head[0]} events)"
    if expected_seq > head[0]:
        return f"event {head[0]}: log runs past the head (the head says {head[0]} events, {expected_seq} present)"
    if prev.hex() != head[1]:
        return f"event {expected_seq}: the head's hash differs from the last event's"
    print(f"ok: {expected_seq} events, head {prev.hex()}")
    return None


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    problem = verify(sys.argv[1], sys.argv[2])
    if problem:
        print(f"verify_chain: {problem}", file=sys.stderr)
        sys.exit(1)
