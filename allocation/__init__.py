"""Pure allocation library: problem -> mechanism -> result; imports numpy and OR-Tools only."""
