"""The web page in a real headless Chromium: events captured by the SDK appear live, then
persons, groups, flag evaluation, and no script injection from captured data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from posthog import Posthog
from posthog_devserver import DevServer

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
XSS_NAME = "<img src=x onerror=window.__pwned=1>"
XSS_ID = "user-<b>1</b>"
XSS_EMAIL = "<script>window.__pwned=2</script>"
FLAGS = {
    "flags": [
        {
            "id": 1,
            "key": "pro-only",
            "active": True,
            "filters": {
                "groups": [
                    {
                        "properties": [
                            {"key": "plan", "value": "pro", "operator": "exact", "type": "person"}
                        ],
                        "rollout_percentage": 100,
                    }
                ],
                "payloads": {"true": '{"x": 1}'},
            },
        }
    ]
}


@pytest.fixture
def page(dev: DevServer) -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            tab = browser.new_page()
            tab.set_default_timeout(15_000)
            errors: list[str] = []
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
            tab.goto(dev.url + "/")
            yield tab
            assert errors == []
        finally:
            browser.close()


@pytest.fixture
def sdk(dev: DevServer) -> Iterator[Posthog]:
    client = Posthog("phc_test", host=dev.url)
    yield client
    client.shutdown()


def test_live_events_persons_groups_and_flag_evaluation(
    page: Any, dev: DevServer, sdk: Posthog
) -> None:
    from playwright.sync_api import expect

    dev.set_flags(FLAGS)
    expect(page.locator("#host-value")).to_have_text(dev.url)

    # events the SDK captures after the page loaded show up, newest first, as text
    sdk.capture("first", distinct_id="user-1")
    sdk.capture(XSS_NAME, distinct_id=XSS_ID, properties={"$set": {"email": XSS_EMAIL}})
    assert sdk.flush(10)
    rows = page.get_by_test_id("event-row")
    expect(rows).to_have_count(2)
    expect(rows.first.locator(".event-name")).to_have_text(XSS_NAME)
    expect(rows.first.locator(".distinct-id")).to_have_text(XSS_ID)
    rows.first.click()
    expect(page.get_by_test_id("event-properties")).to_contain_text(XSS_EMAIL)
    sdk.capture("newest", distinct_id="user-1")
    assert sdk.flush(10)
    expect(rows).to_have_count(3)
    expect(rows.first.locator(".event-name")).to_have_text("newest")

    # persons: open one, see its distinct ids and properties
    page.click("button[data-tab=persons]")
    person = page.get_by_test_id("person-row").filter(has_text=XSS_ID)
    person.click()
    detail = page.get_by_test_id("person-detail")
    expect(detail.locator(".person-distinct-id")).to_have_text([XSS_ID])
    expect(page.get_by_test_id("person-properties")).to_contain_text(XSS_EMAIL)
    expect(detail).to_contain_text(XSS_NAME)  # the person's own events, by person id

    # groups
    sdk.group_identify("company", "acme", {"size": 3})
    assert sdk.flush(10)
    page.click("button[data-tab=groups]")
    expect(page.get_by_test_id("group-row")).to_contain_text(["acme"])

    # flags: conditions listed, evaluation box with overrides
    page.click("button[data-tab=flags]")
    expect(page.get_by_test_id("flag")).to_contain_text(["pro-only"])
    expect(page.get_by_test_id("flag").first).to_contain_text('"rollout_percentage": 100')
    page.fill("#eval-distinct-id", XSS_ID)
    page.fill("#eval-person", '{"plan": "pro"}')
    page.click("#eval-submit")
    value = page.locator("[data-testid=eval-row][data-flag=pro-only] .eval-value")
    expect(value).to_have_text("true")
    expect(page.get_by_test_id("eval-project")).to_contain_text("project phc_test")
    page.fill("#eval-person", '{"plan": "free"}')
    page.click("#eval-submit")
    expect(value).to_have_text("false")
    page.fill("#eval-person", "not json")
    page.click("#eval-submit")
    expect(page.locator("#eval-error")).to_contain_text("person")

    # nothing captured was ever interpreted as markup
    assert page.evaluate("window.__pwned") is None
    assert page.locator("main img, main script, main b").count() == 0
