"""The one service under every front end: the gate (one model thread, a bounded queue, a deadline) and
the one stream bridge, read by a thread (the chat) and by an event loop (the HTTP routes)."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

from rag.config import DEFAULT_CORPUS as CORPUS, Settings
from rag.embedding import FakeEmbedder
from rag.errors import BusyError, InputError, ModelError, RagError, TimeoutError_
from rag.service import Gate, LoadingError, Service, Stream
from rag.types import Answer

QUESTION = "Wann besuchte der Botschafter der Republik Kasachstan das Museum in Peenemünde?"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    from rag.pipeline import Pipeline

    settings = Settings.from_env(index_dir=tmp_path_factory.mktemp("service-index"), corpus=(CORPUS,),
                                 answer_mode="extractive")
    return Pipeline(settings, embedder=FakeEmbedder(), log=lambda m: None).warm_up()


class Slow:
    """A pipeline stand-in whose answer stream yields three pieces, each after ``release`` is set."""

    def __init__(self, settings, fail: BaseException | None = None):
        self.settings, self.ready, self.fail = settings, True, fail
        self.release, self.started, self.closed = threading.Event(), threading.Event(), threading.Event()
        self.threads: list[int] = []

    def ask_stream(self, question, history=()):
        self.threads.append(threading.get_ident())
        self.started.set()
        try:
            for piece in ("a", "b"):
                assert self.release.wait(10)
                yield piece
            if self.fail:
                raise self.fail
            yield Answer(question=question, text="ab", language="de", refused=False)
        finally:
            self.closed.set()


def test_gate_runs_one_call_at_a_time_on_one_thread():
    gate = Gate(max_waiting=2, timeout=10)
    release, started, threads = threading.Event(), threading.Event(), []

    def blocking():
        threads.append(threading.get_ident())
        started.set()
        release.wait(10)
        return "first"

    def quick(n):
        threads.append(threading.get_ident())
        return n

    first = gate.submit(blocking)
    assert started.wait(5)
    queued = [gate.submit(quick, n) for n in (1, 2)]
    assert gate.stats() == {"running": 1, "waiting": 2, "max_waiting": 2}
    with pytest.raises(BusyError):
        gate.submit(quick, 3)
    assert 1 <= gate.retry_after() <= 60
    release.set()
    assert [f.result(5) for f in [first, *queued]] == ["first", 1, 2]
    assert gate.run(quick, 4) == 4
    assert len(set(threads)) == 1 and threads[0] != threading.get_ident()  # one model thread
    _wait_until(lambda: gate.stats() == {"running": 0, "waiting": 0, "max_waiting": 2})


def test_gate_deadline_drops_calls_that_never_started():
    gate = Gate(max_waiting=2, timeout=0.3)
    release, ran = threading.Event(), []
    gate.submit(release.wait, 10)
    with pytest.raises(TimeoutError_):
        gate.run(ran.append, "late")
    release.set()
    assert gate.run(len, "ok") == 2 and ran == []


def test_sync_and_async_consumers_read_the_same_bridge(pipeline):
    service = Service(pipeline)
    expected = pipeline.ask(QUESTION)
    items = list(service.ask_stream(QUESTION))
    assert isinstance(items[-1], Answer) and all(isinstance(i, str) for i in items[:-1])
    assert items[-1].text == expected.text

    async def read():
        return [item async for item in service.stream(QUESTION)]

    async_items = asyncio.run(read())
    assert [i for i in async_items if isinstance(i, str)] == [i for i in items if isinstance(i, str)]
    assert async_items[-1].text == expected.text
    assert service.ask(QUESTION).text == asyncio.run(service.ask_async(QUESTION)).text == expected.text
    hits = service.search(QUESTION, [], 2)
    assert [h.chunk.chunk_id for h in hits] == [h.chunk.chunk_id for h in pipeline.search(QUESTION, [], 2)]
    assert [d.doc_id for d in service.documents()] == [d.doc_id for d in pipeline.documents()]
    assert service.document_metadata()[pipeline.documents()[0].doc_id]["drucksache"] == "7/844"


def test_bad_input_is_refused_before_it_takes_a_queue_place(pipeline):
    service = Service(pipeline, max_waiting=0)
    for question, history in (("   ", []), ("x" * 5000, []), (QUESTION, [["only one"]]), (QUESTION, "nope")):
        with pytest.raises(InputError):
            service.stream(question, history)
        with pytest.raises(InputError):
            service.search(question, history)
    assert service.gate.stats() == {"running": 0, "waiting": 0, "max_waiting": 0}


def test_items_arrive_as_they_are_produced_and_on_the_model_thread(pipeline):
    slow = Slow(pipeline.settings)
    service = Service(slow)
    got: list = []
    reader = threading.Thread(target=lambda: got.extend(service.ask_stream(QUESTION)))
    reader.start()
    assert slow.started.wait(5)
    assert got == [] and service.gate.stats()["running"] == 1
    slow.release.set()
    reader.join(10)
    assert got[:2] == ["a", "b"] and got[-1].text == "ab"
    assert slow.threads[0] != threading.get_ident() and slow.threads[0] != reader.ident


def test_a_consumer_that_leaves_gives_the_model_back(pipeline):
    slow = Slow(pipeline.settings)
    service = Service(slow, max_waiting=0)
    stream = service.ask_stream(QUESTION)
    slow.release.set()
    assert next(stream) == "a"
    stream.close()  # the chat window went away mid-answer
    assert slow.closed.wait(5)
    _wait_until(lambda: service.gate.stats()["running"] == 0)
    assert service.gate.run(len, "free") == 4


def test_errors_and_the_deadline_reach_both_consumers(pipeline):
    failing = Slow(pipeline.settings, fail=ModelError("no model"))
    failing.release.set()
    service = Service(failing)
    with pytest.raises(ModelError, match="no model"):
        list(service.ask_stream(QUESTION))

    async def read(stream):
        return [item async for item in stream]

    with pytest.raises(ModelError, match="no model"):
        asyncio.run(read(service.stream(QUESTION)))
    stuck = Service(Slow(pipeline.settings), timeout=0.3)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError_):
        list(stuck.ask_stream(QUESTION))
    with pytest.raises(TimeoutError_):
        asyncio.run(read(Stream(stuck.gate, lambda: iter([]))))  # queued behind the stuck call
    assert time.monotonic() - t0 < 5
    stuck.pipeline.release.set()


def test_full_queue_is_refused_at_once(pipeline):
    slow = Slow(pipeline.settings)
    service = Service(slow, max_waiting=1)
    first, second = service.stream(QUESTION), service.stream(QUESTION)
    with pytest.raises(BusyError):
        service.stream(QUESTION)
    slow.release.set()
    assert list(first)[-1].text == list(second)[-1].text == "ab"


def test_loading_then_ready_or_failed(pipeline):
    class Cold:
        settings, ready = pipeline.settings, False

        def __init__(self, fail=None):
            self.release, self.fail = threading.Event(), fail

        def warm_up(self):
            self.release.wait(10)
            if self.fail:
                raise self.fail
            self.ready = True

        def documents(self):
            return pipeline.documents()

    cold = Cold()
    service = Service(cold)
    service.start()
    assert service.health()["status"] == "loading"
    with pytest.raises(LoadingError, match="loading"):
        service.stream(QUESTION)
    docs: list = []
    waiter = threading.Thread(target=lambda: docs.extend(service.documents()))  # waits behind the warm-up
    waiter.start()
    cold.release.set()
    waiter.join(10)
    assert service.status == "ready" and docs
    broken = Service(Cold(fail=ModelError("model file is corrupt")))
    broken.pipeline.release.set()
    broken.start().result(10)
    assert broken.health() == {"status": "failed", "answer_mode": "extractive", "error": "model file is corrupt",
                               "queue": {"running": 0, "waiting": 0, "max_waiting": 4},
                               "generator": {"backend": "local", "model": "gemma-3-270m", "url": None,
                                             "used_for": "not used", "reachable": None, "problem": None}}
    with pytest.raises(LoadingError, match="corrupt"):
        broken.ask(QUESTION)
    with pytest.raises(RagError):
        broken.documents()


def _wait_until(condition, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)
