"""What the correct collectors on other stacks share: their setup, how it is handed to
a server process as JSON, and reading back what a running one stored."""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CollectorSetup:
    """What a collector is told: its apps, its cookie, its web origin, its store."""

    app_ids: tuple[str, ...]
    cookie: tuple[str, str] | None
    origins: tuple[str, ...]
    store: Path


def write_config(path: Path, setup: CollectorSetup) -> None:
    """The setup as the JSON file the PHP page and the Node server read."""
    cookie = {"name": setup.cookie[0], "value": setup.cookie[1]} if setup.cookie else None
    path.write_text(json.dumps({"app_ids": list(setup.app_ids), "origins": list(setup.origins),
                                "cookie": cookie, "store": str(setup.store)}))


def read_store(store: Path) -> list[dict]:
    """The JSON lines a collector appended, one per accepted request."""
    return [json.loads(line) for line in store.read_text().splitlines()] if store.exists() else []


@dataclass
class ServerProcess:
    """A collector running as a server process of its own, with its log file."""

    url: str
    workdir: Path
    process: subprocess.Popen
    log: Path

    def stored(self) -> list[dict]:
        return read_store(self.workdir / "store.jsonl")

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""
