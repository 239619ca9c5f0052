"""The Generator seam: a Protocol, the transformers implementation and a deterministic fake.

Besides free generation (``complete``/``stream``) a generator can *score* candidate continuations by
log-likelihood and *copy* a span of a source text by constrained greedy decoding. The last two are what a
small base model is good for: it cannot invent text that is not in the evidence.
"""
from __future__ import annotations

import copy
import re
import threading
import warnings
from pathlib import Path
from typing import Iterator, Protocol, Sequence

from .errors import InputError, ModelError

ANSWER_LABEL = "Antwort:"  # plain few-shot prompts end with this; override per call for English


class Generator(Protocol):
    name: str

    def warm_up(self) -> None: ...

    def complete(self, prompt: str, *, max_new_tokens: int, stop: Sequence[str] = ()) -> str: ...

    def stream(self, prompt: str, *, max_new_tokens: int, stop: Sequence[str] = ()) -> Iterator[str]: ...

    def score(self, prompt: str, continuations: Sequence[str]) -> list[float]: ...

    def copy_span(self, prompt: str, source: str, *, max_new_tokens: int) -> str: ...

    def format_prompt(self, system: str, examples: list[tuple[str, str]], user: str) -> str: ...

    def count_tokens(self, text: str) -> int: ...


# --------------------------------------------------------------------------- pure helpers

def plain_prompt(system: str, examples: Sequence[tuple[str, str]], user: str,
                 answer_label: str = ANSWER_LABEL) -> str:
    """A few-shot completion prompt for base models: blocks separated by blank lines, each user turn
    verbatim and followed by ``answer_label`` and the answer; ends with the label and no space."""
    parts = [system.strip()] if system.strip() else []
    parts += [f"{u.strip()}\n{answer_label} {v.strip()}" for u, v in examples]
    parts.append(f"{user.strip()}\n{answer_label}")
    return "\n\n".join(parts)


def collapse_whitespace(text: str) -> tuple[str, list[int]]:
    """``text`` with every whitespace run turned into one space, and for each kept character its offset
    in ``text`` (plus one final entry, ``len(text)``), so spans map back to the original."""
    out, where = [], []
    for m in re.finditer(r"\s+|\S+", text):
        if m.group().isspace():
            out.append(" ")
            where.append(m.start())
        else:
            out.append(m.group())
            where.extend(range(m.start(), m.end()))
    where.append(len(text))
    return "".join(out), where


def stop_cut(text: str, stops: Sequence[str]) -> tuple[int, bool]:
    """How much of generated ``text`` is safe to emit: ``(n, stopped)``.

    If a stop string occurs, ``n`` is where the earliest one starts and ``stopped`` is True. Otherwise the
    longest tail of ``text`` that could still grow into a stop string is held back.
    """
    hits = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    if hits:
        return min(hits), True
    hold = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), hold, -1):
            if text.endswith(s[:k]):
                hold = k
                break
    return len(text) - hold, False


class SpanConstraint:
    """Which token may come next so that the output stays a contiguous run of ``source`` tokens.

    ``ends`` holds every source position where an occurrence of the output so far ends; initially every
    position is a possible start (a suffix trie, walked implicitly). ``aliases`` maps another token id to
    the source token ids it may stand for (e.g. "▁am" for "▁Am", "▁Platz" for "Platz"): the model may
    write either, the span is still taken from the source.
    """

    def __init__(self, source: Sequence[int], aliases: dict[int, frozenset[int]] | None = None):
        self.source = list(source)
        self.aliases = aliases or {}
        self._stands_for: dict[int, set[int]] = {}  # source id -> alias ids
        for alias, targets in self.aliases.items():
            for t in targets:
                self._stands_for.setdefault(t, set()).add(alias)
        self.ends = list(range(len(self.source)))
        self.length = 0  # tokens accepted so far

    def next_source(self) -> set[int]:
        """Source token ids that continue some occurrence of the span so far."""
        return {self.source[e] for e in self.ends if e < len(self.source)}

    def allowed(self) -> set[int]:
        nxt = self.next_source()
        return nxt.union(*(self._stands_for.get(t, ()) for t in nxt))

    def advance(self, token: int) -> None:
        ok = {token} | set(self.aliases.get(token, ()))
        ends = [e + 1 for e in self.ends if e < len(self.source) and self.source[e] in ok]
        if not ends:
            raise ValueError(f"token {token} does not continue the span")
        self.ends = ends
        self.length += 1

    @property
    def start(self) -> int:
        """Token index where the first occurrence of the accepted span starts."""
        return min(self.ends) - self.length

    def end_followed_by(self, tokens: set[int]) -> int | None:
        """The first end of an occurrence whose next source token is in ``tokens``, or None."""
        hits = [e for e in self.ends if e < len(self.source) and self.source[e] in tokens]
        return min(hits) if hits else None


def token_variants(piece: str, marker: str) -> set[str]:
    """Spellings of a vocabulary piece the model may use for it: case and leading-space variants."""
    body = piece[len(marker):] if piece.startswith(marker) else piece
    bodies = {body, body.lower(), body[:1].upper() + body[1:]}
    return {m + b for b in bodies for m in ("", marker) if m + b} - {piece}


# --------------------------------------------------------------------------- the real one

_LOADED: dict[tuple[str, bool], tuple[object, object]] = {}  # (path, quantize) -> (model, tokenizer)
_NEWLINES: dict[str, frozenset[int]] = {}  # path -> ids of tokens containing a line break
_VOCAB: dict[str, tuple[dict[str, int], str]] = {}  # path -> (piece -> id, word-start marker)
_LOAD_LOCK = threading.Lock()


class TransformersGenerator:
    """Any transformers causal LM: a local folder, a ``.gguf`` file, or a hub id where a hub is reachable.

    Greedy decoding only: answers must be reproducible. ``quantize`` runs every Linear layer (the output
    head too) as dynamic int8: on gemma-3-270m that is 1.5-1.8x faster at prefill/decode but clearly worse
    (perplexity on the paper 12 -> 29, see scripts/bench_generator.py), and batch-dependent, so leave it
    off for scoring. ``threads`` sets torch's (process-wide) thread count when the model loads; 1 is the
    default because on a busy 2-core machine two threads made a decoding step 12x slower, not faster.
    None keeps torch's default.
    """

    def __init__(self, model: str | Path, *, quantize: bool = True, threads: int | None = 1,
                 name: str | None = None):
        self.path = str(model)
        self.quantize = quantize
        self.threads = threads
        self.name = name or Path(self.path).name or self.path
        self._memo: tuple[tuple[int, ...], object, object] | None = None  # last prompt: ids, cache, logits

    # ---- loading

    def warm_up(self) -> None:
        key = (self.path, self.quantize)
        if key in _LOADED:
            return
        with _LOAD_LOCK:
            if key not in _LOADED:
                _LOADED[key] = _load(self.path, self.quantize, self.threads)

    @property
    def model(self):
        self.warm_up()
        return _LOADED[(self.path, self.quantize)][0]

    @property
    def tokenizer(self):
        self.warm_up()
        return _LOADED[(self.path, self.quantize)][1]

    # ---- prompts and tokens

    def format_prompt(self, system: str, examples: list[tuple[str, str]], user: str, *,
                      answer_label: str = ANSWER_LABEL) -> str:
        """The tokenizer's chat template if it has one (instruction-tuned models), else ``plain_prompt``."""
        tok = self.tokenizer
        if not getattr(tok, "chat_template", None):
            return plain_prompt(system, examples, user, answer_label)
        msgs = []
        for u, a in examples:
            msgs += [{"role": "user", "content": u}, {"role": "assistant", "content": a}]
        msgs.append({"role": "user", "content": user})
        if system:
            try:
                return tok.apply_chat_template([{"role": "system", "content": system}] + msgs,
                                               tokenize=False, add_generation_prompt=True)
            except Exception:  # some templates reject a system turn: put it before the first user turn
                msgs[0] = {"role": "user", "content": f"{system}\n\n{msgs[0]['content']}"}
        return tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False).input_ids)

    def _encode_prompt(self, prompt: str) -> list[int]:
        tok = self.tokenizer
        # a chat template already starts with the BOS token; do not add a second one
        special = not (getattr(tok, "bos_token", None) and prompt.startswith(tok.bos_token))
        ids = tok(prompt, add_special_tokens=special).input_ids
        if not ids:
            raise InputError("empty prompt")
        return ids

    def _stop_ids(self) -> set[int]:
        ids = set()
        for src in (self.model.generation_config.eos_token_id, self.tokenizer.eos_token_id):
            ids.update(src if isinstance(src, (list, tuple)) else [src] if src is not None else [])
        return ids

    def _newline_ids(self) -> frozenset[int]:
        """Tokens containing a line break ("Ċ" is the byte-level BPE spelling of "\\n")."""
        if self.path not in _NEWLINES:
            vocab, _ = self._vocab()
            _NEWLINES[self.path] = frozenset(i for piece, i in vocab.items() if "\n" in piece or "Ċ" in piece)
        return _NEWLINES[self.path]

    # ---- forward passes

    def _prefill(self, ids: list[int]):
        """(cache, logits of the next token) after ``ids``; the last prompt's state is reused."""
        import torch

        memo = self._memo
        with torch.inference_mode():
            if memo is not None and memo[0] == tuple(ids):
                return copy.deepcopy(memo[1]), memo[2]
            if memo is not None and len(memo[0]) < len(ids) and tuple(ids[:len(memo[0])]) == memo[0]:
                cache, rest = copy.deepcopy(memo[1]), ids[len(memo[0]):]
            else:
                cache, rest = None, ids
            out = self.model(input_ids=torch.tensor([rest]), cache=cache, use_cache=True, logits_to_keep=1)
            logits = out.logits[0, -1].float()
            self._memo = (tuple(ids), copy.deepcopy(out.cache), logits)
            return out.cache, logits

    def _decode(self, ids: list[int], max_new_tokens: int, choose, *, full: bool = True) -> Iterator[int]:
        """Greedy decoding. ``choose(logit_of, step)`` returns the next token id or None to stop, where
        ``logit_of(idx)`` gives the logits of the token ids in tensor ``idx`` (``None``: all of them).

        With ``full=False`` only the requested rows of the output head are computed (the head of a 262k
        vocabulary costs more than all decoder layers together); ``logit_of(None)`` is then unavailable.
        Soft-capping, if the model has it, is left out there: it is monotonic, so argmaxes are unchanged.
        """
        import torch

        cache, logits = self._prefill(ids)
        head = None if full else self._head()
        logit_of = lambda idx, lg=logits: lg if idx is None else lg[idx]  # noqa: E731
        for step in range(max_new_tokens):
            token = choose(logit_of, step)
            if token is None:
                return
            yield token
            if step + 1 == max_new_tokens:
                return
            x = torch.tensor([[token]])
            with torch.inference_mode():
                if head is None:
                    out = self.model(input_ids=x, cache=cache, use_cache=True, logits_to_keep=1)
                    logit_of = lambda idx, lg=out.logits[0, -1].float(): lg if idx is None else lg[idx]  # noqa: E731
                else:
                    decoder, weight, bias = head
                    out = decoder(input_ids=x, cache=cache, use_cache=True)
                    logit_of = lambda idx, h=out.last_hidden_state[0, -1]: _rows(weight, bias, idx, h)  # noqa: E731
            cache = out.cache

    def _head(self):
        """(decoder, head weight, head bias) when the output head is a plain Linear, else None."""
        import torch

        head = self.model.get_output_embeddings()
        if type(head) is not torch.nn.Linear:  # e.g. quantized: compute full logits instead
            return None
        try:
            return self.model.get_decoder(), head.weight, head.bias
        except (AttributeError, NotImplementedError):
            return None

    # ---- the Generator API

    def stream(self, prompt: str, *, max_new_tokens: int, stop: Sequence[str] = ()) -> Iterator[str]:
        stop_ids = self._stop_ids()

        def greedy(logit_of, step):
            token = int(logit_of(None).argmax())
            return None if token in stop_ids else token

        tok, out, emitted = self.tokenizer, [], 0
        for token in self._decode(self._encode_prompt(prompt), max_new_tokens, greedy):
            out.append(token)
            text = tok.decode(out, skip_special_tokens=True, clean_up_tokenization_spaces=False)
            if text.endswith("\ufffd"):  # half of a multi-byte character; wait for the rest
                continue
            cut, stopped = stop_cut(text, stop)
            if cut > emitted:
                yield text[emitted:cut]
                emitted = cut
            if stopped:
                return
        text = tok.decode(out, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        if len(text) > emitted:  # the end: nothing more can complete a stop string
            yield text[emitted:]

    def complete(self, prompt: str, *, max_new_tokens: int, stop: Sequence[str] = ()) -> str:
        return "".join(self.stream(prompt, max_new_tokens=max_new_tokens, stop=stop))

    def score(self, prompt: str, continuations: Sequence[str]) -> list[float]:
        """Total log-probability of each continuation after ``prompt``.

        The prompt runs once; its cache is repeated over the batch of right-padded continuations (causal
        attention never looks at the padding to the right, so no mask is needed).
        """
        import torch

        if not continuations:
            return []
        tok = self.tokenizer
        conts = [tok(c, add_special_tokens=False).input_ids for c in continuations]
        cache, first = self._prefill(self._encode_prompt(prompt))
        first_lp = torch.log_softmax(first, -1)
        scores = [float(first_lp[c[0]]) if c else 0.0 for c in conts]
        longest = max(len(c) for c in conts)
        if longest < 2:
            return scores
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        batch = torch.tensor([c + [pad] * (longest - len(c)) for c in conts])
        keep = torch.zeros_like(batch, dtype=torch.bool)  # positions whose logits predict a real token
        for i, c in enumerate(conts):
            keep[i, :max(len(c) - 1, 0)] = True
        cache.batch_repeat_interleave(len(conts))
        with torch.inference_mode():
            logits = self.model(input_ids=batch, cache=cache, use_cache=True, logits_to_keep=keep).logits
        logits = logits.reshape(-1, logits.shape[-1]) if logits.dim() == 3 and logits.shape[0] == 1 else logits
        targets = torch.cat([torch.tensor(c[1:], dtype=torch.long) for c in conts if len(c) > 1])
        lp = torch.log_softmax(logits.float(), -1).gather(-1, targets[:, None])[:, 0]
        i = 0
        for row, c in enumerate(conts):
            n = max(len(c) - 1, 0)
            scores[row] += float(lp[i:i + n].sum())
            i += n
        return scores

    def copy_span(self, prompt: str, source: str, *, max_new_tokens: int) -> str:
        """The span of ``source`` the model copies greedily after ``prompt`` (at least one token).

        Each step picks the likeliest of: a token continuing the span (or a case/space variant of one), a
        stop token (EOS or any token with a line break), or a proper prefix of a continuing token (the
        model wants to leave the source mid-token, e.g. ")" where the source has "),": the span ends after
        that prefix). Whitespace runs in the source count as single spaces, so a line break in the source
        never blocks a span. The result is the verbatim slice of ``source``, stripped.
        """
        import torch

        tok = self.tokenizer
        flat, where = collapse_whitespace(source)
        enc = tok(flat, add_special_tokens=False, return_offsets_mapping=True)
        ids, offsets = enc.input_ids, enc.offset_mapping
        if not ids:
            return ""
        vocab, marker = self._vocab()
        pieces = dict(zip(set(ids), tok.convert_ids_to_tokens(list(set(ids)))))
        aliases: dict[int, set[int]] = {}
        prefixes: dict[int, tuple[int, int]] = {}  # prefix token id -> (source token id, chars)
        for sid, piece in pieces.items():
            for v in token_variants(piece, marker):
                if v in vocab:
                    aliases.setdefault(vocab[v], set()).add(sid)
            for k in range(1, len(piece)):
                if piece[:k] in vocab and piece[:k] != marker:
                    prefixes.setdefault(vocab[piece[:k]], (sid, k))
        span = SpanConstraint(ids, {a: frozenset(t) for a, t in aliases.items()})
        stop_ids = sorted(self._stop_ids() | self._newline_ids())
        partial: list[tuple[int, int]] = []  # (source position, chars) of a last, partial token

        def choose(logit_of, step):
            allowed = sorted(span.allowed())
            if not allowed:
                return None
            nxt = span.next_source()
            pre = [p for p, (sid, _) in prefixes.items() if sid in nxt] if step > 0 else []
            stops = stop_ids if step > 0 else []
            cand = torch.tensor(allowed + stops + pre)
            lg = logit_of(cand)
            i = int(lg.argmax())
            if i >= len(allowed) + len(stops):  # a prefix of a continuing token: end inside it
                sid, k = prefixes[pre[i - len(allowed) - len(stops)]]
                partial.append((span.end_followed_by({sid}), k))
                return None
            if i >= len(allowed):
                return None
            span.advance(allowed[i])
            return allowed[i]

        for _ in self._decode(self._encode_prompt(prompt), max_new_tokens, choose, full=False):
            pass
        if span.length == 0:
            return ""
        if partial:  # the occurrence followed by the token the last, partial one is a prefix of
            pos, k = partial[0]
            a, b = offsets[pos - span.length][0], offsets[pos][0] + k
        else:
            a, b = offsets[span.start][0], offsets[span.start + span.length - 1][1]
        return source[where[a]:where[b - 1] + 1].strip() if b > a else ""

    def _vocab(self) -> tuple[dict[str, int], str]:
        """The vocabulary (piece -> id) and its word-start marker ("▁" SentencePiece, "Ġ" byte-level BPE)."""
        if self.path not in _VOCAB:
            vocab = self.tokenizer.get_vocab()
            marker = "▁" if sum(p.startswith("▁") for p in vocab) >= sum(p.startswith("Ġ") for p in vocab) else "Ġ"
            _VOCAB[self.path] = (vocab, marker)
        return _VOCAB[self.path]


def _load(path: str, quantize: bool, threads: int | None):
    import torch

    local = Path(path).expanduser()
    looks_local = local.is_absolute() or path.startswith((".", "~")) or local.exists()
    if looks_local and not local.exists():
        raise ModelError(f"generator model not found: {local}")
    if threads:
        torch.set_num_threads(threads)
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        kw = {}
        if local.is_file() and local.suffix == ".gguf":
            path, kw = str(local.parent), {"gguf_file": local.name}
        tok = AutoTokenizer.from_pretrained(path, **kw)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, **kw)
    except Exception as exc:  # the library raises many kinds; report one line
        raise ModelError(f"cannot load generator {path!r}: {type(exc).__name__}: {exc}".splitlines()[0]) from exc
    model.eval().requires_grad_(False)
    if quantize:
        with warnings.catch_warnings():  # torch.ao.quantization is deprecated in favour of torchao
            warnings.simplefilter("ignore")
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    return model, tok


def _rows(weight, bias, idx, hidden):
    """Logits of the token ids ``idx`` only: ``hidden @ weight[idx].T (+ bias)``."""
    import torch

    with torch.inference_mode():
        out = weight[idx] @ hidden
        return out if bias is None else out + bias[idx]


# --------------------------------------------------------------------------- the fake

class FakeGenerator:
    """Deterministic stand-in for fast tests; loads nothing.

    - ``complete``/``stream``: ``reply`` (default "42"), cut at the first stop string and at
      ``max_new_tokens`` words; ``stream`` yields it word by word (with the spaces).
    - ``score``: the negative length in characters, so the shortest continuation wins, unless it is in
      ``preferred`` (then 0.0, beating every other).
    - ``copy_span``: the first sentence of ``source`` (up to and including the first ". ", "? ", "! " or
      line break), cut to ``max_new_tokens`` words, stripped.
    - ``format_prompt``: the plain few-shot layout; ``count_tokens``: the number of whitespace-split words.
    """

    name = "fake-generator"

    def __init__(self, reply: str = "42", preferred: Sequence[str] = ()):
        self.reply = reply
        self.preferred = tuple(preferred)
        self.calls: list[tuple[str, str]] = []  # (method, prompt) for tests that check what was asked

    def warm_up(self) -> None:
        pass

    def stream(self, prompt: str, *, max_new_tokens: int, stop: Sequence[str] = ()) -> Iterator[str]:
        self.calls.append(("stream", prompt))
        text = self.reply
        cut, _ = stop_cut(text, stop)
        words = re.findall(r"\s*\S+", text[:cut] if any(s and s in text for s in stop) else text)
        yield from words[:max_new_tokens]

    def complete(self, prompt: str, *, max_new_tokens: int, stop: Sequence[str] = ()) -> str:
        return "".join(self.stream(prompt, max_new_tokens=max_new_tokens, stop=stop))

    def score(self, prompt: str, continuations: Sequence[str]) -> list[float]:
        self.calls.append(("score", prompt))
        return [0.0 if c in self.preferred else -float(len(c) + 1) for c in continuations]

    def copy_span(self, prompt: str, source: str, *, max_new_tokens: int) -> str:
        self.calls.append(("copy_span", prompt))
        m = re.search(r"[.?!](?=\s)|\n", source)
        first = source[:m.end()] if m else source
        words = re.findall(r"\s*\S+", first)
        return "".join(words[:max_new_tokens]).strip()

    def format_prompt(self, system: str, examples: list[tuple[str, str]], user: str, *,
                      answer_label: str = ANSWER_LABEL) -> str:
        return plain_prompt(system, examples, user, answer_label)

    def count_tokens(self, text: str) -> int:
        return len(text.split())
