"""A geofence polygon: parsed from 'lat,lon;lat,lon;lat,lon' and tested by even-odd ray casting.

Plain Python (no projection: a geofence a few km wide needs none, and no extra package). Python 3.8.
"""
from typing import List, Optional, Tuple


def parse_polygon(text: str) -> Optional[List[Tuple[float, float]]]:
    """'lat,lon;lat,lon;lat,lon;...' (deg, >= 3 vertices) -> [(lat, lon), ...]; '' -> None; ValueError else."""
    text = text.strip()
    if not text:
        return None
    try:
        pts = [tuple(float(v) for v in item.split(',')) for item in text.split(';') if item.strip()]
    except ValueError:
        pts = []
    if len(pts) < 3 or any(len(p) != 2 or not (-90 <= p[0] <= 90 and -180 <= p[1] <= 180) for p in pts):
        raise ValueError("expected 'lat,lon;lat,lon;lat,lon' with at least 3 vertices, got %r" % text)
    return pts


def inside_polygon(lat: float, lon: float, poly: List[Tuple[float, float]]) -> bool:
    """Even-odd ray casting in (lon, lat)."""
    inside = False
    n = len(poly)
    for i in range(n):
        (y1, x1), (y2, x2) = poly[i], poly[(i + 1) % n]
        if (y1 > lat) != (y2 > lat):
            x = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
            if lon < x:
                inside = not inside
    return inside
