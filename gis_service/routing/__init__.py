"""Road routing core: mode profiles, graphs from OSM ways, snapping and distance fields."""
