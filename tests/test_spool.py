"""The scratch file that keeps a run's evidence on disk (conformance/wire/spool.py), and the HAR kept in one."""
from __future__ import annotations

import json
import threading

from conformance.wire.exchange import Exchange
from conformance.wire.har import HarLog
from conformance.wire.spool import Spool


def test_what_is_put_comes_back_by_its_spot_whatever_the_threads() -> None:
    spool = Spool()
    spots: dict[int, tuple[int, int]] = {}

    def put(n: int) -> None:
        spots[n] = spool.put_object({"n": n, "pad": "x" * n})

    threads = [threading.Thread(target=put, args=(n,)) for n in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(spool.get_object(spot) == {"n": n, "pad": "x" * n} for n, spot in spots.items())
    assert b"".join(spool.chunks()) and len(spool) == sum(length for _, length in spots.values())


def test_a_spooled_har_is_the_entries_in_order() -> None:
    har = HarLog(body_cap=8)
    for n in range(3):
        har.add(Exchange(case=f"case {n}", method="POST", url=f"http://x/collect?n={n}", request_headers=[],
                         body_size=12, body_sha256="0" * 64, body_excerpt="", status=200,
                         _body="é \u2028 twelve".encode()[:12]))
    entries = json.loads(har.to_bytes("0"))["log"]["entries"]
    assert [e["comment"] for e in entries] == ["case 0", "case 1", "case 2"] and len(har) == 3
    assert json.loads(HarLog().to_bytes("0"))["log"]["entries"] == []
