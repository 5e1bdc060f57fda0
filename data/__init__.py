"""Synthetic demo-city generator and small committed fixtures."""
