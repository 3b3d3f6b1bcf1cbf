"""Review inbox → "add as example" → after training on the content files, Rasa understands the message.

The generated week's customer asked "how do I change my address" and the bot refused it as out of scope. An
editor adds it as an example of `faq` in the inbox; the example lands in the week's copy of `nlu_data/`; a real
Rasa model trained on that copy (the shipped config and domain) then parses the message as `faq`."""

from __future__ import annotations

import json

import pytest
import yaml

from core.settings import PROJECT_ROOT
from tools.launcher import ensure_model
from week import Week

pytestmark = pytest.mark.integration
MESSAGE = "how do I change my address"


def test_an_example_added_in_the_inbox_is_understood_after_training(week: Week) -> None:
    from nlu.support import run_in_rasa

    nlu_dir = week.client.app.state.container.settings.rasa_data_dir
    faq = lambda: next(i for i in yaml.safe_load((nlu_dir / "nlu.yml").read_text())["nlu"]  # noqa: E731
                       if i.get("intent") == "faq")["examples"]
    if f"- {MESSAGE}\n" not in faq():  # (the inbox test may have added it already)
        item = next(i for i in week.editor.get("/api/review/items", params={"reason": "out_of_scope", "limit": 200})
                    .json()["items"] if i["text"] == MESSAGE)
        resp = week.editor.post(f"/api/review/items/{item['message_id']}", {"action": "example", "intent": "faq"})
        assert resp.status_code == 200, resp.text
    assert f"- {MESSAGE}\n" in faq()

    model = ensure_model(config=PROJECT_ROOT / "config.yml", out_dir=week.tmp / "models", name="reviewed",
                         data=nlu_dir)
    script = f"""
import asyncio, json
from rasa.core.agent import Agent
agent = Agent.load({str(model)!r})
parsed = asyncio.run(agent.parse_message({MESSAGE!r}))
print(json.dumps(parsed["intent"]))
"""
    done = run_in_rasa(script, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    intent = json.loads(done.stdout.strip().splitlines()[-1])
    assert intent["name"] == "faq", intent
