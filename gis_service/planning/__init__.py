"""School planning: class demand forecasts by ward, capacity gaps, new-school siting, scenarios."""
