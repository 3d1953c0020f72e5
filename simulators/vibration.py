"""Acceleration windows: the ride's own acceleration plus car vibration and sensor noise.

Ride vibration has a car resonance (a sinusoid at 8-14 Hz), broadband roughness and short
bumps at guide-rail joints every 5 m. Its level scales with the car's wear factor (1 for a
car in good condition), so worn guides or rollers raise the run vibration the service
measures. Vibration grows with speed up to 0.3 m/s and is absent at rest.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

RAIL_LENGTH_M = 5.0
JOINT_WIDTH_M = 0.04
SENSOR_SIGMA = 0.004  # m/s^2, MEMS accelerometer noise
RESOLUTION = 0.001  # m/s^2 per count

FloatArray = NDArray[np.float64]


def ride_vibration(*, times: FloatArray, speed: FloatArray, pos: FloatArray,
                   level: FloatArray, freq: FloatArray, phase: FloatArray,
                   rng: np.random.Generator) -> FloatArray:
    """Vibration (n, m) of n cars over m instants; level (n,) is each car's RMS when running."""
    envelope = np.clip(np.abs(speed) / 0.3, 0.0, 1.0)
    amp = level[:, None]
    tone = np.sin(2.0 * np.pi * freq[:, None] * times + phase[:, None])
    rough = rng.standard_normal(times.shape)
    offset = pos - RAIL_LENGTH_M * np.round(pos / RAIL_LENGTH_M)
    joint = np.exp(-((offset / JOINT_WIDTH_M) ** 2))
    return amp * envelope * (0.85 * tone + 0.8 * rough + 1.5 * joint)  # type: ignore[no-any-return]


def sense(values: FloatArray, rng: np.random.Generator, *, noise: bool = True) -> FloatArray:
    """What the accelerometer reports: noise added and quantised to its resolution."""
    if noise:
        values = values + rng.normal(0.0, SENSOR_SIGMA, values.shape)
    return np.round(values / RESOLUTION) * RESOLUTION  # type: ignore[no-any-return]
