"""The conformance cases, one module per area of the API document; the plugin collects them."""
