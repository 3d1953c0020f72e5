"""settle_gc: a started service stops scanning what start-up built and collects its young
objects less often, and cycles made afterwards are still collected."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import gc, json, weakref
from whistle.runtime import GC_YOUNG, settle_gc
kept = [[i] for i in range(5000)]  # built at start-up
before = gc.get_threshold()
settle_gc()
class Node: pass
a, b = Node(), Node()
a.other, b.other = b, a  # a cycle made after start-up
gone = weakref.ref(a)
del a, b
gc.collect()
print(json.dumps({"before": before, "after": gc.get_threshold(), "young": GC_YOUNG,
                  "frozen": gc.get_freeze_count(), "enabled": gc.isenabled(),
                  "cycle_collected": gone() is None}))
"""


def test_start_up_objects_are_frozen_and_later_cycles_still_collected() -> None:
    # a process of its own: the test runner's collector is left as it is
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True).stdout
    got = json.loads(out)
    assert got["after"] == [got["young"], *got["before"][1:]]
    assert got["after"][0] > got["before"][0]
    assert got["frozen"] >= 5000  # the start-up objects
    assert got["enabled"] and got["cycle_collected"]
