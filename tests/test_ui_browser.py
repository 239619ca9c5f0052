"""The chat window in a real headless Chromium, over the real pipeline (real models, loaded once).

The app is mounted into FastAPI the way `rag serve` mounts it and served by uvicorn in a thread. Screenshots
(desktop and 390 px wide) go to a temporary folder; `make screenshots` sets RAG_SCREENSHOTS=docs to refresh
the README's.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # ui.py lives beside the rag package, not inside it
    sys.path.insert(0, str(ROOT))

pytestmark = [pytest.mark.browser, pytest.mark.real]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ANSWER_TIMEOUT_MS = 180_000

TRADE_2016 = re.compile(r"5[,.]458|5[,.]46")
TRADE_2015 = re.compile(r"12[,.]811|12[,.]81")
WISMAR = re.compile(r"Kostanay|Rudniy|Karaganda|Caspian|Al-Farabi|Boashak")
UNANSWERABLE = "What was the trade volume with Kazakhstan in 2019?"
SOURCE_LINE = re.compile(r"^\[1\] Drucksache 7/844, S\. \d+, [^\n]+: „[^\n]+“$", re.M)
DONE = """n => {
  const chat = document.querySelector('#rag-chat');
  if (!chat || chat.querySelector('.rag-busy, .rag-streaming')) return false;
  return chat.querySelectorAll('.rag-answer:not(.rag-streaming), .rag-error').length >= n;
}"""
IN_VIEW = """el => {  // the element's top is inside the window and inside any box that scrolls around it
  const top = el.getBoundingClientRect().top;
  for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
    const r = p.getBoundingClientRect(), o = getComputedStyle(p).overflowY;
    if ((o === 'auto' || o === 'scroll' || o === 'hidden') && p.scrollHeight > p.clientHeight + 1
        && (top < r.top - 1 || top > r.bottom - 20)) return false;
  }
  return top >= -1 && top <= innerHeight - 20;
}"""
OVERLAPS_A_MESSAGE = """a => { const r = a.getBoundingClientRect();
  return [...document.querySelectorAll('#rag-chat [data-testid="bot"], #rag-chat [data-testid="user"]')].some(m => {
    const q = m.getBoundingClientRect();
    return r.left < q.right && q.left < r.right && r.top < q.bottom && q.top < r.bottom; }); }"""
NESTED_SCROLL = """() => [document.querySelector('#rag-chat'), ...document.querySelectorAll('#rag-chat *')]
  .filter(e => /auto|scroll/.test(getComputedStyle(e).overflowY) && e.scrollHeight > e.clientHeight + 1)
  .map(e => e.className || e.tagName)"""


# -- fixtures ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's Chromium (installed here when missing, as `make browser` does)."""
    if not Path(CHROMIUM).exists() and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=False)
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing and could not be installed (run `make browser` as root)")
    return CHROMIUM


@pytest.fixture(scope="module")
def app_url(real_pipeline):
    """The chat window over the real pipeline, mounted into FastAPI and served on a free port."""
    import gradio as gr
    import uvicorn
    from fastapi import FastAPI

    import ui

    app = gr.mount_gradio_app(FastAPI(), ui.create_app(real_pipeline), path="/", show_error=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="ui-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the chat server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    """Where screenshots go: a temporary folder, or RAG_SCREENSHOTS (`make screenshots` sets docs/)."""
    folder = Path(os.environ["RAG_SCREENSHOTS"]) if os.environ.get("RAG_SCREENSHOTS") else \
        tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_page(browser, url: str, **context):
    """A page on the app, recording every request it makes (to prove nothing leaves the machine)."""
    ctx = browser.new_context(**context)
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    page = ctx.new_page()
    page.requests = []
    page.on("request", lambda r: page.requests.append(r.url))
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(url + "/")
    page.wait_for_selector("#rag-header .rag-doc-id", timeout=ANSWER_TIMEOUT_MS)
    return page


def ask(page, question: str, answers: int, via: str = "button"):
    """Type a question, send it, wait until the answers-th finished answer is in; return that message."""
    box = page.locator("#rag-question textarea, #rag-question input").first
    box.fill(question)
    if via == "enter":
        box.press("Enter")
    else:
        page.click("#rag-send")
    return wait_answer(page, answers)


def wait_answer(page, answers: int):
    page.wait_for_function(DONE, arg=answers, timeout=ANSWER_TIMEOUT_MS)
    page.wait_for_timeout(300)  # the window's own scrolling runs on the next frame
    return page.locator("#rag-chat [data-testid='bot']").last


def click_marker(message):
    """Click the first [n] in the answer text; return the source it opened and its marked quote."""
    ref = message.locator(".rag-text .rag-ref").first
    n = re.search(r"rag-ref-(\d+)", ref.get_attribute("class")).group(1)
    ref.click()
    cite = message.locator(f"details.rag-cite-{n}")
    mark = cite.locator(".rag-passage mark").first
    mark.wait_for(state="visible")
    message.page.wait_for_timeout(700)  # the smooth scroll to it
    assert cite.evaluate("d => d.open")
    return cite, mark


def check_the_quote(cite, mark):
    """The mark is the quote of the collapsed preview, in view, and does not start with the section heading."""
    assert mark.evaluate(IN_VIEW), "the opened quote is not in view"
    preview = cite.locator(".rag-quote").text_content().strip().strip("„“")
    assert mark.text_content() == preview
    heading = cite.locator(".rag-where").inner_text().rsplit(" > ", 1)[-1]
    assert not mark.inner_text().startswith(heading), (heading, mark.inner_text())


def assert_offline(page, url: str):
    host = urlsplit(url).netloc
    foreign = [u for u in page.requests if urlsplit(u).scheme in ("http", "https", "ws", "wss")
               and urlsplit(u).netloc != host]
    assert not foreign, f"the page fetched from elsewhere: {foreign[:5]}"


# -- the tests ---------------------------------------------------------------------------------------

def test_chat_in_a_real_browser(browser, app_url, shots):
    page = open_page(browser, app_url, viewport={"width": 1280, "height": 900})
    header = page.locator("#rag-header").inner_text()
    assert "Drucksache 7/844" in header and "locally" in header

    # German, sent with Enter: the fact first, an inline [n] that opens its source onto the marked quote
    de = ask(page, "Wie hoch war der Außenhandel mit Kasachstan im Jahr 2016?", 1, via="enter")
    assert TRADE_2016.search(de.locator(".rag-direct").inner_text()), de.inner_text()
    assert re.search(r"\d+\.\d s", de.locator(".rag-meta").inner_text())
    cite, mark = click_marker(de)
    check_the_quote(cite, mark)
    assert TRADE_2016.search(mark.inner_text()) and re.search(r"S\. \d", cite.locator("summary").inner_text())

    page.evaluate("document.activeElement.blur()")
    page.mouse.move(0, 0)
    page.wait_for_timeout(1200)  # the opened source's flash fades
    page.screenshot(path=str(shots / "screenshot.png"), full_page=True)

    # the copy button copies plain text: the answer, then its sources with German labels
    de.locator(".rag-copy").click()
    page.wait_for_function("() => document.querySelector('#rag-chat .rag-copied')")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith(de.locator(".rag-direct").inner_text().strip()), copied
    assert "\n\nQuellen:\n" in copied and SOURCE_LINE.search(copied) and "<" not in copied, copied

    # the side panel: passages told apart by rank, page, section and first words; no raw scores
    summaries = page.locator("#rag-passages details.rag-hit summary").all_inner_texts()
    assert summaries and len(set(summaries)) == len(summaries), summaries
    assert not re.search(r"score|0\.0\d", " ".join(summaries)) and "cited [1]" in " ".join(summaries)

    # a follow-up uses the conversation so far
    follow = ask(page, "Und im Jahr davor?", 2)
    assert TRADE_2015.search(follow.inner_text()), follow.inner_text()
    assert follow.evaluate(IN_VIEW), "the start of the latest answer is not in view"

    # English, from an example button: a list keeps the paper's lines, in the answer and in the quote
    page.get_by_role("button", name=re.compile("universities")).click()
    en = wait_answer(page, 3)
    assert len([line for line in en.locator(".rag-text").inner_text().splitlines() if WISMAR.search(line)]) >= 3
    _, mark = click_marker(en)
    assert re.search(r"Kostanay State University,\s*\n\s*- Rudniy", mark.inner_text()), mark.inner_text()

    # Gradio's scroll-down arrow, shown when the chat is scrolled up, sits beside the messages, not on them
    page.locator("#rag-chat .bubble-wrap").evaluate("box => box.scrollTo(0, 0)")
    arrow = page.locator("#rag-chat .scroll-down-button-container")
    arrow.wait_for(state="visible")
    assert not arrow.evaluate(OVERLAPS_A_MESSAGE)

    # not in the paper: a refusal, styled as such, without citations; the side panel says so too
    no = ask(page, UNANSWERABLE, 4)
    assert no.locator(".rag-refusal").count() == 1, no.inner_html()
    assert "Not in the paper" in no.inner_text() and no.locator("details.rag-cite").count() == 0
    panel = page.locator("#rag-passages").inner_text()
    assert UNANSWERABLE in panel and "was not answered" in panel and "cited" not in panel

    # an empty question is a friendly note, not a stack trace
    err = ask(page, "   ", 5)
    assert err.locator(".rag-error").count() == 1 and "Traceback" not in err.inner_text()

    # a new conversation starts empty
    page.click("#rag-clear")
    page.wait_for_function("() => !document.querySelector('#rag-chat .rag-answer')")
    assert_offline(page, app_url)
    assert not page.errors, page.errors
    page.context.close()


def test_phone_width(browser, app_url, shots):
    page = open_page(browser, app_url, viewport={"width": 390, "height": 844}, device_scale_factor=2,
                     is_mobile=True, has_touch=True)
    first = ask(page, "When did the ambassador visit the museum in Peenemünde?", 1)
    assert "2016" in first.locator(".rag-direct").inner_text(), first.inner_text()
    cite, mark = click_marker(first)  # this quote's passage starts with its section heading
    check_the_quote(cite, mark)

    msg = ask(page, "Wie hoch war der Außenhandel mit Kasachstan im Jahr 2016?", 2)
    assert TRADE_2016.search(msg.locator(".rag-direct").inner_text()), msg.inner_text()
    # the start of the latest answer is in view once it has arrived
    assert msg.evaluate(IN_VIEW), page.evaluate("scrollY")
    # one scrolling page: no scrolling box inside it, nothing wider than the phone, no arrow over the text
    assert page.evaluate(NESTED_SCROLL) == []
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1
    arrows = page.locator("#rag-chat .scroll-down-button-container")
    assert arrows.count() == 0 or not arrows.first.is_visible()

    msg.locator("details.rag-cite summary").first.click()  # for the screenshot: the question, the answer,
    page.locator("#rag-chat [data-testid='user']").last.evaluate(  # its source open
        "q => (q.closest('.message-row') || q).scrollIntoView()")
    page.wait_for_timeout(300)
    page.screenshot(path=str(shots / "screenshot-mobile.png"))

    # the passages panel, below the chat on a phone, is one tap away
    msg.locator(".rag-to-passages").click()
    page.wait_for_timeout(800)
    assert page.locator("#rag-passages details.rag-hit").first.evaluate(IN_VIEW)
    assert_offline(page, app_url)
    assert not page.errors, page.errors
    page.context.close()
