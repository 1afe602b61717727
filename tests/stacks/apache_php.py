"""A correct collector on Debian's Apache httpd with mod_php (``collect.php`` beside
this file), with the stack's defaults wherever the verdicts leave a choice:

* Apache answers ``TRACE`` itself (``TraceEnable`` is on by default), 404 for other
  paths, 414 and 400 for an over-long request line or header field, and keeps
  connections alive for 5 s between requests;
* ``LimitRequestBody 1048576`` is the one setting the API document asks for: Apache
  answers 413 from the Content-Length, before the page runs;
* the page checks appId and the cookie, answers CORS, stores what it accepts.

Apache will not serve as root, so when the tests run as root its workers run as
``www-data`` in a directory of their own outside the test's (private) tmp dir.
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from tests.nginx_passthrough import free_port, stop_server, wait_or_stop
from tests.stacks.common import CollectorSetup, ServerProcess, write_config

APACHE = "/usr/sbin/apache2"
MODULES = Path("/usr/lib/apache2/modules")
PAGE = Path(__file__).with_name("collect.php")
SERVICE_USER = "www-data"


def missing_parts() -> str | None:
    """Why this stack cannot run here, or None."""
    if not os.access(APACHE, os.X_OK):
        return "apache2 is not installed (apt-get install apache2 libapache2-mod-php)"
    if not list(MODULES.glob("libphp*.so")):
        return "mod_php is not installed (apt-get install libapache2-mod-php)"
    return None


def apache_conf(workdir: Path, port: int) -> str:
    php = sorted(MODULES.glob("libphp*.so"))[-1]
    user = f"User {SERVICE_USER}\nGroup {SERVICE_USER}" if os.geteuid() == 0 else ""
    return f"""
ServerRoot {workdir}
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile {workdir}/httpd.pid
DefaultRuntimeDir {workdir}
ErrorLog {workdir}/error.log
LogLevel warn
{user}
LoadModule mpm_prefork_module {MODULES}/mod_mpm_prefork.so
LoadModule authz_core_module {MODULES}/mod_authz_core.so
LoadModule alias_module {MODULES}/mod_alias.so
LoadModule php_module {php}
StartServers 2
DocumentRoot {workdir}/htdocs
<Directory {workdir}/htdocs>
    Require all granted
</Directory>
# The endpoint is the page; /collect/x and /COLLECT stay Apache's 404s.
AliasMatch "^/collect$" "{workdir}/htdocs/collect.php"
<FilesMatch "\\.php$">
    SetHandler application/x-httpd-php
</FilesMatch>
# The API document's limit: 1,048,576 bytes as sent.
LimitRequestBody 1048576
"""


def prepare(workdir: Path, setup: CollectorSetup) -> None:
    (workdir / "htdocs").mkdir(parents=True)
    shutil.copy(PAGE, workdir / "htdocs" / "collect.php")
    write_config(workdir / "htdocs" / "collector.json", setup)
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SERVICE_USER)
        for path in (workdir, *workdir.rglob("*")):
            os.chown(path, entry.pw_uid, entry.pw_gid)


def start_apache(workdir: Path) -> ServerProcess:
    port = free_port()
    conf = workdir / "httpd.conf"
    conf.write_text(apache_conf(workdir, port))
    # A session of its own: on SIGTERM the foreground parent signals its whole process
    # group, which would otherwise be the test run's.
    process = subprocess.Popen([APACHE, "-f", str(conf), "-DFOREGROUND"], start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_or_stop(port, process, workdir / "error.log")  # SIGTERM, as stop_apache
    return ServerProcess(f"http://127.0.0.1:{port}/collect", workdir, process, workdir / "error.log")


def stop_apache(process: subprocess.Popen) -> None:
    """SIGTERM stops the parent and its workers; SIGKILL if it lingers."""
    stop_server(process, signal.SIGTERM)


@pytest.fixture
def apache_collector_factory() -> Iterator:
    """Starts the Apache collector for a setup; stops it and removes its files after."""
    reason = missing_parts()
    if reason:
        pytest.skip(reason)
    started: list[ServerProcess] = []

    def start(app_ids: tuple[str, ...], cookie: tuple[str, str] | None,
              origins: tuple[str, ...]) -> ServerProcess:
        # Its own directory: the workers (www-data under root) cannot enter pytest's.
        workdir = Path(tempfile.mkdtemp(prefix="clickstream-apache-"))
        os.chmod(workdir, 0o755)
        prepare(workdir, CollectorSetup(app_ids, cookie, origins, workdir / "store.jsonl"))
        started.append(start_apache(workdir))
        return started[-1]

    try:
        yield start
    finally:
        for collector in started:
            stop_apache(collector.process)
            shutil.rmtree(collector.workdir, ignore_errors=True)
