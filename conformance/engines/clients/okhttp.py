"""OkHttp 4.12.0, driven by ``drivers/OkHttpUpload.java``: its setup and its finder.

``clickstream-conformance setup clients`` finds OkHttp and its dependencies in the local
Maven repository (fetching what is missing with ``mvn dependency:get`` where a network
allows), copies them into the cache directory, compiles the driver there with the system's
``javac`` and writes what it built to a record. The finder trusts only that record: a jar,
the compiled driver or the Java it names that is missing or changed, or a driver source
newer than the one compiled, means "run setup clients again".

The driver's trust follows curl's ``--cacert``: ``--ca-cert`` replaces the JDK's trusted
roots by the PEM bundle's certificates (a self-signed server certificate works too);
without it the JDK's own roots are trusted. Mutual TLS takes PEM files with plain JDK 17
(a PKCS#8, PKCS#1 RSA or SEC1 EC key; not an encrypted one).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from conformance.engines.clients import FINDERS, ClientProgram, SetupError

NAME = "okhttp"
VERSION = "4.12.0"
MAIN_CLASS = "OkHttpUpload"
SOURCE = f"{MAIN_CLASS}.java"
RECORD = "setup.json"
SETUP_HINT = "run `clickstream-conformance setup clients`"
MIN_JAVA = 11                   # the driver uses Path.of and InputStream.readNBytes
MAVEN_TIMEOUT = 300.0
JAVAC_TIMEOUT = 180.0
# What Maven resolves for com.squareup.okhttp3:okhttp:4.12.0 (nearest wins): okhttp's own
# kotlin-stdlib-jdk8 1.8.21 beats okio-jvm's 1.9.10, and brings kotlin-stdlib 1.8.21.
# kotlin-stdlib-common is left out: it holds Kotlin metadata only, no JVM classes.
ARTIFACTS: tuple[tuple[str, str, str], ...] = (
    ("com.squareup.okhttp3", "okhttp", VERSION),
    ("com.squareup.okio", "okio-jvm", "3.6.0"),
    ("org.jetbrains.kotlin", "kotlin-stdlib", "1.8.21"),
    ("org.jetbrains.kotlin", "kotlin-stdlib-jdk7", "1.8.21"),
    ("org.jetbrains.kotlin", "kotlin-stdlib-jdk8", "1.8.21"),
    ("org.jetbrains", "annotations", "13.0"),
)
# The JVM starts faster without the optimising compiler; one upload never needs it.
JVM_OPTIONS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto")
_JAVA_VERSION = re.compile(r'version "([0-9][^"]*)"')
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class Jdk:
    javac: str
    java: str
    version: str            # e.g. "17.0.15"


@dataclass(frozen=True)
class Prepared:
    """The compiled driver: where it is and what it was built from."""

    folder: Path
    java: str
    java_version: str
    jars: tuple[Path, ...]
    fetched: bool           # True when Maven had to fetch something


def cache_folder(root: Path | None = None) -> Path:
    from conformance.engines.websdk import cache_root
    return (root or cache_root()) / "clients" / NAME


def maven_repo(explicit: str | None = None) -> Path:
    """The local Maven repository: the option, $CLICKSTREAM_MAVEN_REPO, else ~/.m2/repository."""
    chosen = explicit or os.environ.get("CLICKSTREAM_MAVEN_REPO")
    return Path(chosen).expanduser() if chosen else Path.home() / ".m2" / "repository"


def jar_path(repo: Path, group: str, artifact: str, version: str) -> Path:
    return repo.joinpath(*group.split("."), artifact, version, f"{artifact}-{version}.jar")


def driver_source() -> bytes:
    return resources.files("conformance.engines.clients").joinpath("drivers", SOURCE).read_bytes()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str:
    return _sha256(path.read_bytes())


# --- Java --------------------------------------------------------------------------------------
def find_jdk() -> Jdk:
    """javac and the java beside it: $JAVA_HOME/bin, else the PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        javac, java = Path(home, "bin", "javac"), Path(home, "bin", "java")
        if not (os.access(javac, os.X_OK) and os.access(java, os.X_OK)):
            raise SetupError(f"JAVA_HOME={home} has no bin/javac and bin/java; point it at a JDK "
                             "(Debian: apt-get install default-jdk-headless) or unset it")
    else:
        found = shutil.which("javac")
        if found is None:
            raise SetupError("javac not found: the OkHttp driver is compiled at setup (Debian: apt-get "
                             "install default-jdk-headless; or set JAVA_HOME to a JDK)")
        javac = Path(os.path.realpath(found))
        beside = javac.with_name("java")
        java = beside if os.access(beside, os.X_OK) else Path(shutil.which("java") or beside)
        if not os.access(java, os.X_OK):
            raise SetupError(f"java not found beside {javac} nor on the PATH (Debian: apt-get install "
                             "default-jdk-headless)")
    version = java_version(str(java))
    if int(version.split(".")[0]) < MIN_JAVA:
        raise SetupError(f"{java} is Java {version}; the OkHttp driver needs Java {MIN_JAVA} or later "
                         "(Debian: apt-get install default-jdk-headless)")
    return Jdk(str(javac), str(java), version)


def java_version(java: str) -> str:
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SetupError(f"{java} -version failed: {exc}") from None
    match = _JAVA_VERSION.search(done.stderr + done.stdout)
    if done.returncode != 0 or match is None:
        raise SetupError(f"{java} -version gave no version (exit {done.returncode})")
    text = match.group(1)
    return text[2:] if text.startswith("1.") else text  # "1.8.0_392" -> "8.0_392"


# --- the jars ------------------------------------------------------------------------------------
def missing_jars(repo: Path) -> list[str]:
    return [f"{g}:{a}:{v}" for g, a, v in ARTIFACTS if not jar_path(repo, g, a, v).is_file()]


def fetch_with_maven(repo: Path, missing: list[str]) -> None:
    """``mvn dependency:get`` of OkHttp and its dependencies into ``repo``, bounded in time."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise SetupError(f"{', '.join(missing)} not in {repo} and mvn not found to fetch them (Debian: "
                         "apt-get install maven; or set CLICKSTREAM_MAVEN_REPO to a repository that has them)")
    command = [mvn, "-B", "-q", "-Dstyle.color=never", f"-Dmaven.repo.local={repo}", "dependency:get",
               f"-Dartifact=com.squareup.okhttp3:okhttp:{VERSION}"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=MAVEN_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise SetupError(f"mvn dependency:get of okhttp {VERSION} took over {MAVEN_TIMEOUT:g} s "
                         f"(no network to Maven Central?); missing in {repo}: {', '.join(missing)}") from None
    still = missing_jars(repo)
    if still:
        last = _last_error_line(done.stdout + done.stderr)
        raise SetupError(f"mvn could not fetch {', '.join(still)} into {repo} (exit {done.returncode}"
                         f"{': ' + last if last else ''})")


def _last_error_line(text: str) -> str:
    text = _ANSI.sub("", text)
    lines = [line.strip() for line in text.splitlines() if "ERROR" in line and line.strip()]
    return lines[0][:300] if lines else ""


# --- setup -------------------------------------------------------------------------------------
def setup(repo: Path | None = None, root: Path | None = None, fetch: bool = True) -> Prepared:
    """Copy the jars into the cache, compile the driver against them, write the record."""
    jdk = find_jdk()
    repo = repo or maven_repo()
    missing, fetched = missing_jars(repo), False
    if missing:
        if not fetch:
            raise SetupError(f"{', '.join(missing)} not in {repo}")
        fetch_with_maven(repo, missing)
        fetched = True
    folder = cache_folder(root)
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Built aside and swapped in whole: a failed build leaves the previous one usable.
    build = Path(tempfile.mkdtemp(prefix=f"{NAME}-build-", dir=folder.parent))
    try:
        jars = _copy_jars(repo, build / "lib")
        source = driver_source()
        (build / "src").mkdir()
        (build / "src" / SOURCE).write_bytes(source)
        _compile(jdk, build, jars)
        _write_record(build, folder, jdk, repo, jars, source)
        try:
            if folder.exists():
                shutil.rmtree(folder)
            build.rename(folder)
        except OSError as exc:  # another setup swapping at the same moment, or a read-only cache
            raise SetupError(f"could not put the compiled driver in {folder}: {exc}") from None
    finally:
        if build.exists():
            shutil.rmtree(build, ignore_errors=True)
    program = find_okhttp(root)
    return Prepared(folder, jdk.java, jdk.version, tuple(Path(p) for p in _classpath_jars(program)), fetched)


def _copy_jars(repo: Path, lib: Path) -> list[Path]:
    lib.mkdir(parents=True)
    copied = []
    for group, artifact, version in ARTIFACTS:
        source = jar_path(repo, group, artifact, version)
        target = lib / source.name
        shutil.copyfile(source, target)
        copied.append(target)
    return copied


def _compile(jdk: Jdk, build: Path, jars: list[Path]) -> None:
    classpath = os.pathsep.join(str(jar) for jar in jars)
    command = [jdk.javac, "-encoding", "UTF-8", "-nowarn", "-cp", classpath, "-d", str(build / "classes"),
               str(build / "src" / SOURCE)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=JAVAC_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise SetupError(f"javac took over {JAVAC_TIMEOUT:g} s compiling {SOURCE}") from None
    if done.returncode != 0:
        first = (done.stderr or done.stdout).strip().splitlines()[:1]
        raise SetupError(f"javac could not compile {SOURCE}: {first[0] if first else 'exit ' + str(done.returncode)}")


def _write_record(build: Path, folder: Path, jdk: Jdk, repo: Path, jars: list[Path], source: bytes) -> None:
    record = {
        "client": NAME, "version": VERSION,
        "java": jdk.java, "javac": jdk.javac, "java_version": jdk.version,
        "driver_sha256": _sha256(source),
        "class_sha256": _file_sha256(build / "classes" / f"{MAIN_CLASS}.class"),
        "maven_repo": str(repo),
        "jars": [{"coordinate": f"{g}:{a}:{v}", "file": jar.name, "sha256": _file_sha256(jar)}
                 for (g, a, v), jar in zip(ARTIFACTS, jars)],
    }
    (build / RECORD).write_text(json.dumps(record, indent=2) + "\n")


# --- the finder ------------------------------------------------------------------------------------
def read_record(root: Path | None = None) -> dict:
    folder = cache_folder(root)
    path = folder / RECORD
    if not path.is_file():
        raise SetupError(f"the OkHttp driver is not set up in {folder}: {SETUP_HINT}")
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        record = None
    if not isinstance(record, dict) or not isinstance(record.get("jars"), list) or "java" not in record:
        raise SetupError(f"{path} is unreadable: {SETUP_HINT} again")
    return record


def find_okhttp(root: Path | None = None) -> ClientProgram:
    """The compiled driver as its record describes it, or SetupError naming the setup command."""
    record = read_record(root)
    folder = cache_folder(root)
    stale = _stale_reason(record, folder)
    if stale:
        raise SetupError(f"the OkHttp driver in {folder} is stale ({stale}): {SETUP_HINT} again")
    jars = [str(folder / "lib" / jar["file"]) for jar in record["jars"]]
    classpath = os.pathsep.join([str(folder / "classes"), *jars])
    return ClientProgram(name=NAME, version=record["version"],
                         argv=(record["java"], *JVM_OPTIONS, "-cp", classpath, MAIN_CLASS))


def _stale_reason(record: dict, folder: Path) -> str:
    if record.get("version") != VERSION:
        return f"built for okhttp {record.get('version')}, this suite drives {VERSION}"
    if record.get("driver_sha256") != _sha256(driver_source()):
        return f"{SOURCE} changed since it was compiled"
    if not os.access(record["java"], os.X_OK):
        return f"{record['java']} is gone"
    compiled = folder / "classes" / f"{MAIN_CLASS}.class"
    if not compiled.is_file() or _file_sha256(compiled) != record.get("class_sha256"):
        return f"{compiled.name} is missing or changed"
    for jar in record["jars"]:
        path = folder / "lib" / jar["file"]
        if not path.is_file() or _file_sha256(path) != jar["sha256"]:
            return f"{jar['file']} is missing or changed"
    return ""


def _classpath_jars(program: ClientProgram) -> list[str]:
    classpath = program.argv[program.argv.index("-cp") + 1]
    return [part for part in classpath.split(os.pathsep) if part.endswith(".jar")]


FINDERS[NAME] = find_okhttp
