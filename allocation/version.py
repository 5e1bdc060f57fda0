"""The allocation library's version, recorded in every RunRecord."""

__version__ = "0.1.0"
