"""The wire: every byte a conformance case sends goes through here.

``exchange`` is the evidence record (one builder for every client, redaction, the curl
line); ``http1`` the HTTP/1.1 client and the probe; ``raw`` the connections the attacks
pace byte by byte; ``h2`` the HTTP/2 client; ``tls`` trust, client certificates and
proxies; ``har`` the HAR log of a run.
"""
