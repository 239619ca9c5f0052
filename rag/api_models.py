"""The REST API's request and response models: what /openapi.json documents for /api/...

The routes return rag.serialize's dicts unchanged (``documented`` names the model for the schema only);
the fuzz test checks every response against these models.
"""

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from .config import Settings
from .web import NOT_BLANK, History, error_responses, valid_text, whole_number


def request_models(settings: Settings):
    """The request bodies; the question's length limit comes from the settings (pipeline.check_question
    enforces the rest: a question that is only whitespace is refused there)."""
    Question = Annotated[str, Field(min_length=1, max_length=settings.max_question_chars,
                                    json_schema_extra={"pattern": NOT_BLANK},
                                    description="the question, German or English"), AfterValidator(valid_text)]

    class AskRequest(BaseModel):
        model_config = ConfigDict(strict=True, extra="forbid")
        question: Question
        history: History = []

    class SearchRequest(AskRequest):
        k: whole_number(1, 20, "number of hits (default from settings)") | None = None

    return AskRequest, SearchRequest


class HitOut(BaseModel):
    chunk_id: str
    doc_id: str
    page: int
    section: str
    text: str
    sentences: list[str]
    score: float


class SearchResponse(BaseModel):
    hits: list[HitOut]
    timings: dict[str, float]


class CitationOut(BaseModel):
    n: int
    chunk_id: str
    doc_id: str
    page: int
    section: str
    quote: str = Field(description="verbatim from text")
    text: str
    label: str = Field(description='where the quote is from, in the answer\'s language ("Drucksache 7/844, S. 2, ...")')


class AnswerResponse(BaseModel):
    answer: str = Field(description="the answer with [n] citation markers")
    direct: str = Field(description='the direct answer alone (a date, a number, a name), "" when there is none')
    language: Literal["de", "en"]
    refused: bool
    citations: list[CitationOut]
    timings: dict[str, float]


class DocumentOut(BaseModel):
    doc_id: str
    source: str = Field(description="file name")
    sha256: str
    pages: int
    chars: int
    chunks: int
    metadata: dict


class DocumentsResponse(BaseModel):
    documents: list[DocumentOut]


class QueueOut(BaseModel):
    running: int
    waiting: int
    max_waiting: int


class GeneratorOut(BaseModel):
    backend: Literal["local", "openai"] = Field(description="the in-process model, or a model server")
    model: str
    url: str | None = Field(description="the model server's base URL (openai backend)")
    used_for: Literal["answers and translations", "translations", "not used"] = Field(
        description="what the answer mode uses the generator for")
    reachable: bool | None = Field(description="the model server answered its last probe (null: not probed)")
    problem: str | None = Field(description="why the model server cannot be used, when it cannot")


class HealthResponse(BaseModel):
    status: Literal["ready", "loading", "failed"]
    answer_mode: str
    queue: QueueOut
    generator: GeneratorOut
    documents: int | None = None
    chunks: int | None = None
    error: str | None = None


def documented(model, *errors: int, more: dict | None = None) -> dict:
    """Route arguments: ``model`` documents the 200 response (the route's dict is returned unchanged),
    ``errors`` the error statuses it can answer with."""
    return {"response_model": None, "responses": {200: {"model": model, "description": "OK"},
                                                  **error_responses(*errors), **(more or {})}}
