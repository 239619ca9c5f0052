// The chat window's behaviour (ui.py). Runs once per page as the js_on_load of the hidden style
// element; everything is delegated from the document, because Gradio re-renders messages.
if (!window.ragChat) {
  window.ragChat = true;
  const chat = () => document.querySelector('#rag-chat');

  // the nearest ancestor that scrolls by itself (the chat box on a desktop; none on a phone)
  const scrollBox = el => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const o = getComputedStyle(p).overflowY;
      if ((o === 'auto' || o === 'scroll') && p.scrollHeight > p.clientHeight + 1) return p;
    }
    return null;
  };
  // put the start of el at the top of its scroll box and inside the window
  const reveal = el => {
    const box = scrollBox(el);
    if (box) box.scrollTop += el.getBoundingClientRect().top - box.getBoundingClientRect().top - 8;
    const top = el.getBoundingClientRect().top;  // the page itself: always on a phone, else when out of view
    if (!box || top < 0 || top > innerHeight - 80) window.scrollBy(0, top - 8);
  };

  // [n] in the answer text: open source n of the same answer and show its marked quote
  const openSource = ref => {
    const n = (ref.className.match(/\brag-ref-(\d+)\b/) || [])[1];
    const cite = n && ref.closest('.rag-answer')?.querySelector('details.rag-cite-' + n);
    if (!cite) return;
    cite.open = true;
    cite.classList.add('rag-flash');
    setTimeout(() => cite.classList.remove('rag-flash'), 1500);
    (cite.querySelector('.rag-passage mark') || cite).scrollIntoView({block: 'center', behavior: 'smooth'});
  };

  // the copy button: the plain text the server rendered beside the answer, not the HTML
  const copy = async btn => {
    const text = btn.closest('.rag-answer')?.querySelector('.rag-plain')?.textContent;
    if (text == null) return;
    try {
      await navigator.clipboard.writeText(text);
    } catch (err) {  // plain http beyond localhost has no clipboard API
      const area = document.createElement('textarea');
      area.value = text;
      area.style.position = 'fixed';
      area.style.opacity = '0';
      document.body.append(area);
      area.select();
      document.execCommand('copy');
      area.remove();
    }
    btn.classList.add('rag-copied');  // the button carries both labels; CSS shows one
    setTimeout(() => btn.classList.remove('rag-copied'), 1500);
  };

  // on a phone the passages panel is below the chat: the link in the latest answer goes there
  const toPassages = () => {
    const box = document.querySelector('#rag-passages-box');
    if (!box) return;
    if (!box.querySelector('#rag-passages')?.offsetParent) box.querySelector('button')?.click();
    box.scrollIntoView({block: 'start', behavior: 'smooth'});
  };

  document.addEventListener('click', e => {
    const t = e.target instanceof Element ? e.target : null;
    if (!t) return;
    const ref = t.closest('#rag-chat .rag-ref'), btn = t.closest('#rag-chat .rag-copy');
    const link = t.closest('#rag-chat .rag-to-passages');
    if (ref) openSource(ref);
    else if (btn) copy(btn);
    else if (link) toPassages();
    else return;
    e.preventDefault();
  });
  document.addEventListener('keydown', e => {
    if ((e.key === 'Enter' || e.key === ' ') && e.target instanceof Element && e.target.matches('#rag-chat .rag-ref')) {
      e.preventDefault();
      openSource(e.target);
    }
  });

  // Scrolling (Gradio's own autoscroll, which jumps to the end, is off): a new question goes to the
  // top, so its answer grows below it; when the answer is complete, its question is put at the top
  // again (the layout may have moved meanwhile), so the start of the answer is in view.
  let questions = 0, answers = 0, queued = false;
  const settle = () => {
    queued = false;
    const c = chat();
    if (!c) return;
    const asked = c.querySelectorAll('[data-testid="user"]');
    const done = c.querySelectorAll('.rag-answer:not(.rag-streaming), .rag-error');
    const last = asked[asked.length - 1]?.closest('.message-row') || asked[asked.length - 1];
    if (asked.length > questions) reveal(last);
    if (done.length > answers) reveal(last || done[done.length - 1]);
    questions = asked.length;
    answers = done.length;
  };
  new MutationObserver(() => {
    if (!queued) { queued = true; requestAnimationFrame(settle); }
  }).observe(document.body, {childList: true, subtree: true});
}
