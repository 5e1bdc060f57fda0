"""Administrative units in editions (2019 census units, 2025 two-tier units) and between them."""
