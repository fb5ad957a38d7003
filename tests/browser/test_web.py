"""The web page in a real chromium against a real `expert serve` (bundled models, KBs on disk).
The tests run in file order: the last one stops the server."""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
# every run saves a screenshot of each page here; `IE_SCREENSHOTS=docs/screenshots make test`
# refreshes the ones the README shows (committed), without dirtying the tree on every run
SHOTS = Path(os.environ.get("IE_SCREENSHOTS", ROOT / "test-artifacts" / "screenshots"))

WARRANTY = "How long is the standard warranty on a Kestrel pump?"
ZORBLAX = (
    "# Zorblax coolant valve\n\nThe Zorblax coolant valve on the KF-340 must be replaced every 17 months. "
    "The replacement Zorblax valve has part number ZX-4471 and is kept in stock at Linz.\n"
)
ZORBLAX_Q = "How often must the Zorblax coolant valve be replaced?"
SETTING_NAME = re.compile(r"\b(?:serve|ingest)\.\w+|budget|--[a-z]")
"""A setting's name or a command-line flag: the page speaks without them."""
DATE_FORMAT = "new Intl.DateTimeFormat(navigator.languages, {dateStyle: 'medium', timeStyle: 'short'})"


def shot(page, name: str, full: bool = True) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full)


def sign_in(page, key: str) -> None:  # type: ignore[no-untyped-def]
    """Keyboard only: the key field has the focus; type, Enter."""
    page.wait_for_selector("#key:focus")
    page.keyboard.type(key)
    page.keyboard.press("Enter")
    page.wait_for_selector("#view-ask:not([hidden])")
    page.wait_for_selector("#nav .who")


def ask(page, question: str) -> object:  # type: ignore[no-untyped-def]
    """Type a question, press Enter, wait until its answer is final; returns the answer element."""
    turns = page.locator("#conversation .turn").count()
    page.fill("#question", question)
    page.focus("#question")
    page.keyboard.press("Enter")
    answer = page.locator("#conversation .turn").nth(turns).locator(".answer")
    answer.wait_for()
    page.wait_for_function(
        "n => { const a = document.querySelectorAll('#conversation .answer')[n];"
        " return a && !a.hasAttribute('aria-busy'); }",
        arg=turns,
        timeout=150_000,
    )
    return answer


def cited_sources(answer) -> list[str]:  # type: ignore[no-untyped-def]
    return [t.strip() for t in answer.locator(".citations li .where strong").all_text_contents()]


def test_sign_in_ask_stream_cite_open_copy_follow_up(page, server) -> None:  # type: ignore[no-untyped-def]
    shot(page, "signin")
    sign_in(page, server.keys["writer"])
    assert "kestrel" in page.locator("#expert option").all_text_contents()[0]
    streamed = []
    page.on("response", lambda r: r.url.endswith("/v1/chat/completions") and streamed.append(r.headers))
    bodies = []
    page.on("request", lambda r: r.url.endswith("/v1/chat/completions") and bodies.append(r.post_data_json))
    # count the answer's text updates while it is still coming in
    page.evaluate(
        "() => { window.__updates = 0; new MutationObserver(() => {"
        " if (document.querySelector('.answer[aria-busy] .text')) window.__updates++; })"
        ".observe(document.querySelector('#conversation'), {subtree: true, childList: true, characterData: true}); }"
    )
    answer = ask(page, WARRANTY)
    assert bodies[0]["stream"] is True
    assert streamed and streamed[0]["content-type"].startswith("text/event-stream")
    assert page.evaluate("window.__updates") >= 1, "no text appeared before the answer was final"
    text = answer.locator(".text").text_content()
    assert "24 months" in text, text
    assert re.search(r"\[\d+\]", text)
    sources = cited_sources(answer)
    assert any("careline-warranty.html" in s for s in sources), sources

    # a [n] marker opens its passage, the quote highlighted; keyboard only
    marker = answer.locator("a.marker").first
    n = int(marker.text_content().strip("[]"))
    quote = answer.locator(f"#cite-1-{n} .quote").text_content()
    marker.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#passage-dialog")
    dialog.wait_for(state="visible")
    assert page.locator("#passage-text mark").text_content().split() == quote.split()
    link = page.locator("#passage-file")
    link.wait_for(state="visible")
    href = link.get_attribute("href")
    assert server.keys["writer"] not in href
    shot(page, "passage", full=False)
    source = next(s for s in sources if "careline-warranty.html" in s)
    got = page.context.request.get(href.split("#")[0])  # a plain GET, no key: the link itself is enough
    assert got.status == 200
    assert got.body() == (server.data / Path(source).name).read_bytes()
    assert "sandbox" in got.headers["content-security-policy"]
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")

    # copy the answer with its sources
    answer.locator("button.copy").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith(text.strip()[:20]) and "Sources:" in copied and quote in copied

    # a follow-up in the same conversation carries the earlier turn
    follow = ask(page, "Does it cover seal faces?")
    assert len(bodies[1]["messages"]) == 3 and bodies[1]["messages"][1]["role"] == "assistant"
    assert follow.locator(".text, .abstain").count() >= 1
    shot(page, "ask")

    # readable on a 375-px phone: nothing wider than the screen
    page.set_viewport_size({"width": 375, "height": 812})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "ask-phone")
    assert not [m for m in page.console if m.startswith(("error", "pageerror"))], page.console
    # every response carries a policy that forbids inline script; no URL ever held the key
    assert len(page.responses) > 10
    for url, headers in page.responses:
        csp = headers.get("content-security-policy", "")
        assert "script-src 'self'" in csp or "default-src 'none'" in csp, (url, csp)
        assert "unsafe-inline" not in csp.split("style-src")[0], (url, csp)
        assert server.keys["writer"] not in url


def test_pdf_passage_links_to_its_page(page, server) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, server.keys["reader"])
    answer = ask(page, "What volume does the DX-40 deliver per stroke at full stroke length?")
    buttons = answer.locator("button.link")  # "Open passage n": citations, or closest passages on abstention
    sources = [s.text_content() for s in answer.locator(".where").all()]
    i = next(i for i, s in enumerate(sources) if "dx-series-datasheet.pdf" in s)
    buttons.nth(i).click()
    link = page.locator("#passage-file")
    link.wait_for(state="visible")
    assert re.search(r"#page=\d+$", link.get_attribute("href"))
    got = page.context.request.get(link.get_attribute("href").split("#")[0])
    assert got.status == 200 and got.body()[:5] == b"%PDF-"
    assert got.headers["content-type"] == "application/pdf"


def test_upload_ask_delete(page, server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, server.keys["writer"])
    page.click("#nav a[data-view=documents]")
    page.wait_for_selector("#docs-table tbody tr[data-doc]")
    assert page.locator("#upload").is_visible()
    # the file picker: a new document
    new = tmp_path / "zorblax-valve.md"
    new.write_text(ZORBLAX, encoding="utf-8")
    page.set_input_files("#file-input", str(new))
    # drag and drop: a file over the server's 1 MB limit is refused, with a plain reason
    page.evaluate(
        "() => { const dt = new DataTransfer();"
        " dt.items.add(new File([new Uint8Array(1500000)], 'huge-scan.txt', {type: 'text/plain'}));"
        " document.querySelector('#dropzone').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true})); }"
    )
    ok = page.locator(".upload.ok", has_text="zorblax-valve.md")
    ok.wait_for(timeout=120_000)
    refused = page.locator(".upload.failed", has_text="huge-scan.txt")
    refused.wait_for()
    assert "too large: this server takes files of up to 1 MB" in refused.text_content()
    assert not SETTING_NAME.search(refused.text_content()), refused.text_content()
    page.locator("#docs-table tbody tr", has_text="Zorblax coolant valve").wait_for()
    shot(page, "documents")

    page.click("#nav a[data-view=ask]")
    answer = ask(page, ZORBLAX_Q)
    assert any("zorblax" in s.lower() for s in cited_sources(answer)), answer.text_content()

    page.click("#nav a[data-view=documents]")
    page.once("dialog", lambda d: d.accept())
    page.locator("#docs-table tbody tr", has_text="Zorblax coolant valve").locator("button.danger").click()
    page.locator("#banner:not([hidden])", has_text="Deleted").wait_for()
    page.locator("#docs-table tbody tr", has_text="Zorblax coolant valve").wait_for(state="detached")
    page.click("#nav a[data-view=ask]")
    again = ask(page, ZORBLAX_Q)
    assert not any("zorblax" in s.lower() for s in cited_sources(again)), again.text_content()


def test_read_only_key_sees_no_upload_and_the_api_refuses(page, server) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, server.keys["reader"])
    page.click("#nav a[data-view=documents]")
    page.wait_for_selector("#docs-table tbody tr[data-doc]")
    assert not page.locator("#upload").is_visible()
    assert not page.locator("#file-input").is_visible()
    assert page.locator("#docs-table button.danger").count() == 0
    assert page.locator("#readonly-note").is_visible()
    shot(page, "documents-read-only")
    status = page.evaluate(
        """async (key) => { const f = new FormData();
        f.append('files', new File(['The Emu valve lasts 3 years.'], 'emu.txt', {type: 'text/plain'}));
        const r = await fetch('/v1/kbs/kestrel/documents', {method: 'POST', body: f,
          headers: {Authorization: 'Bearer ' + key}}); return r.status; }""",
        server.keys["reader"],
    )
    assert status in (403, 404)
    page.click("#docs-refresh")
    page.wait_for_selector("#docs-table tbody tr[data-doc]")
    assert "emu.txt" not in page.locator("#docs-table").text_content()


def test_abstention_shows_the_closest_passages(page, server) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, server.keys["reader"])
    answer = ask(page, "Who won the football world cup in 1998?")
    assert "Nothing in the knowledge base supports an answer" in answer.locator(".abstain").text_content()
    closest = answer.locator(".closest li")
    assert closest.count() >= 1
    closest.first.locator("button").click()
    page.locator("#passage-text").wait_for(state="visible")
    assert page.locator("#passage-text").text_content().strip()
    page.keyboard.press("Escape")
    shot(page, "abstention")


def test_upload_cancelled_while_sending(page, server) -> None:  # type: ignore[no-untyped-def]
    """Slow the browser's upload link down (Chrome DevTools network conditions) and cancel mid-way."""
    sign_in(page, server.keys["writer"])
    page.click("#nav a[data-view=documents]")
    page.wait_for_selector("#docs-table tbody tr[data-doc]")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 60_000},
    )
    page.evaluate(
        "() => { const dt = new DataTransfer();"
        " dt.items.add(new File(['Wombat gearbox oil: ISO VG 220. '.repeat(20000)], 'wombat.txt', {type: 'text/plain'}));"
        " document.querySelector('#dropzone').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true})); }"
    )
    row = page.locator(".upload", has_text="wombat.txt")
    page.wait_for_function(
        "() => { const p = document.querySelector('.upload progress'); return p && p.value > 0; }"
    )
    row.locator("button", has_text="Cancel").click()
    page.locator(".upload.failed", has_text="wombat.txt").wait_for()
    assert "cancelled" in row.locator(".status").text_content()
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    page.click("#docs-refresh")
    page.wait_for_selector("#docs-table tbody tr[data-doc]")
    assert "wombat" not in page.locator("#docs-table").text_content()


def test_key_for_another_kb_sees_nothing_of_this_one(page, server) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, server.keys["outsider"])
    experts = page.locator("#expert option").all_text_contents()
    assert experts and not any("kestrel" in e for e in experts), experts
    page.click("#nav a[data-view=documents]")
    page.wait_for_selector("#docs-table tbody tr[data-doc]")
    assert page.locator("#docs-kb option").all_text_contents() == ["other (read)"]
    assert "Heron" in page.locator("#docs-table").text_content()
    page.click("#nav a[data-view=choose]")
    page.wait_for_selector("#runs li")
    for path in (
        "/v1/kbs/kestrel",
        "/v1/kbs/kestrel/documents",
        "/web/api/kbs/kestrel/evals",
        "/web/api/kbs/kestrel/advice",
    ):
        status = page.evaluate(
            "async ([p, key]) => (await fetch(p, {headers: {Authorization: 'Bearer ' + key}})).status",
            [path, server.keys["outsider"]],
        )
        assert status == 404, path
    body = page.locator("body").text_content().lower()
    assert "careline" not in body and "four-systems" not in body and "kestrel (" not in body


def test_document_with_script_and_img_is_shown_as_text(page, server) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, server.keys["reader"])
    page.click("#nav a[data-view=documents]")
    row = page.locator("#docs-table tbody tr", has_text="Quokka")
    row.wait_for()
    assert "<img src=x onerror=window.__pwned=1>Quokka <script>" in row.text_content()
    page.click("#nav a[data-view=ask]")
    answer = ask(page, "What does the Quokka pump note say?")
    sources = [s.text_content() for s in answer.locator(".where").all()]
    i = next(i for i, s in enumerate(sources) if "quokka-note.txt" in s)
    answer.locator("button.link").nth(i).click()
    passage = page.locator("#passage-text")
    passage.wait_for(state="visible")
    assert "<script>document.title='pwned'</script>" in passage.text_content()
    assert "<img src=x onerror=\"document.body.dataset.pwned='yes'\">" in passage.text_content()
    shot(page, "injection-as-text", full=False)
    state = page.evaluate(
        "() => ({pwned: window.__pwned ?? null, title: document.title, flag: document.body.dataset.pwned ?? null,"
        " imgs: document.querySelectorAll('img').length, scripts: document.querySelectorAll('script').length,"
        " bold: document.querySelectorAll('#passage-text b').length})"
    )
    assert state == {
        "pwned": None,
        "title": "Industry expert",
        "flag": None,
        "imgs": 0,
        "scripts": 1,
        "bold": 0,
    }
    assert not [m for m in page.console if "pwned" in m or m.startswith("pageerror")], page.console


def test_choose_shows_the_report_and_the_recommendation(page, server) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, server.keys["reader"])
    page.click("#nav a[data-view=choose]")
    page.wait_for_selector("#advice .recommendation", timeout=120_000)
    assert page.locator("#advice .recommendation").text_content() in ("RAG", "fine-tuning", "both")
    assert page.locator("#advice li").count() >= 1  # the reasons
    # plain words: the advisor's page form of its reasons, no flags, no change rate over minutes
    advice = page.evaluate(
        "async (key) => (await fetch('/web/api/kbs/kestrel/advice', {headers: {Authorization: 'Bearer ' + key}})).json()",
        server.keys["reader"],
    )
    assert page.locator("#advice ul li").all_text_contents() == advice["plain_reasons"]
    text = page.locator("#advice").text_content()
    assert "traceability" in " ".join(advice["reasons"]) and not SETTING_NAME.search(text), text
    assert "per re-ingest" not in text and " days" not in text, text
    assert "not enough ingest history yet to tell how often your documents change" in text
    assert "expert " not in page.locator("#runs").text_content()
    assert_dates_in_one_format(page, "#runs time")
    # the committed run (bench/results/four_systems.json): one bar per system it measured
    run = json.loads((ROOT / "bench" / "results" / "four_systems.json").read_text(encoding="utf-8"))["report"]
    systems = len(run["systems"])
    assert systems >= 4
    measured = page.locator("#advice svg[data-chart=measured] rect.bar")
    assert measured.count() == systems
    report = page.locator("#report")
    report.wait_for()
    assert f"four-systems: {run['questions']} questions" in report.locator("h3").text_content()
    assert report.locator("svg[data-chart=correct] rect.bar").count() == systems
    assert "rag+fine-tuned" in report.locator("table.summary").text_content()
    shot(page, "choose")
    with page.expect_download() as download:
        report.locator("button", has_text="Download the full report").click()
    assert "<html" in Path(download.value.path()).read_text(encoding="utf-8")[:200]
    page.set_viewport_size({"width": 375, "height": 812})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375


def assert_dates_in_one_format(page, selector: str) -> None:  # type: ignore[no-untyped-def]
    """Every date shown under ``selector`` is a <time> in the reader's locale's medium date and short time."""
    dates = page.evaluate(
        f"sel => {{ const f = {DATE_FORMAT}; return [...document.querySelectorAll(sel)]"
        ".map((t) => [t.textContent, f.format(new Date(t.getAttribute('datetime')))]); }",
        selector,
    )
    assert dates, f"no date under {selector}"
    for shown, expected in dates:
        assert shown == expected


def titles(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.locator("#docs-table tbody .doc-title").all_text_contents()  # type: ignore[no-any-return]


def test_document_list_finds_sorts_and_pages_1000_documents(page, server) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, server.keys["archivist"])
    page.click("#nav a[data-view=documents]")
    rows = page.locator("#docs-table tbody tr[data-doc]")
    rows.first.wait_for()
    count = page.locator("#docs-count")
    assert rows.count() == 50 and titles(page)[:2] == ["Archive note 0000", "Archive note 0001"]
    assert re.fullmatch(r"Showing 1–50 of 1\D?000 documents\.", count.text_content()), count.text_content()
    assert page.locator("#docs-page").text_content() == "Page 1 of 20"
    assert page.locator("#docs-prev").is_disabled()
    assert_dates_in_one_format(page, "#docs-table time")
    shot(page, "documents-many", full=False)

    # keyboard only: Next, then Previous
    page.focus("#docs-next")
    page.keyboard.press("Enter")
    page.locator("#docs-page", has_text="Page 2 of 20").wait_for()
    assert titles(page)[0] == "Archive note 0050" and "Showing 51–100" in count.text_content()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    page.locator("#docs-page", has_text="Page 1 of 20").wait_for()
    assert page.evaluate("document.activeElement.id") == "docs-next"  # the disabled button gave up the focus

    # sort by name, both ways, and by date (the dates in the rows follow the order)
    page.select_option("#docs-sort", "name-desc")
    assert titles(page)[:2] == ["Archive note 0999", "Archive note 0998"]
    for order, sign in (("newest", -1), ("oldest", 1)):
        page.select_option("#docs-sort", order)
        stamps = [t.get_attribute("datetime") for t in page.locator("#docs-table time").all()]
        assert len(stamps) == 50 and stamps == sorted(stamps, reverse=sign < 0), order

    # search: by a number, by several words, and no match; the pager follows
    page.fill("#docs-search", "0123")
    page.locator("#docs-table tbody tr[data-doc]").first.wait_for()
    assert titles(page) == ["Archive note 0123"] and page.locator("#docs-pager").is_hidden()
    assert re.fullmatch(r"Showing 1–1 of 1 matching document \(1\D?000 in all\)\.", count.text_content())
    page.select_option("#docs-sort", "name")
    page.fill("#docs-search", "note 09")  # every word, anywhere in the title or the file name
    found = sum("09" in f"{i:04d}" for i in range(1000))
    pages = -(-found // 50)
    assert found > 100 and f"of {found} matching documents" in count.text_content()
    assert page.locator("#docs-page").text_content() == f"Page 1 of {pages}"
    for _ in range(pages - 1):
        page.click("#docs-next")
    assert titles(page)[-1] == "Archive note 0999" and page.locator("#docs-next").is_disabled()
    assert rows.count() == found - 50 * (pages - 1)
    page.fill("#docs-search", "zorblax")
    assert page.locator("#docs-table tbody").text_content() == "No document matches “zorblax”."
    page.fill("#docs-search", "")
    assert rows.count() == 50 and "of 1" in count.text_content()

    # a 375-px phone: nothing wider than the screen
    page.set_viewport_size({"width": 375, "height": 812})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "documents-phone", full=False)
    assert not [m for m in page.console if m.startswith(("error", "pageerror"))], page.console


def test_dates_follow_the_readers_locale(browser, server) -> None:  # type: ignore[no-untyped-def]
    """The same page read in German shows German dates, in the documents, the stats and the runs."""
    context = browser.new_context(locale="de-DE", base_url=server.url)
    try:
        page = context.new_page()
        page.goto("/")
        sign_in(page, server.keys["reader"])
        page.click("#nav a[data-view=documents]")
        page.locator("#docs-table time").first.wait_for()
        german = re.compile(r"\d{2}\.\d{2}\.\d{4}, \d{2}:\d{2}")
        shown = page.locator("#docs-table time").all_text_contents()
        assert shown and all(german.fullmatch(t) for t in shown), shown
        assert_dates_in_one_format(page, "#docs-table time")
        last = page.locator("#kb-stats div", has_text="Last update").locator("dd").text_content()
        assert german.fullmatch(last), last
        page.click("#nav a[data-view=choose]")
        page.locator("#runs time").first.wait_for()
        assert german.fullmatch(page.locator("#runs time").first.text_content())
    finally:
        context.close()


def test_refused_files_are_said_in_plain_words(page, server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A .docx that unpacks to 257 MB (about 250 kB on the wire): the ingest refuses it, and the page
    says why without naming the setting."""
    bomb = tmp_path / "bomb.docx"
    with (
        zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf,
        zf.open("word/document.xml", "w", force_zip64=True) as member,
    ):
        for _ in range(257):
            member.write(bytes(1 << 20))
    sign_in(page, server.keys["writer"])
    page.click("#nav a[data-view=documents]")
    page.wait_for_selector("#docs-table tbody tr[data-doc]")
    page.set_input_files("#file-input", str(bomb))
    refused = page.locator(".upload.failed", has_text="bomb.docx")
    refused.wait_for(timeout=120_000)
    text = refused.text_content()
    assert "bomb.docx: the file unpacks to more than 256 MB" in text, text
    assert refused.locator(".status").text_content() == "not added"
    assert not SETTING_NAME.search(text), text
    shot(page, "refusal", full=False)


def test_revoked_key_and_server_down_are_said_in_plain_words(page, server) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, server.keys["temp"])
    server.expert("keys", "revoke", "temp")
    page.click("#nav a[data-view=documents]")
    page.wait_for_selector("#banner:not([hidden])")
    assert "revoked" in page.locator("#banner-text").text_content()
    page.wait_for_selector("#view-signin:not([hidden])")
    sign_in(page, server.keys["reader"])
    server.stop()
    page.fill("#question", WARRANTY)
    page.keyboard.press("Enter")
    error = page.locator("#conversation .error")
    error.wait_for()
    assert "cannot be reached" in error.text_content()
    shot(page, "server-down", full=False)
