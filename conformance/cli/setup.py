"""`clickstream-conformance setup websdk`: install the real Web SDK and find Chromium."""
from __future__ import annotations

import argparse
import sys


def add_setup(sub: argparse._SubParsersAction) -> None:
    from conformance.engines.websdk import DEFAULT_VERSION, PACKAGE
    p = sub.add_parser("setup", help="install what an optional profile needs (websdk)",
                       description=f"websdk: install {PACKAGE} from the npm registry into a cache directory "
                                   "($CLICKSTREAM_CONFORMANCE_CACHE, else ~/.cache/clickstream-conformance), "
                                   "bundle it for the browser, and find the system Chromium. Exit 4 when npm, "
                                   "Chromium or the browser driver is missing.")
    p.add_argument("what", choices=("websdk",), help="what to set up")
    p.add_argument("--websdk-version", default=DEFAULT_VERSION, metavar="VERSION",
                   help=f"the {PACKAGE} version to install (default {DEFAULT_VERSION}, the captured one)")
    p.set_defaults(func=run_setup)


def run_setup(args: argparse.Namespace) -> int:
    from conformance.engines import websdk
    found, missing = {}, []
    for name, check in (("npm", websdk.find_npm), ("chromium", websdk.find_chromium), ("driver", websdk.check_driver)):
        try:
            found[name] = check()
        except websdk.SetupError as exc:
            missing.append(str(exc))
    done = None
    try:
        done = None if missing else websdk.setup(websdk.check_version(args.websdk_version))
    except websdk.SetupError as exc:
        missing.append(str(exc))
    if done is None:  # every problem at once, so one round of installs fixes them
        for problem in missing:
            print(f"setup websdk: {problem}", file=sys.stderr)
        return 4
    chromium, driver = found["chromium"], found["driver"]
    print(f"{websdk.PACKAGE} {done.version} bundled at {done.bundle} (esbuild {done.esbuild})")
    print(f"Chromium: {chromium}; driver: playwright {driver}")
    print("ready: pytest --endpoint URL --app-id ID --origin ORIGIN --profile websdk")
    return 0
