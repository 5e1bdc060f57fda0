"""Mode profiles: which ways each mode may use, speeds, one-way rules and the version hash."""

from __future__ import annotations

import json

import pytest

from gis_service.errors import InvalidRequestError
from gis_service.routing.profiles import (
    MODES,
    ModeProfile,
    default_profile,
    oneway_direction,
    usable,
    way_speed_kmh,
)

WALK, MOTORBIKE, CAR = (default_profile(mode) for mode in ("walk", "motorbike", "car"))


def modes_allowed(tags: dict[str, str]) -> set[str]:
    return {p.mode for p in (WALK, MOTORBIKE, CAR) if usable(tags, p)}


def test_unknown_mode_is_an_invalid_request_naming_the_modes() -> None:
    with pytest.raises(InvalidRequestError, match="walk, motorbike, car"):
        default_profile("bicycle")
    assert MODES == ("walk", "motorbike", "car")


@pytest.mark.parametrize(
    ("tags", "allowed"),
    [
        ({"highway": "motorway"}, {"car"}),
        ({"highway": "motorway_link"}, {"car"}),
        ({"highway": "trunk"}, {"walk", "motorbike", "car"}),
        ({"highway": "residential"}, {"walk", "motorbike", "car"}),
        ({"highway": "service", "service": "alley"}, {"walk", "motorbike"}),
        ({"highway": "service", "service": "parking_aisle"}, {"walk", "motorbike", "car"}),
        ({"highway": "footway"}, {"walk"}),
        ({"highway": "pedestrian"}, {"walk"}),
        ({"highway": "path"}, {"walk"}),
        ({"highway": "steps"}, {"walk"}),
        ({"highway": "cycleway"}, {"walk"}),
        ({"highway": "bus_stop"}, set()),
        ({"highway": "residential", "access": "private"}, set()),
        ({"highway": "residential", "access": "no", "motorcycle": "yes"}, {"motorbike"}),
        ({"highway": "residential", "access": "private", "foot": "yes"}, {"walk"}),
        ({"highway": "residential", "access": "no", "motor_vehicle": "yes"}, {"motorbike", "car"}),
        ({"highway": "residential", "motor_vehicle": "no"}, {"walk"}),
        (
            {"highway": "residential", "motor_vehicle": "no", "motorcycle": "yes"},
            {"walk", "motorbike"},
        ),
        ({"highway": "residential", "motorcycle": "no"}, {"walk", "car"}),
        ({"highway": "residential", "motorcar": "no"}, {"walk", "motorbike"}),
        ({"highway": "residential", "foot": "no"}, {"motorbike", "car"}),
        ({"highway": "pedestrian", "area": "yes"}, set()),
        ({"highway": "residential", "access": "destination"}, {"walk", "motorbike", "car"}),
    ],
)
def test_which_modes_may_use_a_way(tags: dict[str, str], allowed: set[str]) -> None:
    assert modes_allowed(tags) == allowed


def test_documented_speeds() -> None:
    assert way_speed_kmh({"highway": "primary"}, MOTORBIKE) == 30
    assert way_speed_kmh({"highway": "trunk_link"}, MOTORBIKE) == 30
    assert way_speed_kmh({"highway": "secondary"}, MOTORBIKE) == 28
    assert way_speed_kmh({"highway": "tertiary_link"}, MOTORBIKE) == 25
    assert way_speed_kmh({"highway": "residential"}, MOTORBIKE) == 20
    assert way_speed_kmh({"highway": "service", "service": "alley"}, MOTORBIKE) == 15
    assert way_speed_kmh({"highway": "primary"}, CAR) == 25
    assert way_speed_kmh({"highway": "motorway"}, CAR) == 60
    assert way_speed_kmh({"highway": "trunk"}, WALK) == 4.5
    assert way_speed_kmh({"highway": "steps"}, WALK) == 2.5
    for highway, speed in MOTORBIKE.speeds_kmh.items():
        assert CAR.speeds_kmh.get(highway, 0) <= speed, "cars are slower in congestion"


def test_a_lower_posted_limit_caps_motor_speeds_but_not_walking() -> None:
    assert way_speed_kmh({"highway": "primary", "maxspeed": "20"}, MOTORBIKE) == 20
    assert way_speed_kmh({"highway": "primary", "maxspeed": "60"}, MOTORBIKE) == 30
    assert way_speed_kmh({"highway": "primary", "maxspeed": "10 mph"}, CAR) == pytest.approx(
        16.09344
    )
    assert way_speed_kmh({"highway": "primary", "maxspeed": "20;10"}, CAR) == 25
    assert way_speed_kmh({"highway": "living_street", "maxspeed": "3"}, WALK) == 4.5


@pytest.mark.parametrize(
    ("tags", "direction"),
    [
        ({}, 0),
        ({"oneway": "yes"}, 1),
        ({"oneway": "true"}, 1),
        ({"oneway": "1"}, 1),
        ({"oneway": "-1"}, -1),
        ({"oneway": "reverse"}, -1),
        ({"oneway": "no"}, 0),
        ({"oneway": "yes;no"}, 0),
        ({"junction": "roundabout"}, 1),
        ({"junction": "roundabout", "oneway": "no"}, 0),
        ({"junction": "roundabout", "oneway": "-1"}, -1),
        ({"junction": "circular"}, 1),
    ],
)
def test_oneway(tags: dict[str, str], direction: int) -> None:
    tags = {"highway": "residential", **tags}
    assert oneway_direction(tags, MOTORBIKE) == direction
    assert oneway_direction(tags, CAR) == direction
    assert oneway_direction(tags, WALK) == 0


def test_overrides_merge_and_change_the_hash() -> None:
    slower = default_profile("motorbike", {"residential": 18})
    assert slower.speeds_kmh["residential"] == 18
    assert slower.speeds_kmh["primary"] == 30
    assert slower.params_hash() != MOTORBIKE.params_hash()
    added = default_profile("motorbike", {"footway": 5})
    assert usable({"highway": "footway"}, added)
    with pytest.raises(InvalidRequestError, match="positive"):
        default_profile("car", {"primary": 0})
    with pytest.raises(InvalidRequestError, match="positive"):
        default_profile("car", {"primary": float("nan")})


def test_the_hash_is_stable_and_versions_the_parameters() -> None:
    again = default_profile("motorbike", dict(reversed(list(MOTORBIKE.speeds_kmh.items()))))
    assert again.params_hash() == MOTORBIKE.params_hash()
    assert hash(again) == hash(MOTORBIKE)
    assert len({p.params_hash() for p in (WALK, MOTORBIKE, CAR)}) == 3
    # Golden value: changes only when the defaults or the tag rules change (then bump the
    # rules version in profiles.py, and every stored network gets rebuilt).
    assert MOTORBIKE.params_hash() == GOLDEN_MOTORBIKE_HASH
    as_dict = MOTORBIKE.as_dict()
    assert list(as_dict) == ["mode", "respect_oneway", "rules_version", "speeds_kmh"]
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert list(as_dict["speeds_kmh"]) == sorted(as_dict["speeds_kmh"])  # type: ignore[call-overload]


def test_a_profile_from_its_stored_parameters_is_the_same_profile() -> None:
    stored = json.loads(json.dumps(CAR.as_dict()))
    rebuilt = default_profile(stored["mode"], stored["speeds_kmh"])
    assert rebuilt == CAR
    assert rebuilt.params_hash() == CAR.params_hash()
    direct = ModeProfile("car", stored["speeds_kmh"], stored["respect_oneway"])
    assert direct.params_hash() == CAR.params_hash()
    with pytest.raises(TypeError):
        CAR.speeds_kmh["primary"] = 1  # type: ignore[index]


GOLDEN_MOTORBIKE_HASH = "241d91eab5c3e261edada549ce3a2d802bfa1094288d21c3290874ee2cbb757f"
