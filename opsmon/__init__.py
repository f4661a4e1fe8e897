"""opsmon: live operations monitor for a joint election post."""

__version__ = "0.1.0"
