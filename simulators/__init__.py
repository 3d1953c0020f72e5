"""The simulated fleet: cars with physics, traffic and injectable faults, speaking only the
wire contract (MQTT topics and payloads) and writing its ground truth. Imports nothing of
Whistle."""

from simulators.fleet import ActiveFault, Fleet, FleetConfig
from simulators.groundtruth import read_ground_truth
from simulators.publisher import Publisher
from simulators.registration import register

__all__ = ["ActiveFault", "Fleet", "FleetConfig", "Publisher", "read_ground_truth", "register"]
