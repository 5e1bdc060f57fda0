"""`python -m gis_service`: the `schoolmap` command line."""

from gis_service.cli import main

main()
