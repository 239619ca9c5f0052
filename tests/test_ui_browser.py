"""The chat window in a real headless Chromium, over the real pipeline (real models, loaded once).

The app is mounted into FastAPI the way `rag serve` mounts it and served by uvicorn in a thread. Saves
docs/screenshot.png (desktop) and docs/screenshot-mobile.png (390 px wide) of a real answer with an
opened citation.
"""
from __future__ import annotations

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
DOCS = ROOT / "docs"
ANSWER_TIMEOUT_MS = 180_000

TRADE_2016 = re.compile(r"5[,.]458|5[,.]46")
TRADE_2015 = re.compile(r"12[,.]811|12[,.]81")
WISMAR = re.compile(r"Kostanay|Rudniy|Karaganda|Caspian|Al-Farabi|Boashak")
UNANSWERABLE = "What was the trade volume with Kazakhstan in 2019?"
DONE = """n => {
  const chat = document.querySelector('#rag-chat');
  if (!chat || chat.querySelector('.rag-busy, .rag-streaming')) return false;
  return chat.querySelectorAll('.rag-answer:not(.rag-streaming), .rag-error').length >= n;
}"""


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
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield b
        b.close()


def open_page(browser, url: str, **context):
    """A page on the app, recording every request it makes (to prove nothing leaves the machine)."""
    ctx = browser.new_context(**context)
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
    return page.locator("#rag-chat [data-testid='bot']").last


def open_first_citation(message):
    cite = message.locator("details.rag-cite").first
    cite.locator("summary").click()
    mark = cite.locator(".rag-passage mark").first
    mark.wait_for(state="visible")
    return cite, mark


def show_turn(page, message):
    """Scroll the chat so the question above ``message`` is at its top, and the opened quote in view
    (on a phone the quote's start then sits halfway down the chat, below the end of the answer)."""
    page.wait_for_timeout(500)  # let the chat's autoscroll settle after a citation opened
    message.evaluate("""m => {
        const users = [...document.querySelectorAll('#rag-chat [data-testid="user"]')];
        (users[users.length - 1] || m).scrollIntoView({block: 'start'});
        const mark = m.querySelector('details[open] mark');
        let box = mark && mark.parentElement;
        while (box && !(box.scrollHeight > box.clientHeight && /auto|scroll/.test(getComputedStyle(box).overflowY)))
            box = box.parentElement;
        if (box) {
            const view = box.getBoundingClientRect(), top = mark.getBoundingClientRect().top;
            if (top > view.bottom - 60) box.scrollTop += top - (view.top + view.height / 2);
        }
        window.scrollTo(0, 0);
    }""")
    page.wait_for_timeout(300)


def assert_offline(page, url: str):
    host = urlsplit(url).netloc
    foreign = [u for u in page.requests if urlsplit(u).scheme in ("http", "https", "ws", "wss")
               and urlsplit(u).netloc != host]
    assert not foreign, f"the page fetched from elsewhere: {foreign[:5]}"


# -- the test ----------------------------------------------------------------------------------------

def test_chat_in_a_real_browser(browser, app_url):
    page = open_page(browser, app_url, viewport={"width": 1280, "height": 900})
    header = page.locator("#rag-header").inner_text()
    assert "Drucksache 7/844" in header and "locally" in header

    # German, sent with Enter: the fact, a [n] marker, a citation that opens onto the marked quote
    de = ask(page, "Wie hoch war der Außenhandel mit Kasachstan im Jahr 2016?", 1, via="enter")
    assert TRADE_2016.search(de.inner_text()), de.inner_text()
    assert de.locator(".rag-ref").count() >= 1 and de.locator("details.rag-cite").count() >= 1
    assert re.search(r"\d+\.\d s", de.locator(".rag-meta").inner_text())
    cite, mark = open_first_citation(de)
    assert mark.inner_text().strip() and mark.inner_text().strip() in cite.locator(".rag-passage").inner_text()
    assert re.search(r"S\. \d", cite.locator("summary").inner_text())
    assert page.locator("#rag-passages details.rag-hit").count() >= 1  # the side panel lists the passages
    show_turn(page, de)
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / "screenshot.png"), full_page=True)

    # a follow-up uses the conversation so far
    follow = ask(page, "Und im Jahr davor?", 2)
    assert TRADE_2015.search(follow.inner_text()), follow.inner_text()

    # English, from an example button
    page.get_by_role("button", name="Which universities in Wismar have partnerships in Kazakhstan?").click()
    en = wait_answer(page, 3)
    assert WISMAR.search(en.inner_text()), en.inner_text()
    assert en.locator("details.rag-cite").count() >= 1
    _, mark = open_first_citation(en)

    # not in the paper: a refusal, styled as such, without citations
    no = ask(page, UNANSWERABLE, 4)
    assert no.locator(".rag-refusal").count() == 1, no.inner_html()
    assert "Not in the paper" in no.inner_text() and no.locator("details.rag-cite").count() == 0

    # an empty question is a friendly note, not a stack trace
    err = ask(page, "   ", 5)
    assert err.locator(".rag-error").count() == 1 and "Traceback" not in err.inner_text()

    # a new conversation starts empty
    page.click("#rag-clear")
    page.wait_for_function("() => !document.querySelector('#rag-chat .rag-answer')")
    assert_offline(page, app_url)
    assert not page.errors, page.errors
    page.context.close()


def test_phone_width(browser, app_url):
    page = open_page(browser, app_url, viewport={"width": 390, "height": 844}, device_scale_factor=2,
                     is_mobile=True, has_touch=True)
    msg = ask(page, "Wann besuchte der Botschafter das Museum in Peenemünde?", 1)
    assert "2016" in msg.inner_text(), msg.inner_text()
    cite, _ = open_first_citation(msg)
    show_turn(page, msg)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page is {overflow}px wider than a phone"
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / "screenshot-mobile.png"), full_page=True)
    assert_offline(page, app_url)
    page.context.close()
