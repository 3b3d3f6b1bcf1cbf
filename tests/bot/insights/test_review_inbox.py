"""The review inbox over the generated week: what needs a look, with the bot's reasoning; one click turns the
message into a studio change (an example, a phrasing, a draft prefilled from the agent's reply) that waits, with
its author, among the studio's unpublished changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kb_index.schema import load_content
from week import Week


def items(week: Week, **params: Any) -> dict[str, Any]:
    resp = week.editor.get("/api/review/items", params={"limit": 200, **params})
    assert resp.status_code == 200, resp.text
    return resp.json()


def examples(path: Path, intent: str) -> list[str]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    block = next(i for i in data["nlu"] if i.get("intent") == intent)
    return [line.strip()[2:] for line in block["examples"].splitlines() if line.strip()]


def test_the_inbox_lists_what_the_bot_got_wrong_with_its_reasoning(week: Week) -> None:
    inbox = items(week)
    kinds = {d.id: d.kind for d in week.log}
    by_reason: dict[str, set[str]] = {}
    for item in inbox["items"]:
        by_reason.setdefault(item["reason"], set()).add(kinds[item["conversation_id"]])
    assert by_reason["out_of_scope"] == {"out_of_scope"}
    assert by_reason["choices"] == {"choices"}
    assert by_reason["fallback"] == {"miss_queued"}
    assert by_reason["not_helpful"] == {"kb_no"}
    assert by_reason["handoff_after_answer"] == {"handoff_agent"}
    assert inbox["counts"]["out_of_scope"] == sum(k == "out_of_scope" for k in kinds.values())
    assert inbox["total"] == sum(inbox["counts"].values()) == len(inbox["items"])
    choice = next(i for i in inbox["items"] if i["reason"] == "choices")
    assert choice["reasoning"]["kb_decision"] == "choices"
    assert choice["reasoning"]["kb_choices"] == ["returns-policy", "damaged-items"]
    assert choice["reasoning"]["kb_score"] == 0.5
    assert choice["bot_replies"][0]["buttons"] == ["Returns policy", "Damaged items"]
    unhelpful = next(i for i in inbox["items"] if i["reason"] == "not_helpful")
    assert unhelpful["helpful"] is False and unhelpful["reasoning"]["kb_entry_id"] == "gift-cards"
    assert unhelpful["reasoning"]["kb_entry_question"]  # the entry's question, from the content files
    after = next(i for i in inbox["items"] if i["reason"] == "handoff_after_answer")
    assert after["handoff"]["reason"] == "customer_request"
    assert after["agent_reply"]["text"] == "Hi, I'm looking into it."
    oos = items(week, reason="out_of_scope")
    assert {i["reason"] for i in oos["items"]} == {"out_of_scope"} and oos["total"] == len(oos["items"])


def test_add_as_example_writes_the_message_into_the_intents_examples(week: Week) -> None:
    settings = week.client.app.state.container.settings
    item = next(i for i in items(week, reason="out_of_scope")["items"] if i["text"] == "how do I change my address")
    resp = week.editor.post(f"/api/review/items/{item['message_id']}", {"action": "example", "intent": "faq"})
    assert resp.status_code == 200, resp.text
    assert "how do I change my address" in examples(settings.rasa_data_dir / "nlu.yml", "faq")
    assert item["message_id"] not in {i["message_id"] for i in items(week)["items"]}
    done = items(week, state="done")["items"]
    assert [(i["action"], i["handled_by"]) for i in done if i["message_id"] == item["message_id"]] == [
        ("example", "erin@example.com")]
    changes = week.editor.get("/api/review/changes").json()["changes"]
    assert (changes[0]["kind"], changes[0]["target"], changes[0]["text"], changes[0]["state"]) == (
        "intent_example", "faq", "how do I change my address", "pending")
    assert changes[0]["file"].endswith("nlu.yml")
    # a studio revision by the editor, waiting to be published, in the intent's history
    pending = week.editor.get("/api/studio/status").json()["pending"]
    mine = next(r for r in pending if r["id"] == changes[0]["revision"])
    assert (mine["author_name"], mine["summary"]) == ("Erin", "Add an English example to faq: “how do I change my address”")
    history = week.editor.get("/api/studio/history", params={"key": "examples:faq:en"}).json()
    assert changes[0]["revision"] in [r["id"] for r in history["revisions"]]
    # the same example again, or an intent that does not exist: refused, the file unchanged
    again = next(i for i in items(week, reason="out_of_scope")["items"] if i["text"] == "how do I change my address")
    before = (settings.rasa_data_dir / "nlu.yml").read_text(encoding="utf-8")
    refused = week.editor.post(f"/api/review/items/{again['message_id']}", {"action": "example", "intent": "faq"})
    assert refused.status_code == 422 and "already an example" in refused.json()["detail"]
    unknown = week.editor.post(f"/api/review/items/{again['message_id']}", {"action": "example", "intent": "nope"})
    assert unknown.status_code == 422 and "no intent 'nope'" in unknown.json()["detail"]
    assert (settings.rasa_data_dir / "nlu.yml").read_text(encoding="utf-8") == before


def test_phrasing_and_draft_land_as_studio_changes(week: Week) -> None:
    settings = week.client.app.state.container.settings
    unhelpful = next(i for i in items(week, reason="not_helpful")["items"] if i["language"] == "en")
    resp = week.editor.post(f"/api/review/items/{unhelpful['message_id']}",
                            {"action": "phrasing", "entry_id": "gift-cards", "text": "do gift cards come by mail"})
    assert resp.status_code == 200, resp.text
    gift = next(e for e in load_content(settings.kb_content_dir) if e.id == "gift-cards" and e.language == "en")
    assert "do gift cards come by mail" in gift.phrasings
    again = week.editor.post(f"/api/review/items/{unhelpful['message_id']}",
                             {"action": "phrasing", "entry_id": "gift-cards", "text": "Do gift cards come by  mail"})
    assert again.status_code == 422 and "already a phrasing" in again.json()["detail"]

    handed = next(i for i in items(week, reason="handoff_after_answer")["items"])
    prefill = handed["agent_reply"]["text"]
    resp = week.editor.post(f"/api/review/items/{handed['message_id']}",
                            {"action": "draft", "question": "Can you resend my gift card?", "answer": prefill})
    assert resp.status_code == 200, resp.text
    draft = week.editor.get("/api/studio/faq/can-you-resend-my-gift-card").json()
    assert draft["topic"] == "drafts"
    assert (draft["versions"]["en"]["question"], draft["versions"]["en"]["answer"]) == (
        "Can you resend my gift card?", prefill)
    change = week.editor.get("/api/review/changes").json()["changes"][0]
    assert (change["kind"], change["target"], change["state"]) == ("faq_draft", "can-you-resend-my-gift-card", "pending")
    # the same question drafted again: refused with the studio's reason, the first draft kept as it was
    again = week.editor.post(f"/api/review/items/{handed['message_id']}",
                             {"action": "draft", "question": "Can you resend my gift card?", "answer": "Yes."})
    assert again.status_code == 422 and "one wording must lead to one entry" in again.json()["detail"]
    kept = week.editor.get("/api/studio/faq/can-you-resend-my-gift-card").json()["versions"]["en"]["answer"]
    assert kept == prefill

    dismissed = next(i for i in items(week, reason="choices")["items"])
    assert week.editor.post(f"/api/review/items/{dismissed['message_id']}", {"action": "dismiss"}).status_code == 200
    assert dismissed["message_id"] in {i["message_id"] for i in items(week, state="dismissed")["items"]}
    assert week.editor.post(f"/api/review/items/{dismissed['message_id']}", {"action": "burn"}).status_code == 422
    assert week.editor.post("/api/review/items/nope", {"action": "dismiss"}).status_code == 404
