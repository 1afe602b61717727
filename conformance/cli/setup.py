"""`clickstream-conformance setup websdk|clients`: prepare what an optional profile needs.

websdk: install the real Web SDK and find Chromium. clients: compile the OkHttp driver and
say which of the document's client programs this machine has.
"""
from __future__ import annotations

import argparse
import sys

MISSING = 4  # the suite's exit code for "something this needs is missing"

CLIENTS_HELP = (
    "clients: find OkHttp 4.12.0 and its dependencies in the local Maven repository (--maven-repo, else "
    "$CLICKSTREAM_MAVEN_REPO, else ~/.m2/repository), fetching what is missing with `mvn dependency:get` "
    "where a network allows, compile the OkHttp driver with javac into the cache directory, then list "
    "every client program of the clients profile: one line for each one missing, one summary line. "
    f"Exit {MISSING} when the OkHttp driver could not be prepared, when a client named with --require is "
    "missing, or when no client at all is ready; other missing clients (C# HttpClient needs .NET) are "
    "reported and leave the exit at 0, and the profile skips them with the reason.")


def add_setup(sub: argparse._SubParsersAction) -> None:
    from conformance.engines.clients import CLIENT_MODULES
    from conformance.engines.websdk import DEFAULT_VERSION, PACKAGE
    p = sub.add_parser("setup", help="install what an optional profile needs (websdk, clients)",
                       description=f"websdk: install {PACKAGE} from the npm registry into a cache directory "
                                   "($CLICKSTREAM_CONFORMANCE_CACHE, else ~/.cache/clickstream-conformance), "
                                   "bundle it for the browser, and find the system Chromium. Exit 4 when npm, "
                                   "Chromium or the browser driver is missing. " + CLIENTS_HELP)
    p.add_argument("what", choices=("websdk", "clients"), help="what to set up")
    p.add_argument("--websdk-version", default=DEFAULT_VERSION, metavar="VERSION",
                   help=f"websdk: the {PACKAGE} version to install (default {DEFAULT_VERSION}, the captured one)")
    p.add_argument("--maven-repo", metavar="DIR", default=None,
                   help="clients: the local Maven repository holding OkHttp (default $CLICKSTREAM_MAVEN_REPO, "
                        "else ~/.m2/repository)")
    p.add_argument("--no-fetch", action="store_true",
                   help="clients: never run Maven to fetch missing jars; use the local repository only")
    p.add_argument("--require", action="append", default=[], choices=CLIENT_MODULES, metavar="CLIENT",
                   help=f"clients: exit {MISSING} unless this client is ready (repeatable; one of "
                        f"{', '.join(CLIENT_MODULES)})")
    p.set_defaults(func=run_setup)


def run_setup(args: argparse.Namespace) -> int:
    if args.what == "clients":
        return run_setup_clients(args)
    return run_setup_websdk(args)


def run_setup_clients(args: argparse.Namespace) -> int:
    from conformance.engines import clients
    from conformance.engines.clients import okhttp
    prepared_ok = True
    try:
        done = okhttp.setup(okhttp.maven_repo(args.maven_repo), fetch=not args.no_fetch)
        fetched = " (fetched with Maven)" if done.fetched else ""
        print(f"okhttp {okhttp.VERSION}: driver compiled in {done.folder} with Java {done.java_version}{fetched}")
    except clients.SetupError as exc:
        prepared_ok = False
        print(f"setup clients: okhttp not prepared: {exc}", file=sys.stderr)
    found = clients.find()
    ready = {name: program for name, program in found.items() if isinstance(program, clients.ClientProgram)}
    for name, problem in found.items():
        if name not in ready and not (name == okhttp.NAME and not prepared_ok):  # said above already
            print(f"setup clients: {name} missing: {problem}", file=sys.stderr)
    absent = [name for name in clients.CLIENT_MODULES if name not in found]
    for name in absent:
        print(f"setup clients: {name} missing: this install has no driver for it", file=sys.stderr)
    summary = ", ".join(f"{name} {program.version}" for name, program in ready.items()) or "none"
    missing = [name for name in found if name not in ready] + absent
    tail = f"; missing: {', '.join(missing)}" if missing else ""
    print(f"clients ready ({len(ready)} of {len(found) + len(absent)}): {summary}{tail}")
    required_missing = [name for name in args.require if name not in ready]
    if required_missing:
        print(f"setup clients: required but missing: {', '.join(required_missing)}", file=sys.stderr)
    return MISSING if (not prepared_ok or required_missing or not ready) else 0


def run_setup_websdk(args: argparse.Namespace) -> int:
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
        return MISSING
    chromium, driver = found["chromium"], found["driver"]
    print(f"{websdk.PACKAGE} {done.version} bundled at {done.bundle} (esbuild {done.esbuild})")
    print(f"Chromium: {chromium}; driver: playwright {driver}")
    print("ready: pytest --endpoint URL --app-id ID --origin ORIGIN --profile websdk")
    return 0
