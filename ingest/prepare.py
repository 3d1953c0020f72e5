"""Preparing a batch: every message through the one accept path (:mod:`core.accept`),
sorted into samples to copy (laid out as binary COPY data), connection events, rejects,
each elevator's newest sample, and what the rules will be handed after the commit."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from core.accept import accept
from core.codec import REJECT_PAYLOAD_BYTES, Reject, Sample, Telemetry
from ingest.budget import RejectBudget
from ingest.registry import Registry
from messaging.subscriber import Inbound
from storage import intake as store
from storage.copybuf import Batch, Encoded, encode

__all__ = ["Prepared", "prepare"]


@dataclass
class Prepared:
    """One batch, ready to write."""

    batch: Batch = field(default_factory=Batch)
    latest: list[store.LatestState] = field(default_factory=list)
    events: list[store.ConnectionEvent] = field(default_factory=list)
    rejects: list[store.RejectRow] = field(default_factory=list)
    unstored_rejects: list[str] = field(default_factory=list)  # reasons, past the budget
    accepted: list[tuple[str, int, Telemetry]] = field(default_factory=list)
    states: list[tuple[str, int, str, int]] = field(default_factory=list)
    encoded: Encoded | None = None
    # what the batch's write may lock: each elevator's (first, last) sample time, and the
    # elevators with a connection event (two batches that share neither never wait on
    # each other's rows, so they may be written at once: ingest.pipeline)
    spans: dict[int, tuple[int, int]] = field(default_factory=dict)
    event_pks: set[int] = field(default_factory=set)

    def overlaps(self, other: Prepared) -> bool:
        """True if the writes of the two batches could wait on each other's rows."""
        if self.event_pks & other.event_pks:
            return True
        mine, theirs = self.spans, other.spans
        if len(theirs) < len(mine):
            mine, theirs = theirs, mine
        for pk, (lo, hi) in mine.items():
            span = theirs.get(pk)
            if span is not None and lo <= span[1] and span[0] <= hi:
                return True
        return False


def reject_row(item: Inbound, rej: Reject) -> store.RejectRow:
    """A refused message as the operator will read it."""
    return store.RejectRow(item.topic, item.elevator_id, rej.reason, rej.detail,
                           item.payload[:REJECT_PAYLOAD_BYTES], item.size)


def prepare(items: list[Inbound], registry: Registry,
            budget: RejectBudget | None = None) -> Prepared:
    """Sort a batch into samples to copy, connection events and rejects (the hot loop)."""
    elevators = registry.refresh()
    p = Prepared()
    add = p.batch.add
    accepted = p.accepted
    newest: dict[int, tuple[int, Sample]] = {}
    spans = p.spans
    for item in items:
        eid = item.elevator_id
        got = accept(item, None if eid is None else (
            elevators.get(eid) or registry.missing(eid)))
        if got is None:
            continue  # a cleared retained state: nothing to store
        if isinstance(got, Reject):
            if budget is None or budget.allow(eid or item.topic, got.reason):
                p.rejects.append(reject_row(item, got))
            else:
                p.unstored_rejects.append(got.reason)
            continue
        pk = got.elevator_pk
        msg = got.telemetry
        if msg is None:
            assert got.state is not None
            p.events.append(store.ConnectionEvent(pk, *got.state))
            p.event_pks.add(pk)
            p.states.append((got.elevator_id, pk, *got.state))
            continue
        add(pk, msg)
        accepted.append((got.elevator_id, pk, msg))
        ts = msg.ts_us
        i = len(ts) - 1
        if i and ts[i] < ts[0]:
            i = ts.index(max(ts))
        lo, hi = (min(ts), max(ts)) if i else (ts[0], ts[0])
        span = spans.get(pk)
        spans[pk] = (lo, hi) if span is None else (min(lo, span[0]), max(hi, span[1]))
        prev = newest.get(pk)
        if prev is None or ts[i] >= prev[0]:
            newest[pk] = (ts[i], msg.samples[i])
    for pk, (ts_us, sample) in newest.items():
        if sample.accel is not None:  # the window is large and only the rules need it
            sample = msgspec.structs.replace(sample, accel=None)
        p.latest.append(store.LatestState(pk, ts_us, sample))
    if len(p.batch):
        p.encoded = encode(p.batch)
    return p
