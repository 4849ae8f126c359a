"""Thin Quart blueprints: each view parses, calls, renders."""
