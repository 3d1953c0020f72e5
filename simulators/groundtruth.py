"""The ground-truth log: one JSON line per injected fault, for recall/precision/latency.

Each record is ``{"elevator_id", "kind", "start_ms", "end_ms", "params"}``. ``start_ms`` and
``end_ms`` bound the interval in which the fault's signature is visible in telemetry (for
example: from the moment the car stopped between floors until its doors opened at a
landing), in the samples' own event time. ``params`` holds the fault's parameters as used,
``injected_ms`` (when the fault was armed, which for faults that wait for a run or a stop
is earlier than ``start_ms``) and details of the kind. ``inspection_overdue`` records, one
per elevator registered with a past due date, have ``end_ms`` null.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

import msgspec

Record = dict[str, Any]

_encoder = msgspec.json.Encoder()


class GroundTruthWriter:
    """Appends ground-truth records to a JSONL file as they complete."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = self.path.open("wb")
        self.written = 0

    def write_new(self, records: list[Record]) -> int:
        """Write the records not written yet (the list only grows); returns how many."""
        new = records[self.written:]
        for rec in new:
            self._file.write(_encoder.encode(rec) + b"\n")
        if new:
            self._file.flush()
        self.written = len(records)
        return len(new)

    def close(self) -> None:
        """Flush and close the file."""
        self._file.close()


def read_ground_truth(path: str | Path) -> list[Record]:
    """The records of a ground-truth file."""
    dec = msgspec.json.Decoder(dict[str, Any])
    with Path(path).open("rb") as f:
        return [dec.decode(line) for line in f if line.strip()]
