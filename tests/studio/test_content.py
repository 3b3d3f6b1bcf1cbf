"""The content layer on a copy of the starter content: edits change only their own lines of the developers' YAML
files, each save is a git commit by the editor and a revision, conflicts and invalid input change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import bot.studio.yaml_text as yaml_text
from bot.store import studio as studio_store
from bot.store.db import Database
from bot.studio.content import ContentService, EditConflict, InvalidContent, UnknownItem
from kb_index.schema import load_content
from nlu_components.validate import validate
from studio_kit import MARIA, TOM, git, service
from tests_support import copy_content


def numstat(project: Path) -> list[tuple[int, int, str]]:
    """(added, removed, file) of the last commit."""
    out = git(project, "show", "--numstat", "--format=", "HEAD")
    return [(int(a), int(d), f) for a, d, f in (line.split("\t") for line in out.splitlines() if line)]


async def test_an_italian_phrasing_is_one_new_line_committed_by_the_editor(content: ContentService, project: Path,
                                                                            db: Database) -> None:
    base = content.intent("greet")["languages"]["it"]["version"]
    saved = await content.add_example(MARIA, "greet", "it", "  salve,   c'è qualcuno in linea?  ", base=base)

    assert numstat(project) == [(1, 0, "nlu_data/nlu_it.yml")]
    assert "+    - salve, c'è qualcuno in linea?" in git(project, "show", "HEAD")
    assert git(project, "log", "-1", "--format=%an <%ae>|%s") == \
        "Maria <maria@example.com>|Add an Italian example to greet: “salve, c'è qualcuno in linea?”\n"
    assert "Studio-Item: examples:greet:it" in git(project, "log", "-1", "--format=%B")
    assert saved.commit == git(project, "rev-parse", "HEAD").strip()
    assert "salve, c'è qualcuno in linea?" in content.intent("greet")["languages"]["it"]["examples"]
    assert validate([project / "nlu_data"]).errors == []  # still training data Rasa accepts
    rows = await db.read(studio_store.history, "examples:greet:it")
    assert [(r.author_name, r.commit) for r in rows] == [("Maria", saved.commit)]
    assert rows[0].items[0].after[-1] == "salve, c'è qualcuno in linea?"
    audit = await db.read(studio_store.audit_log)
    assert audit[0]["action"] == "save" and audit[0]["revision_id"] == saved.revision


async def test_changing_an_faq_answer_leaves_every_other_byte_of_the_file(content: ContentService,
                                                                         project: Path) -> None:
    path = project / "kb_index/content/ro/returns.yml"
    before = path.read_text(encoding="utf-8")
    entry = content.faq_entry("returns-policy")["versions"]["ro"]
    fields = {k: entry[k] for k in ("question", "phrasings", "answer", "links", "tags", "team")}
    fields["answer"] = entry["answer"].replace("30 de zile", "45 de zile")

    await content.save_faq(MARIA, "returns-policy", "ro", fields, base=entry["version"])

    after = path.read_text(encoding="utf-8")
    assert numstat(project) == [(1, 1, "kb_index/content/ro/returns.yml")]
    assert before.splitlines()[0] == after.splitlines()[0]  # the file's comment header is kept
    assert after.replace("45 de zile", "30 de zile") == before
    assert {e.key for e in load_content(project / "kb_index/content")} >= {("returns-policy", "ro")}


async def test_a_new_romanian_entry_goes_into_the_topic_file_in_the_files_own_style(content: ContentService,
                                                                                   project: Path) -> None:
    fields = {"question": "Oferiți ambalaj de cadou?", "phrasings": ["ambalaj cadou", "puteți împacheta cadoul?"],
              "answer": "Da: ambalajul de cadou costă **3 €**.\n\nÎl alegeți la plată.",
              "links": [{"title": "Cadouri", "url": "https://brightcart.example/gifts"}], "tags": ["gifts"]}
    saved = await content.save_faq(MARIA, "gift-wrap", "ro", fields, base=None, topic="orders")

    assert numstat(project) == [(15, 0, "kb_index/content/ro/orders.yml")]
    text = (project / "kb_index/content/ro/orders.yml").read_text(encoding="utf-8")
    assert "- id: gift-wrap\n  language: ro\n  question: Oferiți ambalaj de cadou?\n  phrasings:\n    - ambalaj cadou\n" in text
    assert "  answer: |\n    Da: ambalajul de cadou costă **3 €**.\n\n    Îl alegeți la plată.\n" in text
    assert "  tags: [gifts]\n" in text  # flow list, like the other entries of the file
    loaded = {e.key: e for e in load_content(project / "kb_index/content")}
    assert loaded[("gift-wrap", "ro")].answer == fields["answer"]
    assert saved.item["versions"]["ro"]["file"] == "ro/orders.yml"


async def test_invalid_input_is_refused_at_each_field_and_nothing_is_written(content: ContentService,
                                                                            project: Path, db: Database) -> None:
    head = git(project, "rev-parse", "HEAD")
    with pytest.raises(InvalidContent) as refused:
        await content.save_faq(MARIA, "gift wrap!", "ro", {"question": " ", "answer": "x",
                                                           "links": [{"title": "T", "url": "ftp://x"}]}, base=None)
    fields = {p.field: p.message for p in refused.value.problems}
    assert set(fields) == {"id", "question", "links"}
    assert "slug" in fields["id"] and fields["question"] == "must not be empty" and "ftp://x" in fields["links"]
    body = refused.value.body()
    assert body["error"] == "invalid_content" and len(body["problems"]) == 3

    with pytest.raises(InvalidContent) as duplicate:  # one wording must lead to one entry
        await content.save_faq(MARIA, "gift-wrap", "ro", {"question": "Pot returna un produs?",
                                                          "answer": "Da."}, base=None, topic="orders")
    assert [p.field for p in duplicate.value.problems] == ["phrasings"]
    assert "returns-policy" in duplicate.value.problems[0].message

    with pytest.raises(InvalidContent) as twice:  # an example under two intents
        await content.add_example(MARIA, "goodbye", "en", "hello")
    assert twice.value.problems[0].field == "text" and "'greet'" in twice.value.problems[0].message

    with pytest.raises(InvalidContent):
        await content.add_example(MARIA, "greet", "de", "hallo zusammen")  # not a language of the bot
    assert git(project, "rev-parse", "HEAD") == head and git(project, "status", "--porcelain") == ""
    assert await db.read(studio_store.recent) == []


async def test_two_editors_on_one_entry_get_a_conflict_with_both_versions(content: ContentService,
                                                                         project: Path) -> None:
    opened = content.faq_entry("gift-cards")["versions"]["en"]
    fields = {k: opened[k] for k in ("question", "phrasings", "answer", "links", "tags", "team")}
    await content.save_faq(MARIA, "gift-cards", "en", {**fields, "answer": "Maria's answer."}, base=opened["version"])

    with pytest.raises(EditConflict) as clash:  # Tom opened the same version before Maria saved
        await content.save_faq(TOM, "gift-cards", "en", {**fields, "answer": "Tom's answer."}, base=opened["version"])
    body = clash.value.body()
    assert body["yours"]["answer"] == "Tom's answer." and body["theirs"]["answer"] == "Maria's answer."
    assert body["changed_by"] == "Maria" and body["changed_at"]
    assert "Maria's answer." in (project / "kb_index/content" / opened["file"]).read_text(encoding="utf-8")

    # Having seen both, Tom keeps his: he saves on top of the version he was shown.
    await content.save_faq(TOM, "gift-cards", "en", {**fields, "answer": "Tom's answer."}, base=body["version"])
    assert content.faq_entry("gift-cards")["versions"]["en"]["answer"] == "Tom's answer."
    assert git(project, "log", "-2", "--format=%an").split() == ["Tom", "Maria"]


async def test_example_changes_that_do_not_touch_the_same_example_merge(content: ContentService) -> None:
    seen = content.intent("greet")["languages"]["en"]["version"]
    await content.delete_example(MARIA, "greet", "en", "yo", base=seen)
    await content.add_example(TOM, "greet", "en", "hello there, good people", base=seen)  # other example: merged
    examples = content.intent("greet")["languages"]["en"]["examples"]
    assert "yo" not in examples and "hello there, good people" in examples

    with pytest.raises(EditConflict) as clash:  # Tom edits the example Maria removed
        await content.edit_example(TOM, "greet", "en", "yo", "yo yo", base=seen)
    assert clash.value.body()["changed_by"] == "Maria" and "yo" not in clash.value.body()["theirs"]


async def test_moving_an_example_between_intents(content: ContentService, project: Path) -> None:
    await content.move_example(MARIA, "thanks", "en", "cheers", "goodbye")
    assert "cheers" in content.intent("goodbye")["languages"]["en"]["examples"]
    assert "cheers" not in content.intent("thanks")["languages"]["en"]["examples"]
    assert numstat(project) == [(1, 1, "nlu_data/nlu.yml")]


async def test_responses_keep_their_quoting_and_refuse_what_rasa_could_not_use(content: ContentService,
                                                                              project: Path) -> None:
    response = content.response("utter_cancel_order")
    views = response["variations"]
    views[1]["text"] = views[1]["text"].replace("gratuitamente", "senza costi")
    views.append({"language": "zh", "text": "第二种说法：“取消订单”。", "buttons": [{"title": "转人工", "payload": "/request_human"}]})
    await content.save_response(MARIA, "utter_cancel_order", views, base=response["version"])
    diff = git(project, "show", "HEAD")
    assert '+    text: "Puoi annullare senza costi un ordine' in diff
    assert '+    text: "第二种说法：“取消订单”。"\n+    buttons:\n+    - title: "转人工"\n+      payload: "/request_human"' in diff
    assert numstat(project)[0][:2] == (9, 1)  # the Italian line; the Chinese variation's 8 lines
    data = yaml.safe_load((project / "domain.yml").read_text(encoding="utf-8"))
    assert data["responses"]["utter_cancel_order"][-1]["condition"] == [{"type": "slot", "name": "language",
                                                                          "value": "zh"}]

    fresh = content.response("utter_greet")
    no_default = [v for v in fresh["variations"] if v["language"] != "en"]
    with pytest.raises(InvalidContent) as refused:
        await content.save_response(MARIA, "utter_greet", no_default, base=fresh["version"])
    assert [p.field for p in refused.value.problems] == ["variations"]
    bad = fresh["variations"]
    bad[0]["buttons"] = [{"title": "Talk", "payload": "/talk_to_human"}]
    with pytest.raises(InvalidContent) as payload:
        await content.save_response(MARIA, "utter_greet", bad, base=fresh["version"])
    assert payload.value.problems[0].field == "variations.0.buttons.0.payload"


async def test_rename_follows_rules_stories_domain_and_held_out_or_refuses_with_the_places(
        content: ContentService, project: Path) -> None:
    with pytest.raises(InvalidContent) as refused:
        await content.rename_intent(MARIA, "complaint", "grievance")
    assert "actions/handoff.py" in str(refused.value) and "handoff.yml" in str(refused.value)

    await content.rename_intent(MARIA, "faq", "general_question")
    changed = {f for _a, _d, f in numstat(project)}
    assert {"nlu_data/nlu.yml", "nlu_data/nlu_it.yml", "nlu_data/rules.yml", "nlu_data/stories.yml", "domain.yml",
            "benchmarks/data/starter_heldout/en.yml"} <= changed
    assert all(a == d == 1 for a, d, _f in numstat(project))  # one line each
    assert "- intent: general_question" in (project / "nlu_data/rules.yml").read_text()
    assert "faq" not in content.domain.intents() and "general_question" in content.domain.intents()
    assert validate([project / "nlu_data"]).errors == []


async def test_history_and_one_click_revert(content: ContentService, project: Path) -> None:
    entry = content.faq_entry("gift-cards")["versions"]["en"]
    fields = {k: entry[k] for k in ("question", "phrasings", "answer", "links", "tags", "team")}
    first = await content.save_faq(MARIA, "gift-cards", "en", {**fields, "answer": "First."}, base=entry["version"])
    second = await content.save_faq(TOM, "gift-cards", "en", {**fields, "answer": "Second."},
                                    base=first.item["versions"]["en"]["version"])
    history = await content.history("faq:gift-cards:en")
    assert [(h["author_name"], h["items"][0]["after"]["answer"]) for h in history] == [("Tom", "Second."),
                                                                                       ("Maria", "First.")]
    with pytest.raises(EditConflict):  # reverting Maria's change would also undo Tom's: it asks first
        await content.revert(MARIA, first.revision, "faq:gift-cards:en")
    await content.revert(MARIA, second.revision, "faq:gift-cards:en")
    assert content.faq_entry("gift-cards")["versions"]["en"]["answer"] == "First."
    await content.revert(MARIA, first.revision, "faq:gift-cards:en", force=True)
    assert content.faq_entry("gift-cards")["versions"]["en"]["answer"] == entry["answer"]
    assert git(project, "log", "-1", "--format=%s").startswith("Revert “Change FAQ entry gift-cards")

    added = await content.add_example(MARIA, "greet", "it", "ehilà gente")
    await content.revert(TOM, added.revision, "examples:greet:it")
    assert "ehilà gente" not in content.intent("greet")["languages"]["it"]["examples"]


async def test_without_git_every_save_is_still_a_revision(tmp_path: Path, db: Database) -> None:
    project = copy_content(tmp_path / "plain", git=False)
    content = service(project, db)
    assert content.git is None
    saved = await content.add_example(MARIA, "greet", "ro", "salutare tuturor")
    assert saved.commit is None and saved.revision
    rows = await db.read(studio_store.history, "examples:greet:ro")
    assert rows[0].files == ["nlu_data/nlu_ro.yml"] or rows[0].files[0].endswith("nlu_data/nlu_ro.yml")


async def test_a_crash_while_writing_leaves_the_file_whole_and_records_nothing(
        content: ContentService, project: Path, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    path = project / "nlu_data/nlu_it.yml"
    before = path.read_bytes()

    def disk_full(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(yaml_text.os, "replace", disk_full)
    with pytest.raises(InvalidContent, match="No space left"):
        await content.add_example(MARIA, "greet", "it", "buonasera a tutti voi")
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []  # no temporary file left
    assert await db.read(studio_store.recent) == [] and git(project, "status", "--porcelain") == ""


async def test_a_failed_commit_puts_the_files_back(content: ContentService, project: Path, db: Database) -> None:
    lock = project / ".git/index.lock"
    lock.write_text("")  # another git command is running
    path = project / "nlu_data/nlu.yml"
    before = path.read_bytes()
    with pytest.raises(InvalidContent, match="index.lock"):
        await content.add_example(MARIA, "greet", "en", "hiya folks")
    lock.unlink()
    assert path.read_bytes() == before and await db.read(studio_store.recent) == []


async def test_create_and_delete_an_intent(content: ContentService, project: Path) -> None:
    with pytest.raises(InvalidContent) as bad:
        await content.create_intent(MARIA, "gift/cards", {"en": ["a gift card please"]})
    assert bad.value.problems[0].field == "name"
    await content.create_intent(MARIA, "gift_cards", {"en": ["I want to buy a gift card", "gift card for my mum"],
                                                      "it": ["vorrei una carta regalo"]})
    assert content.intent("gift_cards")["languages"]["it"]["examples"] == ["vorrei una carta regalo"]
    assert "gift_cards" in content.domain.intents()
    assert validate([project / "nlu_data"]).errors == []
    with pytest.raises(InvalidContent, match="rules.yml"):
        await content.delete_intent(MARIA, "greet")  # a rule uses it
    await content.delete_intent(MARIA, "gift_cards")
    with pytest.raises(UnknownItem):
        content.intent("gift_cards")
    assert "gift_cards" not in (project / "domain.yml").read_text()


def test_search_finds_examples_whatever_the_case_and_accents(content: ContentService) -> None:
    hits = content.search("PERCHE")
    assert hits and all("perché" in h["text"].lower() or "perche" in h["text"].lower() for h in hits)
    assert {h["language"] for h in hits} == {"it"} and all(h["intent"] for h in hits)
    assert content.search("   ") == []


async def test_restoring_a_snapshot_lists_each_item_it_changes(content: ContentService, project: Path,
                                                               tmp_path: Path) -> None:
    from bot.studio.releases import snapshot

    snap = snapshot(tmp_path / "snap", data_dir=project / "nlu_data", domain=project / "domain.yml",
                    config=project / "config.yml", kb_content=project / "kb_index/content")
    await content.add_example(MARIA, "greet", "it", "ehi ciao a tutti")
    fields = {"question": "Oferiți ambalaj de cadou?", "answer": "Da."}
    await content.save_faq(MARIA, "gift-wrap", "ro", fields, base=None, topic="new-topic")
    restored = await content.restore(TOM, snap, "Roll back the content to release-0001")
    assert restored is not None
    keys = {c.key for c in (await content.db.read(studio_store.revision, restored.revision)).items}
    assert keys == {"examples:greet:it", "faq:gift-wrap:ro"}
    assert not (project / "kb_index/content/ro/new-topic.yml").exists()
    assert git(project, "status", "--porcelain") == ""
    assert await content.restore(TOM, snap, "again") is None  # nothing left to change


async def test_a_bulk_move_is_one_revision_and_reverts_as_a_whole(content: ContentService, project: Path) -> None:
    greetings = content.intent("greet")["languages"]["it"]["examples"]
    original = (project / "nlu_data/nlu_it.yml").read_bytes()
    saved = await content.move_example(MARIA, "greet", "it", greetings[:5], "goodbye")
    assert numstat(project) == [(5, 5, "nlu_data/nlu_it.yml")]
    assert set(greetings[:5]) <= set(content.intent("goodbye")["languages"]["it"]["examples"])
    # Reverting from greet's history undoes the whole move (greet alone would leave the examples under both).
    await content.revert(TOM, saved.revision, "examples:greet:it")
    assert (project / "nlu_data/nlu_it.yml").read_bytes() == original  # every example back in its place
    assert not set(greetings[:5]) & set(content.intent("goodbye")["languages"]["it"]["examples"])
    assert validate([project / "nlu_data"]).errors == []
