"""The kill matrix: deliberately broken collectors that the conformance suite must catch."""
