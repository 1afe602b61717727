"""The bare Locust baseline for benchmarks/load_speed.py: a FastHttpUser that POSTs
the same kind of bodies as the load command, stamped once before the run, with no
per-send stamping, ledger or accounting. Settings come from the environment:
BENCH_APP_ID, BENCH_MIX (as --mix), BENCH_POOL."""
from __future__ import annotations

import itertools
import os

from locust import FastHttpUser, constant, task

from conformance.load.options import parse_mix
from conformance.load.pool import BodyPool

_POOL = BodyPool.build(os.environ.get("BENCH_APP_ID", "shop_dev"), parse_mix(os.environ.get("BENCH_MIX", "single=100")),
                       seed=1, pool_events=int(os.environ.get("BENCH_POOL", "30")))
_STAMPER = _POOL.stamper("00000000", 0, os.environ.get("BENCH_APP_ID", "shop_dev"), "/collect")
REQUESTS = [_STAMPER.next() for _ in range(500)]
HEADERS = {"Content-Type": "application/json; charset=utf-8"}


class BareUser(FastHttpUser):
    wait_time = constant(0)
    max_retries = 0

    def on_start(self) -> None:
        self._requests = itertools.cycle(REQUESTS)

    @task
    def send(self) -> None:
        sent = next(self._requests)
        self.client.post(sent.path, data=sent.body, headers=HEADERS, name=sent.kind)
