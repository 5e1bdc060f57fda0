"""Resolve Vietnamese addresses to points from the imported OSM house numbers and streets."""
