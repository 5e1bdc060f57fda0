"""Importers: OSM roads and schools, ward boundaries with population, age groups, registries."""
