"""Greedy and span-constrained decoding with a transformers causal LM (the in-process generator's engine).

``CausalLM`` loads a model once per process (cached by path), and offers free greedy generation
(``stream``/``complete``, with stop strings) and ``copy_span``: the span of a source text the model copies
by constrained greedy decoding, so a small base model cannot write anything that is not in the evidence.
The pure helpers above it (``SpanConstraint`` and friends) are what makes the constraint exact.

About 410 lines, over the house limit on purpose: the decoding loop, its prompt-cache reuse and the span
constraint it enforces are one idea; split, each half would need the other's internals.
"""
from __future__ import annotations

import copy
import re
import threading
import warnings
from pathlib import Path
from typing import Iterator, Sequence

from .errors import InputError, ModelError
from .head import Logits

# --------------------------------------------------------------------------- pure helpers

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


def shared_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading token ids ``a`` and ``b`` have in common."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


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
_SHORTLIST: dict[str, object] = {}  # path -> rag.head.Int8Head (or None: not available)
_LOAD_LOCK = threading.Lock()


class CausalLM:
    """Any transformers causal LM: a local folder, a ``.gguf`` file, or a hub id where a hub is reachable.

    Greedy decoding only: answers must be reproducible. ``quantize`` runs every Linear layer (the output
    head too) as dynamic int8: on gemma-3-270m that is 1.5-1.8x faster at prefill/decode but clearly worse
    (perplexity on the paper 12 -> 29, see scripts/bench_generator.py) and batch-dependent, so it is off
    by default. ``threads`` sets torch's (process-wide) thread count when the model loads; 1 is the
    default because on a busy 2-core machine two threads made a decoding step 12x slower, not faster.
    None keeps torch's default.
    """

    def __init__(self, model: str | Path, *, quantize: bool = False, threads: int | None = 1,
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
        """(cache, logits of the next token) after ``ids``. The last prompt's state is reused as far as
        the two prompts agree (prompts of one template share their instructions and examples)."""
        import torch

        memo = self._memo
        with torch.inference_mode():
            if memo is not None and memo[0] == tuple(ids):
                return copy.deepcopy(memo[1]), memo[2]
            cache, rest = self._reuse(ids)
            out = self.model(input_ids=torch.tensor([rest]), cache=cache, use_cache=True, logits_to_keep=1)
            logits = out.logits[0, -1].float()
            self._memo = (tuple(ids), copy.deepcopy(out.cache), logits)
            return out.cache, logits

    def _reuse(self, ids: list[int]):
        """(cache, ids still to run): the last prompt's cache cut back to the prefix it shares with
        ``ids`` (at least one token is left to run, for its logits); (None, ids) when nothing is shared
        or the cache cannot be cut (e.g. a sliding window already full)."""
        memo = self._memo
        keep = min(shared_prefix(memo[0], ids), len(ids) - 1) if memo is not None else 0
        if keep <= 0:
            return None, ids
        cache = copy.deepcopy(memo[1])
        try:
            cache.crop(keep - cache.get_seq_length())  # a negative count: the tokens to remove
        except (AttributeError, RuntimeError, ValueError):
            return None, ids
        return cache, ids[keep:]

    def _decode(self, ids: list[int], max_new_tokens: int, choose, *, full: bool = True,
                shortlist: bool = False) -> Iterator[int]:
        """Greedy decoding. ``choose(logit_of, step)`` returns the next token id or None to stop, where
        ``logit_of(idx)`` gives the logits of the token ids in tensor ``idx`` (``None``: all of them)
        and ``logit_of.argmax()`` the best token.

        With ``full=False`` only the requested rows of the output head are computed (the head of a 262k
        vocabulary costs more than all decoder layers together), and with ``shortlist`` the argmax comes
        from an int8 copy of the head re-scored in float32 (rag/head.py). Soft-capping, if the
        model has it, is left out there: it is monotonic, so argmaxes are unchanged.
        """
        import torch

        cache, logits = self._prefill(ids)
        head = None if full else self._head()
        fast = self._shortlist() if head is not None and shortlist else None
        logit_of = Logits(logits)
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
                    logit_of = Logits(out.logits[0, -1].float())
                else:
                    decoder, weight, bias = head
                    out = decoder(input_ids=x, cache=cache, use_cache=True)
                    logit_of = Logits(hidden=out.last_hidden_state[0, -1], head=(weight, bias), fast=fast)
            cache = out.cache

    def _shortlist(self):
        """The int8 shortlist head of this model (built once per model, on first use), or None."""
        if self.path not in _SHORTLIST:
            with _LOAD_LOCK:
                if self.path not in _SHORTLIST:
                    from .head import shortlist_head

                    _, weight, bias = self._head()
                    _SHORTLIST[self.path] = shortlist_head(weight, bias)
        return _SHORTLIST[self.path]

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

    # ---- generation

    def stream(self, prompt: str, *, max_new_tokens: int, stop: Sequence[str] = ()) -> Iterator[str]:
        stop_ids = self._stop_ids()

        def greedy(logit_of, step):
            token = logit_of.argmax()
            return None if token in stop_ids else token

        tok, out, emitted = self.tokenizer, [], 0
        for token in self._decode(self._encode_prompt(prompt), max_new_tokens, greedy, full=False, shortlist=True):
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

