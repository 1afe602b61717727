"""Certification reports: render and check what a run wrote, offline.

This package only reads results (``results.json``, format
``clickstream-conformance/results@1``); it never talks to a collector, so a bundle
can be rendered, verified and compared anywhere, long after the run.
"""
