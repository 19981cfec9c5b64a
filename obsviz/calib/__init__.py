"""Calibration: what each observer saw, what quantizing each value costs, and which
module costs the accuracy. Nothing here imports pandas or matplotlib until it is used."""

from .calibration import Calibration, calibrate, calibration

__all__ = ["Calibration", "calibrate", "calibration"]
