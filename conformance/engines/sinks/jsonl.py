"""``jsonl:PATH``: JSON lines in a file, every plain file of a directory, or the
files a glob matches; each plain or gzip (told by its magic bytes)."""
from __future__ import annotations

import glob
import gzip
import os
import re
import zlib
from typing import Any, Iterator

from .base import Sink, json_lines, reason
from .memo import RecordMemo

GZIP_MAGIC = b"\x1f\x8b"
_GLOB_CHARS = re.compile(r"[*?[]")


class JsonLinesSink(Sink):
    def __init__(self, spec: str, timeout: float) -> None:
        super().__init__(spec, timeout)
        self.path = os.path.expanduser(spec[len("jsonl:"):])
        if not self.path:
            raise self.error("no path: use jsonl:FILE, jsonl:DIRECTORY or jsonl:'GLOB'")

    def _require_dir(self, directory: str, why: str) -> None:
        if not os.path.isdir(directory):
            raise self.error(f"{why}, and directory {directory} does not exist")

    def files(self) -> list[str]:
        """The files to read now (a glob or a directory is listed afresh each time)."""
        if _GLOB_CHARS.search(self.path):
            matches = sorted(glob.glob(self.path))
            if not matches:
                # Where the glob starts: nothing matching is an empty sink only if it exists.
                fixed = _GLOB_CHARS.split(self.path, 1)[0]
                self._require_dir(os.path.dirname(fixed) or ".", "no file matches")
            return [m for m in matches if os.path.isfile(m)]
        if os.path.isdir(self.path):
            try:
                names = sorted(os.listdir(self.path))
            except OSError as exc:
                raise self.error(f"cannot list directory {self.path}: {reason(exc)}") from None
            paths = (os.path.join(self.path, name) for name in names)
            return [p for p in paths if os.path.isfile(p)]
        # A file a shipper has not created yet is an empty sink, if its directory exists.
        self._require_dir(os.path.dirname(os.path.abspath(self.path)), f"{self.path} does not exist")
        return [self.path]

    def records(self, memo: RecordMemo | None = None) -> Iterator[Any]:
        for path in self.files():
            yield from self._read(path, memo)

    def _read(self, path: str, memo: RecordMemo | None = None) -> Iterator[Any]:
        try:
            raw = open(path, "rb")
        except FileNotFoundError:
            return  # not created yet, or rotated away since it was listed
        except OSError as exc:
            raise self.error(f"cannot read {path}: {reason(exc)}") from None
        with raw:
            try:
                stream = gzip.GzipFile(fileobj=raw) if raw.peek(2)[:2] == GZIP_MAGIC else raw
                yield from json_lines(stream, f"file {path}", self.error, memo)
            except EOFError:
                return  # a gzip file still being written: its complete lines were read
            except (OSError, zlib.error) as exc:
                raise self.error(f"cannot read {path}: {reason(exc)}") from None
