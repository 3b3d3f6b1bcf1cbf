"""The language of a message and of a conversation (bot/language.py, issue 7): detection on short messages,
hysteresis, explicit choices, channel hints, inputs that carry no language, and the hub end to end."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from core.settings import HubSettings
from bot.conversations.language import (
    ConversationLanguage,
    Detection,
    LanguageDetector,
    detect,
    explicit_choice,
    seed_language,
    shared_detector,
    words,
)
from bot.clients.rasa import RasaClient

AGENT = {"Authorization": "Bearer test-agent-token", "X-Agent": "alice"}


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return shared_detector(("en", "it", "zh", "ro"), "full")


# -- one message ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "lang"), [
    ("where is my parcel", "en"), ("refund not received yet", "en"), ("can't log in", "en"),
    ("dov'è il mio pacco", "it"), ("voglio il rimborso", "it"), ("xke non arriva?", "it"),
    ("我的包裹在哪里", "zh"), ("退款还没到账", "zh"), ("app老是闪退", "zh"), ("订单号BC-100234", "zh"),
    ("unde e coletul meu", "ro"), ("nu mă pot loga", "ro"), ("cardul a fost refuzat", "ro"),
])
def test_short_messages(detector: LanguageDetector, text: str, lang: str) -> None:
    found = detector.detect(text)
    assert found is not None and found.language == lang, found
    assert 0.0 <= found.confidence <= 1.0


@pytest.mark.parametrize("text", [
    "", "   ", "\n\t", "🙂", "👍👍👍", "🙏🏻😡📦", "12345", "+39 333 1234567", "BC-100234", "???!!!", "...", "x",
    "https://brightcart.example/orders/100234", "hello 你好", "OK谢谢", "Привет, где мой заказ", "こんにちは",
    "مرحبا", "\u200b\u200d", "\x00\x01", "a" * 100_000, None, 42, b"bytes",
])
def test_no_usable_evidence_never_crashes(detector: LanguageDetector, text: Any) -> None:
    found = detector.detect(text)
    assert found is None or found.language in detector.supported


def test_no_language_for_emoji_digits_empty_and_mixed_scripts(detector: LanguageDetector) -> None:
    for text in ("", "🙂🙂", "12345", "BC-100234", "hello 你好", "OK谢谢", "Привет"):
        assert detector.detect(text) is None, text
    assert detect("where is my order").language == "en"  # the module-level helper, default languages


def test_restricted_to_the_supported_languages() -> None:
    latin_only = LanguageDetector(("en", "it"), "full")
    assert latin_only.detect("我的包裹在哪里") is None  # no supported language is written in Han
    found = latin_only.detect("unde e coletul meu")  # Romanian is not on the list: the nearest one, or nothing
    assert found is None or found.language in ("en", "it")
    with pytest.raises(ValueError):
        LanguageDetector((), "full")
    with pytest.raises(ValueError, match="LANGUAGE_DETECTOR_MODEL"):
        LanguageDetector(("en",), "huge")


def test_words_counts_two_han_characters_as_a_word() -> None:
    assert words("where is my order") == 4
    assert words("我的订单在哪") == 3
    assert words("订单号BC-100234") == 3


# -- explicit choices -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "lang"), [
    ("italiano", "it"), ("Italiano!", "it"), ("in italiano per favore", "it"), ("parla italiano?", "it"),
    ("english please", "en"), ("English", "en"), ("do you speak english?", "en"), ("can we speak italian", "it"),
    ("中文", "zh"), ("请用中文", "zh"), ("说英语吧", "en"), ("română", "ro"), ("in romana va rog", "ro"),
    ("vorbiți română?", "ro"),
])
def test_explicit_choice(text: str, lang: str) -> None:
    assert explicit_choice(text) == lang


@pytest.mark.parametrize("text", ["I don't speak English", "italian food is great", "deutsch bitte", "english muffin",
                                  "", "no", "BC-100234"])
def test_not_a_choice(text: str) -> None:
    assert explicit_choice(text) is None


def test_button_payload_choice() -> None:
    assert explicit_choice("Italiano", '/set_language{"language":"it"}') == "it"
    assert explicit_choice("", '/set_language{"language": "zh-CN"}') == "zh"
    assert explicit_choice("", '/set_language{"language":"de"}') is None  # not supported
    assert explicit_choice("", "/set_language{broken") is None
    assert explicit_choice("", '/csat{"score": 5}') is None


# -- the conversation ----------------------------------------------------------------------------------------


def test_channel_hint_seeds_the_conversation(detector: LanguageDetector) -> None:
    assert seed_language("it-IT", "en") == "it"
    assert seed_language("zh-Hans", "en") == "zh"
    assert seed_language("ro_RO", "en") == "ro"
    assert seed_language("de-DE", "en") == "en"  # unsupported hint: the default
    assert seed_language(None, "it") == "it"
    conv = ConversationLanguage.seeded("it-IT", "en", detector=detector)
    assert conv.current == "it"
    assert conv.observe("ok").language == "it"  # a message without evidence keeps the hint


def test_one_english_word_does_not_switch_an_italian_conversation(detector: LanguageDetector) -> None:
    conv = ConversationLanguage("it", detector=detector)
    assert conv.observe("ciao, il mio pacco non è arrivato").language == "it"
    d = conv.observe("tracking?")
    assert d.language == "it" and not d.switched
    d = conv.observe("ok thanks")
    assert d.language == "it" and not d.switched  # two short English words: still not enough
    assert conv.observe("grazie mille").language == "it"
    assert conv.observe("sorry").language == "it"
    assert conv.current == "it"


def test_a_run_of_confident_chinese_messages_switches(detector: LanguageDetector) -> None:
    conv = ConversationLanguage("it", detector=detector, history=[("it", "ciao, ho un problema")])
    first = conv.observe("我的订单在哪")
    assert first.language == "it" and first.message_language == "zh" and not first.switched
    second = conv.observe("怎么还没发货")
    assert second.switched and second.reason == "run" and second.language == "zh"
    assert conv.observe("谢谢").language == "zh"


def test_an_unconfident_message_breaks_a_run(detector: LanguageDetector) -> None:
    conv = ConversationLanguage("en", detector=detector, history=[("en", "hello")])
    assert conv.observe("dov'è il mio ordine").message_language == "it"
    assert conv.observe("🙂").message_language == "en"  # no evidence: stored in the conversation's language
    assert not conv.observe("grazie mille").switched  # a new run of one


def test_one_long_confident_message_switches(detector: LanguageDetector) -> None:
    conv = ConversationLanguage("en", detector=detector, history=[("en", "hi")])
    d = conv.observe("am comandat o geacă săptămâna trecută și încă nu a fost expediată")
    assert d.switched and d.reason == "long_message" and d.language == "ro"


def test_the_first_message_overrides_a_weak_hint_only_with_enough_words(detector: LanguageDetector) -> None:
    conv = ConversationLanguage("en", detector=detector)
    assert conv.observe("ciao").language == "en"  # one word: the hint stands
    conv = ConversationLanguage("it", detector=detector)
    assert conv.observe("person please").language == "it"  # two words: the hint stands
    conv = ConversationLanguage("en", detector=detector)
    d = conv.observe("dov'è il mio ordine?")
    assert d.switched and d.reason == "first_message" and d.language == "it"


def test_explicit_choice_switches_immediately(detector: LanguageDetector) -> None:
    conv = ConversationLanguage("it", detector=detector, history=[("it", "ciao"), ("it", "dov'è il mio ordine")])
    d = conv.observe("english please")
    assert d.switched and d.reason == "explicit" and d.language == "en" and d.message_language == "en"
    d = conv.observe("Română", '/set_language{"language":"ro"}')
    assert d.language == "ro" and d.reason == "explicit"
    assert conv.observe("ok thanks").language == "ro"  # and it sticks like any other language


def test_a_mixed_language_conversation_does_not_flip_flop(detector: LanguageDetector) -> None:
    conv = ConversationLanguage("it", detector=detector)
    languages = [conv.observe(t).language for t in [
        "ciao, dov'è il mio ordine?", "order BC-100234", "ok", "quando arriva?", "thanks", "grazie", "tracking link?",
        "perfetto", "sorry", "👍", "ok bye", "ciao ciao",
    ]]
    assert set(languages) == {"it"}


def test_detection_errors_do_not_lose_the_message(detector: LanguageDetector, monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken(LanguageDetector):
        def detect(self, text: object) -> Detection | None:
            raise RuntimeError("model exploded")

    conv = ConversationLanguage("ro", detector=Broken(("en", "ro")))
    d = conv.observe("where is my order")
    assert d.language == "ro" and d.detection is None


# -- the hub --------------------------------------------------------------------------------------------------


def _until_ack(ws: Any) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = ws.receive_json()
        frames.append(frame)
        if frame["type"] == "ack":
            return frames


def test_hub_an_italian_customer_with_an_english_browser_is_answered_in_italian(dead_rasa_client: TestClient) -> None:
    client = dead_rasa_client
    with client.websocket_connect("/channels/web/ws") as ws:
        ws.send_json({"type": "hello", "language": "en-US"})
        ws.receive_json()
        ws.send_json({"type": "message", "text": "ciao, il mio pacco non è ancora arrivato", "client_id": "m1"})
        frames = _until_ack(ws)
    said = [f["text"] for f in frames if f["type"] == "message"]
    assert said[0].startswith("Mi dispiace, ho un problema tecnico")  # the hub's own 'technical trouble' text
    conv_id = frames[-1]["conversation_id"]
    detail = client.get(f"/api/agent/conversations/{conv_id}", headers=AGENT).json()
    assert detail["conversation"]["language"] == "it"
    customer = [m for m in detail["messages"] if m["sender"] == "customer"]
    assert [m["language"] for m in customer] == ["it"]


def test_hub_emoji_and_mixed_scripts_are_kept_without_a_language_change(dead_rasa_client: TestClient) -> None:
    client = dead_rasa_client
    with client.websocket_connect("/channels/web/ws") as ws:
        ws.send_json({"type": "hello", "language": "ro-RO"})
        ws.receive_json()
        for i, text in enumerate(["🙂🙂", "hello 你好", "12345", "BC-100234"]):
            ws.send_json({"type": "message", "text": text, "client_id": f"m{i}"})
            frames = _until_ack(ws)
    detail = client.get(f"/api/agent/conversations/{frames[-1]['conversation_id']}", headers=AGENT).json()
    assert detail["conversation"]["language"] == "ro"
    assert [m["language"] for m in detail["messages"] if m["sender"] == "customer"] == ["ro"] * 4


def _recording_rasa(seen: list[dict[str, Any]]) -> RasaClient:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/webhooks/rest/webhook":
            body = json.loads(request.content)
            seen.append(body)
            return httpx.Response(200, json=[{"text": "ok"}])
        if request.url.path.endswith("/tracker"):
            return httpx.Response(200, json={"latest_message": {"intent": {"name": "inform", "confidence": 0.9}}})
        if request.url.path == "/status":
            return httpx.Response(200, json={"model_file": "fake.tar.gz"})
        return httpx.Response(404)

    return RasaClient(["http://rasa.test"], transport=httpx.MockTransport(handler), retries=0)


def _recording_hub(tmp_path: Path, seen: list[dict[str, Any]]) -> TestClient:
    settings = HubSettings.from_env(data_dir=tmp_path, agent_api_token="test-agent-token", queue_tick_s=3600.0)
    return TestClient(create_app(settings, rasa=_recording_rasa(seen)))


@contextlib.contextmanager
def _italian_chat(client: TestClient) -> Iterator[Any]:
    """A web chat from a browser set to Italian, past the welcome frame."""
    with client.websocket_connect("/channels/web/ws") as ws:
        ws.send_json({"type": "hello", "language": "it-IT"})
        ws.receive_json()
        yield ws


def test_hub_rasa_gets_the_conversation_language_with_hysteresis_and_explicit_choice(tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    with _recording_hub(tmp_path, seen) as client:
        with _italian_chat(client) as ws:
            replies = []
            for i, text in enumerate(["dov'è il mio ordine?", "thanks", "我的订单在哪", "怎么还没发货", "english please"]):
                ws.send_json({"type": "message", "text": text, "client_id": f"m{i}"})
                replies.append(_until_ack(ws))
            ws.send_json({"type": "button", "title": "Română", "payload": '/set_language{"language":"ro"}',
                          "client_id": "b1"})
            replies.append(_until_ack(ws))
        conv_id = replies[-1][-1]["conversation_id"]
        detail = client.get(f"/api/agent/conversations/{conv_id}", headers=AGENT).json()
    assert [b["message"] for b in seen] == ["dov'è il mio ordine?", "thanks", "我的订单在哪", "怎么还没发货"]
    assert [b["metadata"]["language"] for b in seen] == ["it", "it", "it", "zh"]  # one English word: no switch
    assert [f["text"] for f in replies[4] if f["type"] == "message"] == ["Sure, let's continue in English."]
    assert [f["text"] for f in replies[5] if f["type"] == "message"] == ["Sigur, continuăm în limba română."]
    assert detail["conversation"]["language"] == "ro"
    customer = [m["language"] for m in detail["messages"] if m["sender"] == "customer"]
    assert customer == ["it", "en", "zh", "zh", "en", "ro"]


# -- languages the bot does not speak -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wide_detector(detector: LanguageDetector) -> LanguageDetector:
    detector._load_wide_model()  # normally loaded in the background at start; until then the check is skipped
    assert detector._wide_model is not None
    return detector


@pytest.mark.parametrize(("text", "lang"), [
    ("Wo ist meine Bestellung, ich warte seit zwei Wochen", "de"),
    ("Bonjour, je n'ai toujours pas reçu mon colis", "fr"),
    ("Olá, meu pedido ainda não chegou", "pt"),
    ("Где мой заказ? Я жду уже неделю", "ru"),
])
def test_unsupported_languages_are_named(wide_detector: LanguageDetector, text: str, lang: str) -> None:
    assert wide_detector.unsupported(text) == lang


@pytest.mark.parametrize("text", [
    "where is my parcel please", "dov'è finito il mio pacco?", "我的包裹到底在哪里啊", "unde este coletul meu acum",
    "ok", "grazie mille", "Danke", "BC-100234 BC-100235 BC-100236", "🙂🙂🙂", "", None,
])
def test_supported_languages_and_short_messages_are_never_called_unsupported(
        wide_detector: LanguageDetector, text: Any) -> None:
    assert wide_detector.unsupported(text) is None


def test_hub_answers_an_unsupported_language_politely_and_offers_a_person(tmp_path: Path,
                                                                          wide_detector: LanguageDetector) -> None:
    seen: list[dict[str, Any]] = []
    with _recording_hub(tmp_path, seen) as client:
        with _italian_chat(client) as ws:
            ws.send_json({"type": "message", "text": "Wo ist meine Bestellung, ich warte seit zwei Wochen",
                          "client_id": "m1"})
            frames = _until_ack(ws)
    replies = [f for f in frames if f["type"] == "message"]
    assert seen == []  # the bot never saw it
    assert len(replies) == 1 and replies[0]["text"].startswith("Mi dispiace, posso rispondere solo in italiano")
    assert [(b["title"], b["payload"]) for b in replies[0]["buttons"]] == [("Parla con una persona", "/request_human")]


def test_the_parsed_model_is_cached_and_a_broken_cache_is_parsed_again(tmp_path) -> None:
    from langidentify import Detector

    from bot.conversations.language import load_model

    first = load_model("lite", ["en", "it"], tmp_path)
    cached = list(tmp_path.glob("lite-2-*.pickle"))
    assert len(cached) == 1
    again = load_model("lite", ["en", "it"], tmp_path)  # from the cache: the same answers and scores
    for text in ("dove posso trovare il mio ordine", "the order is not here yet", "ok", "grazie mille a tutti"):
        a, b = Detector(first), Detector(again)
        assert a.detect(text).iso_code == b.detect(text).iso_code
        assert a.results.gap == b.results.gap
    cached[0].write_bytes(b"not a pickle")
    repaired = load_model("lite", ["en", "it"], tmp_path)
    assert Detector(repaired).detect("where is my order please").iso_code == "en"
    assert cached[0].read_bytes() != b"not a pickle"  # rewritten whole
    assert Detector(load_model("lite", ["en", "it"], tmp_path)).detect("where is my order please").iso_code == "en"
