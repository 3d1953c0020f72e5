"""Elevators in a fixed number of partitions: the unit a `whistle rules` process owns.

The number is part of the deployment (every ingester and rules process must agree), so it
is a constant, not a setting: an elevator's partition is its primary key modulo it, which
is stable for the elevator's whole life and spreads a registry's serial keys evenly.
"""

from __future__ import annotations

PARTITIONS = 64


def partition_of(elevator_pk: int) -> int:
    """The partition of an elevator."""
    return elevator_pk % PARTITIONS
