"""Scores from a causal LM's output head for the decoder in rag/decoding.py: ``Logits`` gives the
next token's logits whole, row by row, or its argmax, and ``Int8Head`` makes that argmax about three
times cheaper.

The head of gemma-3-270m (262k tokens x 640) reads 671 MB a step in float32, more than all decoder
layers together. ``Int8Head`` keeps an int8 copy (168 MB, one scale per row) that scores every token;
the ``SHORTLIST`` best are scored again exactly in float32 and the best of those is the token. The
int8 scores are off by quantisation error (up to 2.5 logits, measured on gemma-3-270m's
translations), so the token is the float32 argmax unless more than ``SHORTLIST`` tokens score within
that error of it: likely, not certain. The 65 reference translations of eval/translation came out
identical to the float32 ones.
"""
from __future__ import annotations

SHORTLIST = 64


class Logits:
    """The next token's logits: given whole (``logits``), or row by row from the head (``hidden``
    and ``head`` = (weight, bias)), with ``fast`` (an ``Int8Head``) for the argmax where there is one."""

    def __init__(self, logits=None, *, hidden=None, head=None, fast=None):
        self.logits, self.hidden, self.head, self.fast = logits, hidden, head, fast

    def __call__(self, idx):
        """The logits of the token ids in tensor ``idx`` (``None``: all of them)."""
        if self.logits is None:
            return rows(*self.head, idx, self.hidden)
        return self.logits if idx is None else self.logits[idx]

    def argmax(self) -> int:
        if self.logits is None and self.fast is not None:
            return self.fast.argmax(self.hidden)
        return int(self(None).argmax())


def rows(weight, bias, idx, hidden):
    """Logits of the token ids ``idx`` only (``None``: all): ``hidden @ weight[idx].T (+ bias)``."""
    import torch

    with torch.inference_mode():
        out = (weight if idx is None else weight[idx]) @ hidden
        return out if bias is None else out + (bias if idx is None else bias[idx])


class Int8Head:
    """``argmax(hidden)``: the token whose row of ``weight`` (+ ``bias``) scores highest against
    ``hidden``, from an int8 shortlist re-scored in float32. Building it quantises the head once (a
    few seconds for 262k rows)."""

    def __init__(self, weight, bias=None, shortlist: int = SHORTLIST):
        import warnings

        import torch

        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # quantised tensors are deprecated in favour of torchao (torch is pinned)
            w = weight.detach().float()
            scales = (torch.maximum(w.amax(dim=1), -w.amin(dim=1)) / 127).clamp(min=1e-12).double()  # no copy of w
            zeros = torch.zeros(w.shape[0], dtype=torch.long)
            q = torch.quantize_per_channel(w, scales, zeros, 0, torch.qint8)
            self._packed = torch.ops.quantized.linear_prepack(q, None)
        self.weight, self.bias = weight, bias
        self.k = min(shortlist, weight.shape[0])

    def argmax(self, hidden) -> int:
        import torch

        with torch.inference_mode():
            approx = torch.ops.quantized.linear_dynamic(hidden[None].float(), self._packed, True)[0]
            best = torch.topk(approx, self.k).indices.sort().values  # ascending: a tie goes to the lower id
            return int(best[int(rows(self.weight, self.bias, best, hidden).argmax())])


def shortlist_head(weight, bias=None) -> Int8Head | None:
    """An ``Int8Head``, or None where this torch has no quantised CPU engine (the full head is used)."""
    try:
        return Int8Head(weight, bias)
    except (RuntimeError, NotImplementedError, AttributeError):
        return None
