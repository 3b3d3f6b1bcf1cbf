"""Swapping a Rasa replica's model (`RasaClient.load_model`, `PUT /model`) without losing or doubling a message:
the replica's messages in flight finish first, new ones wait (one replica) or go to another replica (several),
and a refused model leaves the old one serving. Against local servers that speak Rasa's HTTP API and block
while a model loads, as Rasa 3.6 does."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bot.clients.rasa import RasaClient, RasaUnavailable
from fakes.rasa import FakeRasa


def model(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(b"a model")
    return path


async def test_messages_during_a_swap_wait_for_the_new_model_and_each_gets_one_answer(tmp_path: Path) -> None:
    def answer(sender: str, text: str) -> list[dict[str, str]]:
        time.sleep(0.5 if text == "before" else 0.02)  # the message in flight when the swap is asked for
        return [{"text": f"{text} ({rasa.model_file})"}]

    with FakeRasa(answer, load_s=1.5) as rasa:
        client = RasaClient([rasa.url], timeout_s=1.0, retries=0)  # a 1 s timeout: a blocked Rasa would time out
        try:
            in_flight = asyncio.create_task(client.send("c0", "before"))
            await asyncio.sleep(0.1)
            swap = asyncio.create_task(client.load_model(rasa.url, str(model(tmp_path, "new.tar.gz"))))
            await asyncio.sleep(0.1)
            during = [asyncio.create_task(client.send(f"c{i}", f"during {i}")) for i in range(1, 6)]
            status = await swap
            turns = await asyncio.gather(in_flight, *during)
        finally:
            await client.aclose()
    assert status["model_file"] == "new.tar.gz"
    assert [t.messages for t in turns] == [[{"text": "before (fake.tar.gz)"}]] + [
        [{"text": f"during {i} (new.tar.gz)"}] for i in range(1, 6)]
    webhooks = [c for c in rasa.calls if c.path == "/webhooks/rest/webhook"]
    assert len(webhooks) == 6  # none sent twice
    put = next(c for c in rasa.calls if c.path == "/model")
    assert all(c.at >= put.at for c in webhooks if str(c.params["message"]).startswith("during"))


async def test_with_two_replicas_the_other_one_answers_while_one_loads(tmp_path: Path) -> None:
    with FakeRasa(load_s=2.0) as a, FakeRasa() as b:
        client = RasaClient([a.url, b.url], timeout_s=5.0, retries=0)
        try:
            swap = asyncio.create_task(client.load_model(a.url, str(model(tmp_path, "new.tar.gz"))))
            await asyncio.sleep(0.2)
            started = time.monotonic()
            await asyncio.gather(*(client.send(f"sender-{i}", "hi") for i in range(8)))
            waited = time.monotonic() - started
            await swap
        finally:
            await client.aclose()
    assert waited < 1.5  # nobody waited for the load
    assert len([c for c in b.calls if c.path == "/webhooks/rest/webhook"]) == 8


async def test_a_refused_model_leaves_the_old_one_serving(tmp_path: Path) -> None:
    with FakeRasa() as rasa:
        client = RasaClient([rasa.url], timeout_s=5.0, retries=0)
        try:
            with pytest.raises(RasaUnavailable, match="could not be loaded"):
                await client.load_model(rasa.url, str(tmp_path / "missing.tar.gz"))
            assert (await client.replica_status(rasa.url))["model_file"] == "fake.tar.gz"
            assert (await client.send("c", "still there?")).messages == [{"text": "You said: still there?"}]
        finally:
            await client.aclose()


async def test_the_http_api_calls_carry_the_rasa_token(tmp_path: Path) -> None:
    with FakeRasa(token="s3cret") as rasa:
        client = RasaClient([rasa.url], timeout_s=5.0, retries=0, auth_token="s3cret")
        anonymous = RasaClient([rasa.url], timeout_s=5.0, retries=0)
        try:
            assert (await client.load_model(rasa.url, str(model(tmp_path, "new.tar.gz"))))["model_file"] == "new.tar.gz"
            assert (await client.parse("hi"))["intent"]["name"] == "greet"
            with pytest.raises(RasaUnavailable):
                await anonymous.load_model(rasa.url, str(model(tmp_path, "other.tar.gz")))
            assert (await client.replica_status(rasa.url))["model_file"] == "new.tar.gz"
        finally:
            await client.aclose()
            await anonymous.aclose()
