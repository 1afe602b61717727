"""A private CA and a server certificate for 127.0.0.1, made by trustme in a temp folder.

The suite is told to trust the CA the way a user on a branch without --ca-cert would:
``SSL_CERT_FILE`` (ssl's default context reads it), set only in the suite's subprocess.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import trustme

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Certs:
    ca: Path     # the CA certificate (PEM): what the client trusts
    cert: Path   # the server's certificate chain (PEM)
    key: Path    # the server's private key (PEM)

    def client_env(self) -> dict[str, str]:
        """The environment of a suite run that trusts this CA."""
        return {**os.environ, "SSL_CERT_FILE": str(self.ca)}


def make_certs(directory: Path) -> Certs:
    """A fresh CA and a certificate for 127.0.0.1 and localhost, written to ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="clickstream-conformance test CA")
    server = ca.issue_cert(HOST, "localhost")
    certs = Certs(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    ca.cert_pem.write_to_path(str(certs.ca))
    server.cert_chain_pems[0].write_to_path(str(certs.cert))
    for extra in server.cert_chain_pems[1:]:
        extra.write_to_path(str(certs.cert), append=True)
    server.private_key_pem.write_to_path(str(certs.key))
    certs.key.chmod(0o600)
    return certs
