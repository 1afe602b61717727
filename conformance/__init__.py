"""Clickstream HTTP API conformance suite."""
__version__ = "0.1.0"
