"""The hub's Rasa client reads the intent Rasa sends with its answer, and survives a bad one."""

from __future__ import annotations

import asyncio
import json

import httpx

from bot.clients.rasa import NLU_HEADER, RasaClient


def _client(header: str | None) -> RasaClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[{"recipient_id": "c1", "text": "Hello!"}],
                              headers={NLU_HEADER: header} if header is not None else None)

    return RasaClient(["http://rasa.test"], transport=httpx.MockTransport(handler), retries=0)


def test_the_parse_comes_with_the_answer() -> None:
    header = json.dumps({"intent": {"name": "greet", "confidence": 0.93}})
    turn = asyncio.run(_client(header).send("c1", "hi"))
    assert turn.messages == [{"recipient_id": "c1", "text": "Hello!"}]
    assert turn.nlu == {"intent": {"name": "greet", "confidence": 0.93}} and turn.latency_s > 0


def test_a_missing_or_malformed_header_leaves_the_answer_intact() -> None:
    for header in (None, "{not json", json.dumps(["greet"]), json.dumps({"intent": "greet"})):
        turn = asyncio.run(_client(header).send("c1", "hi"))
        assert turn.messages == [{"recipient_id": "c1", "text": "Hello!"}] and turn.nlu is None, header
