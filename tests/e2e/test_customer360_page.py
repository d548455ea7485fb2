"""The call-center page in Debian's chromium (Playwright): search a generated person, see the values the
API returns and the credit bureau's traits a file brought, publish an event to Kafka, and see the open
page change without a reload."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
import uvicorn
from playwright.sync_api import Page, expect, sync_playwright

from api.app import ApiServices, create_app
from api.auth import KeyRing
from c360.bootstrap import file_import, ingest_loop
from c360.world import TOPIC_CLICKSTREAM, Message, generate_world
from c360.world_files import bureau_file, world_files
from ingest.file_reader import find_files
from tests.e2e.support import Pipeline, run_until

pytestmark = pytest.mark.e2e
KEY = "page-test-key-0123456789"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
FIELDS = (
    "transactions.tx_count_90d", "transactions.spending_diversity", "retail.online_orders",
    "retail.in_store_orders", "retail.lifetime_spend", "service.contacts_90d", "churn_risk.level",
    "engagement_score", "retail.session_page_views",
)  # fmt: skip


def serve(app: object) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def shown(page: Page, field: str) -> str:
    return page.locator(f'[data-field="{field}"]').first.inner_text()


def test_page_shows_the_api_values_and_follows_new_events(pipeline: Pipeline, tmp_path: Path) -> None:
    world = generate_world(people=40, events_per_person=20, seed=41, holdings=True)
    total = pipeline.publish(world.messages)
    bureau = world_files(world).latest_bureau()
    (tmp_path / "bureau.csv").write_bytes(bureau_file(list(bureau.values())))
    with file_import(pipeline.settings, "bureau") as importer:
        [imported] = [
            importer.import_file(ref, threading.Event()) for ref in find_files(str(tmp_path / "bureau.csv"))
        ]
    assert imported.applied == len(bureau)
    with ingest_loop(pipeline.settings) as loop:
        run_until(loop, lambda: loop.totals.records >= total)
        person = next(p for p in world.people if p.index in bureau and len(p.emails) == 1)
        services = ApiServices(keys=KeyRing([("agent", KEY, "reader", True)]), clock=lambda: world.now)
        app = create_app(pipeline.store, services)
        base = next(serve_urls := serve(app))
        headers = {"X-API-Key": KEY}
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    page = browser.new_page(viewport={"width": 1400, "height": 1800})
                    page.goto(f"{base}/customer360")
                    page.locator("summary").click()
                    page.fill("#api-key", KEY)
                    page.fill("#q", person.emails[0])
                    page.click("#search-form button")
                    expect(page.locator("#name")).to_have_text(f"{person.first_name} {person.last_name}")
                    api = httpx.get(
                        f"{base}/profiles/lookup",
                        params={"type": "email", "value": person.emails[0]},
                        headers=headers,
                    ).json()
                    for field in FIELDS:
                        value = api
                        for part in field.split("."):
                            value = value[part]
                        assert shown(page, field) == str(value), field
                    identifiers = page.locator("#identifiers li").all_inner_texts()
                    assert f"customer_id: {person.customer_id}" in identifiers
                    record = bureau[person.index]
                    traits = page.locator("#traits li").all_inner_texts()
                    as_of = f"as of {record.as_of.isoformat()} 00:00:00 UTC"
                    assert f"credit score: {record.score} (bureau, {as_of})" in traits, traits
                    assert f"risk tier: {record.risk_tier} (bureau, {as_of})" in traits, traits
                    offer = api["next_best_offer"]
                    assert shown(page, "next_best_offer.offer") == (offer["offer"] if offer else "—")
                    page.screenshot(path=str(tmp_path / "before.png"), full_page=True)
                    before = shown(page, "retail.session_page_views")

                    # A page view one minute before "now" arrives through Kafka and the ingest loop.
                    at_ms = int(world.now.timestamp() * 1000) - 60_000
                    view = {
                        "event_id": "page-test-view", "cookie": person.cookies[0], "user_email": None,
                        "action": "page_view", "url": "/cards/credit", "ts": at_ms, "device": "mobile",
                        "error": None,
                    }  # fmt: skip
                    message = Message(
                        TOPIC_CLICKSTREAM, person.cookies[0].encode(), json.dumps(view).encode(), 0
                    )
                    pipeline.publish([message])
                    run_until(loop, lambda: loop.totals.records >= total + 1)
                    after = httpx.get(f"{base}/profiles/{api['id']}", headers=headers).json()
                    assert after["retail"]["session_page_views"] == int(before) + 1
                    expect(page.locator('[data-field="retail.session_page_views"]')).to_have_text(
                        str(after["retail"]["session_page_views"]), timeout=10_000
                    )
                    expect(page.locator("#timeline li").first).to_contain_text("page_view · /cards/credit")
                    page.screenshot(path=str(tmp_path / "after.png"), full_page=True)
                finally:
                    browser.close()
        finally:
            next(serve_urls, None)
