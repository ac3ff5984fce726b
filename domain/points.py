"""Pixel coordinates as an operator types them: "x1,y1,x2,y2"."""

from __future__ import annotations

import math


def parse_numbers(text: str, count: int, what: str) -> tuple[float, ...]:
    """'x1,y1,x2,y2' → floats; ValueError naming `what` otherwise."""
    try:
        values = tuple(float(v) for v in text.replace(" ", "").split(","))
    except ValueError:
        values = ()
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise ValueError(f"{what} must be {count} comma-separated numbers, got {text!r}")
    return values
