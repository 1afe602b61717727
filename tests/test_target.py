"""Target's senders: worker connections and other clients book into one case and one history."""
from __future__ import annotations

import json
import threading
from typing import Iterator

import pytest

from conformance.target import CaseEvidence, Settings, Target
from conformance.wire.exchange import Exchange, Sender
from conformance.wire.http1 import Client
from tests.tiny_collector import TinyCollector

WORKERS, SENDS = 4, 5


@pytest.fixture
def target() -> Iterator[Target]:
    with TinyCollector() as collector:
        # A sink spec is not needed to book: tracking is what the delivery profile turns on.
        tracked = Target(Settings(collector.url, "shop_dev"))
        tracked.tracking = True
        tracked.case = CaseEvidence(name="area::case")
        yield tracked
        tracked.close()


def batch(target: Target) -> tuple[bytes, list[str]]:
    events = [target.event(), target.event()]
    return json.dumps(events).encode(), [e["event_id"] for e in events]


def test_worker_connections_book_every_exchange_into_the_case_and_the_history(target: Target) -> None:
    sent: list[str] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        with target.connection(f"worker {n}") as conn:
            for _ in range(SENDS):
                body, ids = batch(target)
                ex = conn.send("POST", target.query(), body, valid=True)
                assert ex.status == 200, ex
                with lock:
                    sent.extend(ids)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert target.case.exchange_count == WORKERS * SENDS
    assert {ex.case for ex in target.case.exchanges} <= {f"area::case [worker {n}]" for n in range(WORKERS)}
    assert target.ledger.acked_ids() == set(sent) and len(sent) == 2 * WORKERS * SENDS


def test_a_refused_request_of_a_connection_is_not_an_acknowledgement(target: Target) -> None:
    with target.connection("bad app") as conn:
        body, ids = batch(target)
        ex = conn.send("POST", target.query(app_id="not_registered"), body, valid=True)
    assert ex.status == 403
    assert target.case.exchange_count == 1 and not (set(ids) & target.ledger.acked_ids())


def test_a_target_over_another_client_shares_the_case_and_the_history(target: Target) -> None:
    other = Client(target.settings.endpoint, target.settings.timeout)
    view = target.over(other)
    body, ids = batch(target)
    view.post_valid(body, "CS-VALID-200")
    assert target.case.exchange_count == 1 and set(ids) <= target.ledger.acked_ids()
    # A new case started on the target is the view's case too.
    target.case = CaseEvidence(name="area::next")
    view.post_valid(batch(target)[0], "CS-VALID-200")
    assert target.case.exchange_count == 1 and target.case.exchanges[0].case == "area::next"
    other.close()


def test_both_evidence_clients_are_senders() -> None:
    h2 = pytest.importorskip("conformance.wire.h2")
    for client in (Client("http://127.0.0.1:9/collect"), h2.H2Client("http://127.0.0.1:9/collect")):
        sender: Sender = client  # what Target is typed with
        assert callable(sender.send) and callable(sender.close)
        assert sender.endpoint == "http://127.0.0.1:9/collect" and sender.endpoint_path == "/collect"
        exchange = sender.send("POST", "appId=x", b"[]", case="probe", timeout=1.0)
        assert isinstance(exchange, Exchange) and exchange.outcome == "refused", exchange
