"""The decoder's head scoring (rag/head.py) against the plain float32 product (no model)."""
import pytest

torch = pytest.importorskip("torch")

from rag.head import Int8Head, Logits, shortlist_head  # noqa: E402


def _head(vocab=20000, dim=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(vocab, dim, generator=g) * 0.05, torch.randn(vocab, generator=g) * 0.01, g


def test_the_shortlist_argmax_is_the_float32_argmax():
    weight, bias, g = _head()
    fast = Int8Head(weight, bias)
    for _ in range(200):
        hidden = torch.randn(64, generator=g) * 4
        assert fast.argmax(hidden) == int((weight @ hidden + bias).argmax())


def test_logits_whole_by_rows_and_by_shortlist_agree():
    weight, bias, g = _head(vocab=5000)
    hidden = torch.randn(64, generator=g)
    full = weight @ hidden + bias
    idx = torch.tensor([3, 17, 4999])
    by_rows = Logits(hidden=hidden, head=(weight, bias))
    assert torch.allclose(by_rows(idx), full[idx], atol=1e-5)
    assert torch.allclose(by_rows(None), full, atol=1e-5)
    assert Logits(full).argmax() == by_rows.argmax() == int(full.argmax())
    assert Logits(hidden=hidden, head=(weight, bias), fast=shortlist_head(weight, bias)).argmax() == int(full.argmax())
    assert Logits(full)(idx).tolist() == full[idx].tolist()


def test_a_tie_goes_to_the_lower_token_as_in_torch_argmax():
    weight = torch.zeros(1000, 8)
    weight[[700, 200], 0] = 1.0  # two equal best rows
    assert Int8Head(weight).argmax(torch.ones(8)) == 200 == int((weight @ torch.ones(8)).argmax())
