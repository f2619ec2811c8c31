"""The search spaces and sweep specs weightsearch ships, installed as package data (read with importlib.resources)."""
