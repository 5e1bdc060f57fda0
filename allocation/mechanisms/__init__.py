"""Allocation mechanisms, one module each: nearest, da, constrained, greedy."""
