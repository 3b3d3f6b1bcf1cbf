"""``POST /kb/embed``: the action server embeds texts with the knowledge base's encoder for the hub (content
gaps), and the hub's `ActionServerClient.kb_embed` reads them back, batch by batch."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from starlette.testclient import TestClient

from actions.server import MAX_EMBED_CHARS, MAX_EMBED_TEXTS, create_app
from bot.clients.actions import ActionServerClient
from core.errors import CallError, Retryable
from core.settings import ActionSettings
from tests_support import free_port_dead

TEXTS = ["do gift cards expire", "come funzionano le carte regalo?", "my charger broke", ""]


def decoded(body: dict[str, Any]) -> np.ndarray:
    """The vectors of a ``/kb/embed`` answer, decoded as the route documents them."""
    flat = np.frombuffer(base64.b64decode(body["vectors"]), dtype="<f4")
    return flat.reshape(body["count"], body["dimension"])


def test_embed_answers_the_encoders_own_vectors(settings: ActionSettings, kb_holder: Any) -> None:
    with TestClient(create_app(holder=kb_holder, settings=settings, warm_up=False)) as client:
        response = client.post("/kb/embed", json={"texts": TEXTS})
    assert response.status_code == 200, response.text
    body = response.json()
    encoder = kb_holder.encoder
    assert (body["model"], body["dimension"], body["count"]) == (encoder.name, encoder.dimension, len(TEXTS))
    assert np.allclose(decoded(body), encoder.encode(TEXTS), atol=1e-6)


def test_embed_needs_only_the_encoder_not_an_index(settings: ActionSettings, broken_holder: Any) -> None:
    with TestClient(create_app(holder=broken_holder, settings=settings, warm_up=False)) as client:
        assert client.get("/health").status_code == 503  # no index
        response = client.post("/kb/embed", json={"texts": TEXTS[:1]})
    assert response.status_code == 200, response.text
    assert np.allclose(decoded(response.json()), broken_holder.encoder.encode(TEXTS[:1]), atol=1e-6)


@pytest.mark.parametrize(("body", "says"), [
    (b"{not json", "JSON object"),
    ([1, 2], "JSON object"),
    ({}, "'texts' must be a non-empty list"),
    ({"texts": []}, "'texts' must be a non-empty list"),
    ({"texts": "one text"}, "'texts' must be a non-empty list"),
    ({"texts": ["fine", 3]}, "'texts[1]' must be a string"),
    ({"texts": ["x" * (MAX_EMBED_CHARS + 1)]}, f"longer than {MAX_EMBED_CHARS} characters"),
    ({"texts": ["hello"] * (MAX_EMBED_TEXTS + 1)}, f"at most {MAX_EMBED_TEXTS} per call"),
])
def test_bad_bodies_are_400(settings: ActionSettings, broken_holder: Any, body: Any, says: str) -> None:
    with TestClient(create_app(holder=broken_holder, settings=settings, warm_up=False)) as client:
        if isinstance(body, bytes):
            response = client.post("/kb/embed", content=body, headers={"content-type": "application/json"})
        else:
            response = client.post("/kb/embed", json=body)
    assert response.status_code == 400
    assert says in response.json()["error"]


def test_an_encoder_that_cannot_load_is_503(settings: ActionSettings, tmp_path: Path) -> None:
    from encoders import EncoderError
    from kb_index import KnowledgeBaseHolder

    def no_encoder() -> Any:
        raise EncoderError("no ONNX export of all-MiniLM-L6-v2: run `make encoder`")

    holder = KnowledgeBaseHolder(tmp_path / "index", no_encoder)
    with TestClient(create_app(holder=holder, settings=settings, warm_up=False)) as client:
        response = client.post("/kb/embed", json={"texts": ["hello"]})
    assert response.status_code == 503
    assert response.json()["error"] == ("sentence encoder unavailable: no ONNX export of all-MiniLM-L6-v2: run "
                                        "`make encoder`")


class CountingTransport(httpx.ASGITransport):
    """The action server in-process, counting the texts of each ``/kb/embed`` call."""

    def __init__(self, app: Any) -> None:
        super().__init__(app=app)
        self.batches: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/kb/embed":
            self.batches.append(len(json.loads(request.content)["texts"]))
        return await super().handle_async_request(request)


def test_the_client_batch_is_the_servers_maximum() -> None:
    assert ActionServerClient.EMBED_BATCH == MAX_EMBED_TEXTS


async def test_the_client_embeds_in_batches(settings: ActionSettings, broken_holder: Any) -> None:
    transport = CountingTransport(create_app(holder=broken_holder, settings=settings, warm_up=False))
    client = ActionServerClient("http://action-server", transport=transport)
    client.EMBED_BATCH = 3
    texts = [f"question number {i}" for i in range(7)]
    try:
        vectors = await client.kb_embed(texts)
        nothing = await client.kb_embed([])
    finally:
        await client.aclose()
    assert transport.batches == [3, 3, 1]
    assert vectors.dtype == np.float32 and vectors.shape == (7, broken_holder.encoder.dimension)
    assert np.allclose(vectors, broken_holder.encoder.encode(texts), atol=1e-6)
    assert nothing.shape == (0, 0)


async def test_the_client_says_why_the_server_refused(settings: ActionSettings, broken_holder: Any) -> None:
    app = create_app(holder=broken_holder, settings=settings, warm_up=False)
    client = ActionServerClient("http://action-server", transport=httpx.ASGITransport(app=app))
    try:
        with pytest.raises(CallError, match=r"answered 400: 'texts\[0\]' is longer than"):
            await client.kb_embed(["x" * (MAX_EMBED_CHARS + 1)])
    finally:
        await client.aclose()


async def test_an_action_server_that_is_down_is_a_retryable_call_error() -> None:
    client = ActionServerClient(f"http://127.0.0.1:{free_port_dead()}")
    try:
        with pytest.raises(Retryable, match="the action server unreachable"):
            await client.kb_embed(["hello"])
    finally:
        await client.aclose()
