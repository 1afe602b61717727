"""The pytest plugin (entry point ``pytest11``): its hooks, and the endpoint mode they switch on.

With ``--endpoint URL`` pytest runs the conformance cases shipped in
``conformance/cases`` against URL, from any directory, and nothing else. Without it
the plugin stays out of the way (the checkout's self-tests run as usual).

``options`` declares the options, ``startup`` switches a run to endpoint mode,
``settings`` checks the options into the run's
:class:`~conformance.target.Settings`, ``endpoint`` holds the hooks of a run against a
collector (outcomes, evidence, the bundle), ``fixtures`` what the cases may ask for.
"""
from __future__ import annotations

import pytest

from conformance.plugin.options import pytest_addoption  # noqa: F401  (a hook: pytest finds it here)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requirement(*ids): the catalog requirement IDs a conformance case checks")
    endpoint = config.getoption("endpoint")
    if endpoint is None:
        if config.getoption("app_id") or config.getoption("auth_cookie") or config.getoption("origin") \
                or config.getoption("sign_key") or config.getoption("har"):
            raise pytest.UsageError("--app-id, --auth-cookie, --origin, --har and --sign-key need --endpoint URL "
                                    "(or use `clickstream-conformance certify` to test the reference collector)")
        return
    if config.getoption("help") or config.getoption("version", False):
        return
    # Imported here: the self-tests, `--help` and the CLI's parser need none of it.
    from conformance.plugin.startup import endpoint_mode
    endpoint_mode(config)
