"""Load and soak runs on Locust: `clickstream-conformance load`.

The modules that need no Locust (options, pool, tally, account, report) can be
imported anywhere; ``user`` and ``runner`` import Locust, which monkey-patches the
standard library with gevent the moment it is imported. The CLI therefore imports
Locust first, before anything else of the process is loaded (``prepare``).
"""
from __future__ import annotations

INSTALL_HINT = ("the load command needs Locust: pip install 'clickstream-conformance[load]' "
                "(or pip install locust)")


def prepare() -> bool:
    """Import Locust (and so gevent's monkey-patching) as early as possible.

    Returns False when Locust is not installed; the caller then says how to install it."""
    try:
        import locust  # noqa: F401  (imported for its side effect: gevent's patching)
    except ImportError:
        return False
    return True
