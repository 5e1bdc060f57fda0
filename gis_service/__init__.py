"""schoolmap service: school map, road distances and admissions on PostGIS."""

__version__ = "0.1.0"
