"""Removed once the first command module lands."""
