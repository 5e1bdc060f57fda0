"""A hand-made OSM XML extract whose every count is known."""

from __future__ import annotations

from pathlib import Path

# Nodes 1-9: a 3x3 grid of road nodes, 100 m apart (0.0009 degrees) near 106.62 E, 10.45 N.
_GRID = [
    (i * 3 + j + 1, 106.62 + j * 0.0009, 10.45 + i * 0.0009) for i in range(3) for j in range(3)
]

HAND_MADE_OSM = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="test">
{grid}
  <node id="20" lat="10.4505" lon="106.6205" version="1" timestamp="2024-05-01T10:00:00Z">
    <tag k="amenity" v="school"/><tag k="name" v="Trường Tiểu học Lê Văn Thọ"/>
    <tag k="operator:type" v="public"/><tag k="addr:housenumber" v="12"/>
    <tag k="addr:street" v="Lê Lợi"/>
  </node>
  <node id="21" lat="10.4512" lon="106.6212" version="1" timestamp="2024-05-01T10:00:00Z">
    <tag k="amenity" v="kindergarten"/><tag k="name" v="Trường Mầm non Hoa Sen"/>
  </node>
  <node id="22" lat="10.4514" lon="106.6203" version="1" timestamp="2024-05-01T10:00:00Z">
    <tag k="amenity" v="school"/><tag k="name" v="Trường Quốc tế Sài Gòn Mới"/>
  </node>
  <node id="23" lat="10.4501" lon="106.6201" version="1" timestamp="2024-05-01T10:00:00Z">
    <tag k="shop" v="bakery"/>
  </node>
  <node id="31" lat="10.4510" lon="106.6210" version="1" timestamp="2024-05-01T10:00:00Z"/>
  <node id="32" lat="10.4510" lon="106.6214" version="1" timestamp="2024-05-01T10:00:00Z"/>
  <node id="33" lat="10.4514" lon="106.6214" version="1" timestamp="2024-05-01T10:00:00Z"/>
  <node id="34" lat="10.4514" lon="106.6210" version="1" timestamp="2024-05-01T10:00:00Z"/>
  <node id="41" lat="10.4502" lon="106.6216" version="1" timestamp="2024-05-01T10:00:00Z"/>
  <node id="42" lat="10.4502" lon="106.6219" version="1" timestamp="2025-01-02T03:04:05Z"/>
  <way id="100" version="1" timestamp="2024-05-01T10:00:00Z">
    <nd ref="1"/><nd ref="2"/><nd ref="3"/>
    <tag k="highway" v="residential"/><tag k="name" v="Lê Lợi"/>
  </way>
  <way id="101" version="1" timestamp="2024-05-01T10:00:00Z">
    <nd ref="4"/><nd ref="5"/><nd ref="6"/>
    <tag k="highway" v="tertiary"/><tag k="name" v="Nguyễn Huệ"/><tag k="oneway" v="yes"/>
  </way>
  <way id="102" version="1" timestamp="2024-05-01T10:00:00Z">
    <nd ref="1"/><nd ref="4"/><nd ref="7"/>
    <tag k="highway" v="service"/><tag k="service" v="alley"/><tag k="name" v="Hẻm 12 Lê Lợi"/>
  </way>
  <way id="103" version="1" timestamp="2024-05-01T10:00:00Z">
    <nd ref="3"/><nd ref="6"/><nd ref="9"/>
    <tag k="highway" v="motorway"/><tag k="oneway" v="yes"/>
  </way>
  <way id="104" version="1" timestamp="2024-05-01T10:00:00Z">
    <nd ref="7"/><nd ref="8"/><nd ref="9"/><tag k="highway" v="footway"/>
  </way>
  <way id="105" version="1" timestamp="2024-05-01T10:00:00Z">
    <nd ref="2"/><nd ref="5"/><tag k="highway" v="construction"/>
  </way>
  <way id="106" version="1" timestamp="2024-05-01T10:00:00Z">
    <nd ref="8"/><nd ref="5"/><nd ref="999"/>
    <tag k="highway" v="residential"/><tag k="name" v="Đường cụt"/>
  </way>
  <way id="200" version="1" timestamp="2024-05-01T10:00:00Z">
    <nd ref="31"/><nd ref="32"/><nd ref="33"/><nd ref="34"/><nd ref="31"/>
    <tag k="amenity" v="school"/><tag k="name" v="Trường THCS Nguyễn Du"/>
    <tag k="isced:level" v="2"/>
  </way>
  <way id="201" version="1" timestamp="2024-05-01T10:00:00Z">
    <nd ref="41"/><nd ref="42"/>
    <tag k="amenity" v="school"/><tag k="name" v="Trường THPT Lê Quý Đôn"/>
  </way>
</osm>
"""

# What importing HAND_MADE_OSM must give.
EXPECTED_ROAD_WAYS = 6  # 100-104 and 106; 105 is under construction
EXPECTED_SCHOOLS = {
    ("node", 20): ("Trường Tiểu học Lê Văn Thọ", ["tieu_hoc"], "name", "public"),
    ("node", 21): ("Trường Mầm non Hoa Sen", ["mam_non"], "osm_tag", "unknown"),
    ("node", 22): ("Trường Quốc tế Sài Gòn Mới", [], "unknown", "private"),
    ("way", 200): ("Trường THCS Nguyễn Du", ["thcs"], "osm_tag", "unknown"),
    ("way", 201): ("Trường THPT Lê Quý Đôn", ["thpt"], "name", "unknown"),
}


def write_hand_made_osm(path: Path) -> Path:
    grid = "\n".join(
        f'  <node id="{nid}" lat="{lat:.7f}" lon="{lon:.7f}" version="1" '
        f'timestamp="2024-05-01T10:00:00Z"/>'
        for nid, lon, lat in _GRID
    )
    path.write_text(HAND_MADE_OSM.format(grid=grid), encoding="utf-8")
    return path
