"""An append-only scratch file: evidence kept on disk, so a run's memory stays flat.

The run sends tens of thousands of requests whose evidence (the exchange, its HAR
entry) is wanted only for the few that fail, or once, at the end. Each is written here
as it happens and read back by its spot (offset and length) when asked for. The file is
unlinked when made: nothing is left behind, and no other process can open it by name.
"""
from __future__ import annotations

import os
import pickle
import tempfile
import threading
from typing import Any, Iterator

Spot = tuple[int, int]  # offset, length
READ_CHUNK = 1 << 20


class Spool:
    """Bytes written one after another; each write returns where it went. Thread-safe."""

    def __init__(self) -> None:
        # Made on the first write: a ledger or HAR that never keeps anything holds no file.
        self._file: Any = None
        self._fd = -1
        self._end = 0
        self._lock = threading.Lock()

    def put(self, data: bytes) -> Spot:
        with self._lock:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix="clickstream-spool-")
                self._fd = self._file.fileno()
            offset = self._end
            view = memoryview(data)
            while view:
                view = view[os.pwrite(self._fd, view, offset + len(data) - len(view)):]
            self._end += len(data)
        return offset, len(data)

    def get(self, spot: Spot) -> bytes:
        offset, length = spot
        return os.pread(self._fd, length, offset)

    def chunks(self) -> Iterator[bytes]:
        """Everything written so far, in order, a chunk at a time."""
        with self._lock:
            end = self._end
        offset = 0
        while offset < end:
            chunk = os.pread(self._fd, min(READ_CHUNK, end - offset), offset)
            offset += len(chunk)
            yield chunk

    def put_object(self, value: Any) -> Spot:
        return self.put(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))

    def get_object(self, spot: Spot) -> Any:
        # Only this process wrote the file (it has no name): its pickles are its own.
        return pickle.loads(self.get(spot))

    def __len__(self) -> int:
        return self._end
