"""Travel-mode profiles: which OSM ways a mode may use, how fast, and in which direction."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from gis_service.errors import InvalidRequestError

# Default speeds are planning assumptions for school-run hours, not speed limits: urban limits
# are 50-60 km/h, but mixed traffic on the main roads of Hồ Chí Minh City and Hà Nội moves at
# roughly 20-30 km/h at peak hours, cars (which cannot filter through) slower than motorbikes,
# and side streets and alleys (hẻm) slower again. Override them where local data is better.
# A highway value missing from a table is not usable by the mode.
#
#     highway                     motorbike   car   walk
#     motorway (+ _link)              -        60     -    motorbikes are banned from expressways
#     trunk (+ _link)                30        28   4.5    trunk is walkable in HCMC (sidewalks)
#     primary (+ _link)              30        25   4.5
#     secondary (+ _link)            28        22   4.5
#     tertiary (+ _link)             25        20   4.5
#     unclassified, residential      20        15   4.5
#     living_street, road            20        15   4.5
#     service (incl. alleys, hẻm)    15        10   4.5    car: service=alley is too narrow
#     track                          15        10   4.5
#     footway, pedestrian, path       -         -   4.5
#     cycleway, bridleway             -         -   4.5
#     steps                           -         -   2.5
#
# Access: `access=no|private` closes a way unless a more specific mode tag opens it (for a
# motorbike `motorcycle`, then `motor_vehicle`; for a car `motorcar`, then `motor_vehicle`; for
# walking `foot`); the most specific tag present decides. `area=yes` (squares) is never routed.
# A posted `maxspeed` lower than the table speed caps it for motor vehicles.
# One-way: `oneway=yes|true|1` forward, `-1|reverse` backward, `junction=roundabout|circular`
# forward unless `oneway` says otherwise; walking ignores one-way.

MODES = ("walk", "motorbike", "car")

# Bump when the tag rules below change, so networks built under old rules get a new version.
RULES_VERSION = 1

_MAIN_ROADS: dict[str, float] = {
    "trunk": 30.0,
    "primary": 30.0,
    "secondary": 28.0,
    "tertiary": 25.0,
}
_MOTORBIKE: dict[str, float] = {
    **_MAIN_ROADS,
    **{f"{road}_link": speed for road, speed in _MAIN_ROADS.items()},
    "unclassified": 20.0,
    "residential": 20.0,
    "living_street": 20.0,
    "road": 20.0,
    "service": 15.0,
    "track": 15.0,
}
_CAR_MAIN: dict[str, float] = {
    "motorway": 60.0,
    "trunk": 28.0,
    "primary": 25.0,
    "secondary": 22.0,
    "tertiary": 20.0,
}
_CAR: dict[str, float] = {
    **_CAR_MAIN,
    **{f"{road}_link": speed for road, speed in _CAR_MAIN.items()},
    "unclassified": 15.0,
    "residential": 15.0,
    "living_street": 15.0,
    "road": 15.0,
    "service": 10.0,
    "track": 10.0,
}
_WALKWAYS = ("footway", "pedestrian", "path", "cycleway", "bridleway")
_WALK: dict[str, float] = {
    **{highway: 4.5 for highway in _MOTORBIKE},
    **{highway: 4.5 for highway in _WALKWAYS},
    "steps": 2.5,
}
_DEFAULT_SPEEDS: dict[str, dict[str, float]] = {
    "walk": _WALK,
    "motorbike": _MOTORBIKE,
    "car": _CAR,
}
# Access tags from the most specific to the most general, per mode.
_ACCESS_KEYS: dict[str, tuple[str, ...]] = {
    "walk": ("foot", "access"),
    "motorbike": ("motorcycle", "motor_vehicle", "access"),
    "car": ("motorcar", "motor_vehicle", "access"),
}
_CLOSED = frozenset({"no", "private"})
_FORWARD = frozenset({"yes", "true", "1"})
_BACKWARD = frozenset({"-1", "reverse"})
_TWO_WAY = frozenset({"no", "false", "0"})
_ROUNDABOUTS = frozenset({"roundabout", "circular"})
_MAXSPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(km/h|kmh|kph|mph)?\s*$")


@dataclass(frozen=True)
class ModeProfile:
    """How one travel mode uses roads: speeds per highway value and one-way handling."""

    mode: str
    speeds_kmh: Mapping[str, float]
    respect_oneway: bool

    def __post_init__(self) -> None:
        # A read-only, sorted copy: the profile versions a network, so it must not change.
        frozen = MappingProxyType({k: float(v) for k, v in sorted(self.speeds_kmh.items())})
        object.__setattr__(self, "speeds_kmh", frozen)

    def __hash__(self) -> int:
        return hash(self.params_hash())

    def as_dict(self) -> dict[str, object]:
        """JSON-able parameters in a stable key order (they version a built network)."""
        return {
            "mode": self.mode,
            "respect_oneway": self.respect_oneway,
            "rules_version": RULES_VERSION,
            "speeds_kmh": dict(self.speeds_kmh),
        }

    def params_hash(self) -> str:
        """sha256 hex digest of the canonical JSON of `as_dict()`."""
        canonical = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def default_profile(mode: str, speeds_kmh: Mapping[str, float] | None = None) -> ModeProfile:
    """The documented defaults of a mode; `speeds_kmh` overrides (or adds) highway speeds."""
    if mode not in MODES:
        raise InvalidRequestError(f"unknown travel mode {mode!r}; use one of {', '.join(MODES)}")
    speeds = dict(_DEFAULT_SPEEDS[mode])
    for highway, speed in (speeds_kmh or {}).items():
        if not isinstance(speed, int | float) or not math.isfinite(speed) or speed <= 0:
            raise InvalidRequestError(
                f"speed for highway={highway} must be a positive number of km/h, got {speed!r}"
            )
        speeds[str(highway)] = float(speed)
    return ModeProfile(mode=mode, speeds_kmh=speeds, respect_oneway=mode != "walk")


def usable(tags: Mapping[str, str], profile: ModeProfile) -> bool:
    """Whether the mode may travel along a way with these tags."""
    if tags.get("highway") not in profile.speeds_kmh or tags.get("area") == "yes":
        return False
    if profile.mode == "car" and tags.get("service") == "alley":
        return False
    for key in _ACCESS_KEYS.get(profile.mode, ("access",)):
        value = tags.get(key)
        if value is not None:
            return value.strip().lower() not in _CLOSED
    return True


def _maxspeed_kmh(value: str | None) -> float | None:
    match = _MAXSPEED.match(value or "")
    if match is None:
        return None
    speed = float(match.group(1))
    if match.group(2) == "mph":
        speed *= 1.609344
    return speed if speed > 0 else None


def way_speed_kmh(tags: Mapping[str, str], profile: ModeProfile) -> float:
    """Travel speed of the mode on a usable way (the table speed, capped by a lower maxspeed)."""
    speed = profile.speeds_kmh[tags["highway"]]
    if profile.mode != "walk":
        limit = _maxspeed_kmh(tags.get("maxspeed"))
        if limit is not None:
            speed = min(speed, limit)
    return speed


def oneway_direction(tags: Mapping[str, str], profile: ModeProfile) -> int:
    """0 if the mode may go both ways, 1 only along the way's node order, -1 only against it."""
    if not profile.respect_oneway:
        return 0
    oneway = (tags.get("oneway") or "").strip().lower()
    if oneway in _FORWARD:
        return 1
    if oneway in _BACKWARD:
        return -1
    if oneway in _TWO_WAY:
        return 0
    # No (or an unclear, e.g. "yes;no") oneway tag: roundabouts are still one-way.
    return 1 if tags.get("junction") in _ROUNDABOUTS else 0
