"""`HubRestInput`: Rasa's REST channel (`/webhooks/rest/webhook`), plus the NLU result of the message.

The hub is this channel's only client. Besides the bot's messages (the REST channel's JSON list, unchanged) it
needs the intent and confidence Rasa gave the customer's message: the agent console shows them and two NLU
fallbacks in a row hand the conversation to a person. Plain REST would make the hub ask for the tracker after
every message, a second request that loads the whole conversation from the tracker store again. Here the
message is parsed first and handed to Rasa already parsed (`UserMessage.parse_data`, which Rasa's processor
uses instead of parsing again), and the intent goes back in the `X-Rasa-Nlu` response header as JSON.

    credentials.yml:  nlu_components.hub_channel.HubRestInput:

`POST /webhooks/rest/parse` (``{"text": …, "metadata": {"language": "it"}}``) answers the parse alone, as a message
with that metadata is parsed (the language routes `fast`'s encoders and weighs intents that lack it), and touches
no conversation: the studio's "try a question". Rasa's own `/model/parse` takes no metadata.

Streaming (`?stream=true`) is not offered: the hub does not use it.

One difference in what is collected: Rasa's REST channel cuts a text at every blank line into separate messages;
here a response stays one message (`WholeTextCollector`). Answers are Markdown, rendered by each channel: a list
or a link belongs with its paragraph, and the channels split what is too long for them themselves.
"""

from __future__ import annotations

import json
import logging
from asyncio import CancelledError
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from core.contracts import NLU_HEADER

logger = logging.getLogger(__name__)


class WholeTextCollector(CollectingOutputChannel):
    """Collects the bot's messages without cutting a text at its blank lines (see the module doc)."""

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self._persist_message(self._message(recipient_id, text=text.strip()))


class HubRestInput(RestInput):
    """The REST channel under its usual URL, answering with the parsed intent as well (see the module doc)."""

    @classmethod
    def name(cls) -> Text:
        return "rest"

    async def _parse(self, request: Request, message: UserMessage) -> Optional[Dict[Text, Any]]:
        agent = getattr(request.app.ctx, "agent", None)
        if agent is None or not agent.is_ready():
            return None
        try:
            return await agent.processor.parse_message(message)
        except Exception:  # noqa: BLE001 - Rasa's processor parses it again and reports the failure its own way
            logger.exception("parsing before handling failed; the processor parses the message itself")
            return None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint(f"hub_webhook_{type(self).__name__}", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            collector = WholeTextCollector()
            message = UserMessage(self._extract_message(request), collector, await self._extract_sender(request),
                                  input_channel=self._extract_input_channel(request),
                                  metadata=self.get_metadata(request))
            message.parse_data = await self._parse(request, message)
            headers = {}
            if message.parse_data:
                intent = message.parse_data.get("intent") or {}
                headers[NLU_HEADER] = json.dumps({"intent": {"name": intent.get("name"),
                                                             "confidence": intent.get("confidence")}})
            try:
                await on_new_message(message)
            except CancelledError:
                logger.error("the message from %s timed out", message.sender_id)
            except Exception:  # noqa: BLE001 - as Rasa's REST channel: log, answer with what was collected
                logger.exception("handling the message from %s failed", message.sender_id)
            return response.json(collector.messages, headers=headers)

        @webhook.route("/parse", methods=["POST"])
        async def parse(request: Request) -> HTTPResponse:
            body = request.json if isinstance(request.json, dict) else {}
            text, metadata = body.get("text"), body.get("metadata")
            if not isinstance(text, str) or not text.strip():
                return response.json({"error": "`text` must be a non-empty string"}, status=400)
            if metadata is not None and not isinstance(metadata, dict):
                return response.json({"error": "`metadata` must be an object"}, status=400)
            parsed = await self._parse(request, UserMessage(text, sender_id="parse", metadata=metadata or {}))
            if parsed is None:
                return response.json({"error": "no model is loaded yet"}, status=503)
            return response.json(parsed)

        return webhook
