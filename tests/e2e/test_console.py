"""The local X-Ray console (issue 19): its API on real documents, and the page in Chromium.

Documents: the example app's three traces (``examples.demo.run``) and a deliberately
slow request through the layer, written to a JSON-lines file with the bad input a
person will meet: a line that is not JSON, a document without a trace id, an orphan
subsegment, and a second file that does not exist. The browser is Debian's Chromium
driven by Playwright (``executable_path``; no downloaded browser), started with the
flags this machine needs (no sandbox as root, no background networking). Screenshots go
to ``build/console/`` for a person to look at.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from examples import demo
from otel_xray.devtools.functions.invoke import LocalFunction
from otel_xray.devtools.sam.cloudformation import xray_groups
from otel_xray.devtools.traces.console import Console, ConsoleData, write_report
from otel_xray.devtools.traces.store import TraceStore

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "console"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SLOW_HANDLER = """
import time
import otel_xray

def handler(event, context):
    with otel_xray.subsegment("load cart", "compute"):
        time.sleep(0.02)
    with otel_xray.subsegment("price with legacy engine", "compute"):
        time.sleep(0.4)
    return {"statusCode": 200, "body": "ok"}
"""


@pytest.fixture(scope="module")
def segments(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = TraceStore()
    demo.run(store)
    code = tmp_path_factory.mktemp("slow")
    (code / "app.py").write_text(SLOW_HANDLER)
    with LocalFunction("app.handler", code, function_name="checkout") as function:
        function.invoke({})
        slow = function.invoke({})
    documents = store.documents() + slow.segments
    orphan = {"name": "lost", "id": "0123456789abcdef", "trace_id": slow.root,
              "parent_id": "fedcba9876543210", "type": "subsegment",
              "start_time": 1.0, "end_time": 1.1}  # fmt: skip
    path = tmp_path_factory.mktemp("console") / "segments.jsonl"
    lines = [json.dumps(d) for d in documents]
    bad_schema = {**documents[0], "id": "abcdefabcdefabcd", "start_time": "yesterday"}
    lines[3:3] = ["{not json", json.dumps({"name": "no trace id"}), json.dumps(bad_schema)]
    path.write_text("\n".join([*lines, json.dumps(orphan)]) + "\n")
    return path


@pytest.fixture(scope="module")
def groups() -> dict[str, str]:
    found, problems = xray_groups(ROOT / "deploy" / "template.yaml", {"PaymentHost": "127.0.0.1"})
    assert problems == []
    return found


@pytest.fixture(scope="module")
def console(segments: Path, groups: dict[str, str]) -> Iterator[Console]:
    running = Console([segments, segments.with_name("missing.jsonl")], groups=groups).start()
    yield running
    running.stop()


def get(console: Console, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(console.url.rstrip("/") + path, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_api_shows_what_the_stores_hold_and_warns_about_the_rest(console: Console) -> None:
    status, listing = get(console, "/api/traces")
    assert status == 200 and len(listing["traces"]) == 4
    status, faults = get(
        console, "/api/traces?filter=" + urllib.parse.quote('service("order-api") { fault }')
    )
    assert status == 200 and len(faults["traces"]) == 1
    status, error = get(console, "/api/traces?filter=" + urllib.parse.quote("service("))
    assert status == 400 and error["position"] >= 0
    [trace] = faults["traces"]
    status, opened = get(console, "/api/trace?id=" + trace["Id"])
    assert status == 200 and opened["segments"]
    assert get(console, "/api/trace?id=nope")[0] == 404
    _, graph = get(console, "/api/graph")
    assert graph["svg"].startswith("<svg") and graph["Services"]
    _, warnings = get(console, "/api/warnings")
    text = "\n".join(warnings["warnings"])
    assert "not JSON" in text and "missing required field" in text and "cannot be read" in text
    assert "fails the segment document schema at start_time" in text
    assert "has no parent" in text
    _, report = get(console, "/api/analyze")
    assert report["ranking"][0]["name"] == "Initialization"  # cold starts dominate the set
    _, services = get(console, "/api/services")
    [function] = [
        n for n in services["nodes"] if n["name"] == "checkout" and n["type"] == "AWS::Lambda"
    ]
    assert function["p50_ms"] > 300 and function["histogram"]
    assert any(e["linked"] for e in services["edges"])  # the queue -> worker link
    _, slowest = get(console, "/api/slowest")
    assert slowest["traces"][0]["Duration"] >= slowest["traces"][-1]["Duration"]
    _, presets = get(console, "/api/groups")
    assert {g["name"] for g in presets["groups"]} >= {"orders-faults", "orders-order-api"}
    broken = ConsoleData([], groups={"ok": "fault", "broken": "service("})
    assert list(broken.groups) == ["ok"]  # a preset that does not parse is not offered
    assert [p.split(":")[0] for p in broken.group_problems] == ["group broken"]


def test_the_console_in_a_real_browser(
    console: Console, segments: Path, groups: dict[str, str]
) -> None:
    if CHROMIUM is None:
        pytest.skip("no Chromium (Debian package chromium; .ci/install-servers installs it)")
    playwright = pytest.importorskip("playwright.sync_api")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(console.url)
        page.wait_for_selector("#map svg")
        assert page.locator("#nodes tr.node").count() >= 8
        page.screenshot(path=str(SHOTS / "map.png"), full_page=True)

        # A filter expression selects the right traces; a broken one shows the caret.
        page.click("nav button[data-view=traces]")
        page.fill("#filter", 'service("order-api") { fault }')
        page.press("#filter", "Enter")
        page.wait_for_function("document.querySelectorAll('#trace-list tr.trace').length === 1")
        page.screenshot(path=str(SHOTS / "traces-filtered.png"), full_page=True)
        page.fill("#filter", "service(")
        page.press("#filter", "Enter")
        page.wait_for_function("document.querySelector('#filter-error').textContent.includes('^')")

        # A node of the map lists its traces and shows its response-time distribution;
        # so does an edge.
        page.click("nav button[data-view=map]")
        page.click("tr.node[data-name='order-worker']")
        page.wait_for_function("document.querySelectorAll('#trace-list tr.trace').length === 1")
        assert "p50" in page.inner_text("#distribution")
        page.click("nav button[data-view=map]")
        page.click(
            "#map g.node[data-name='order-worker'][data-type='AWS::Lambda']"
        )  # the map itself
        page.wait_for_function(
            "document.querySelector('#filter').value === 'service(\"order-worker\")'"
        )
        page.click("nav button[data-view=map]")
        page.click("tr.edge >> nth=0")
        page.wait_for_function("document.querySelector('#filter').value.startsWith('edge(')")
        page.wait_for_function("document.querySelectorAll('#trace-list tr.trace').length >= 1")

        # A group preset from the template's X-Ray groups.
        page.click("button.group:has-text('orders-faults')")
        page.wait_for_function("document.querySelectorAll('#trace-list tr.trace').length === 1")

        # A trace's timeline, and a row's details.
        page.fill("#filter", "")
        page.press("#filter", "Enter")
        page.wait_for_function("document.querySelectorAll('#trace-list tr.trace').length === 4")
        page.fill("#filter", 'service("checkout")')
        page.press("#filter", "Enter")
        page.wait_for_function("document.querySelectorAll('#trace-list tr.trace').length === 1")
        page.click("#trace-list tr.trace >> nth=0")
        page.wait_for_selector("#timeline .bar-row")
        names = page.locator("#timeline .bar-row").all_inner_texts()
        assert any("price with legacy engine" in name for name in names)
        page.click("#timeline .bar-row >> nth=0")
        assert "origin" in page.inner_text("#details")
        page.screenshot(path=str(SHOTS / "timeline.png"), full_page=True)

        # Where the time goes in the slow request (the filter still selects it).
        page.click("nav button[data-view=analytics]")
        page.wait_for_function(
            "document.querySelector('#analysis tr.rank') !== null && "
            "document.querySelector('#analysis tr.rank').innerText.includes('legacy engine')"
        )
        assert page.locator("#slowest tr.slow").count() == 1
        assert "p99" in page.inner_text("#percentiles")
        page.screenshot(path=str(SHOTS / "where-the-time-goes.png"), full_page=True)
        assert "not JSON" in page.inner_text("#warnings")

        # The same views from one self-contained file, with no server.
        report = write_report([segments], SHOTS / "report.html", groups)
        offline = browser.new_page(viewport={"width": 1400, "height": 900})
        fetched: list[str] = []
        offline.on("request", lambda request: fetched.append(request.url))
        offline.goto(report.as_uri())
        offline.wait_for_selector("#map svg")
        offline.click("nav button[data-view=traces]")
        offline.wait_for_function("document.querySelectorAll('#trace-list tr.trace').length === 4")
        offline.click("button.group:has-text('orders-faults')")
        offline.wait_for_function("document.querySelectorAll('#trace-list tr.trace').length === 1")
        offline.click("#trace-list tr.trace >> nth=0")
        offline.wait_for_selector("#timeline .bar-row")
        offline.click("nav button[data-view=traces]")
        offline.fill("#filter", "duration > 1")
        offline.press("#filter", "Enter")
        offline.wait_for_function(
            "document.querySelector('#filter-error').textContent.includes('live console')"
        )
        offline.screenshot(path=str(SHOTS / "report.png"), full_page=True)
        assert fetched == [report.as_uri()]  # the file only
        browser.close()
    assert all(url.startswith(console.url) for url in requests)  # nothing off the machine


def test_the_report_command_writes_one_self_contained_file(segments: Path, tmp_path: Path) -> None:
    from otel_xray.devtools.cli import main  # noqa: PLC0415  (the CLI, as a user runs it)

    out = tmp_path / "report.html"
    template = str(ROOT / "deploy" / "template.yaml")
    assert main(["report", str(segments), "-o", str(out), "--groups", template]) == 0
    page = out.read_text()
    assert (
        "window.REPORT = " in page
        and "<script src" not in page
        and "http://" not in page.split("window.REPORT")[0]
    )
    answers = json.loads(page.split("window.REPORT = ", 1)[1].split(";</script>", 1)[0])
    # A group without its parameter is reported, and the others are there.
    assert any("PaymentHost" in p for p in answers["static"]["/api/groups"]["problems"])
    assert "service() { fault }" in answers["filtered"]
    assert len(answers["traces_by_id"]) == 4


def test_the_console_follows_a_file_as_it_grows(segments: Path, tmp_path: Path) -> None:
    growing = tmp_path / "live.jsonl"
    lines = segments.read_text().splitlines()
    growing.write_text(lines[0] + "\n")
    running = Console([growing]).start()
    try:
        assert len(get(running, "/api/traces")[1]["traces"]) == 1
        growing.write_text("\n".join(lines) + "\n")  # invoke appending more documents
        assert len(get(running, "/api/traces")[1]["traces"]) == 4
        growing.unlink()  # and the file going away: a warning, not a crash
        status, answer = get(running, "/api/traces")
        assert status == 200 and answer["traces"] == []
        assert "cannot be read" in "\n".join(get(running, "/api/warnings")[1]["warnings"])
    finally:
        running.stop()
