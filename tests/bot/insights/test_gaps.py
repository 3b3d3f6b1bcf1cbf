"""Content gaps over the generated week: the questions embedded by the real action server (in-process, with the
shipped sentence encoder), clustered by scikit-learn in the hub."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest

from bot.clients.actions import ActionServerClient
from bot.insights.gaps import cluster
from core.settings import PROJECT_ROOT
from tests_support import free_port_dead
from week import ADDRESS, WARRANTY, Week


def week_range(week: Week) -> dict[str, str]:
    return {"start": (week.now - timedelta(days=8)).date().isoformat(), "end": week.now.date().isoformat()}


def test_gaps_group_the_same_question_and_rank_by_volume(week: Week) -> None:
    resp = week.editor.get("/api/review/gaps", params=week_range(week))
    assert resp.status_code == 200, resp.text
    gaps = resp.json()
    kinds = {d.id: d.kind for d in week.log}
    clusters = gaps["clusters"]
    assert gaps["questions"] == sum(c["count"] for c in clusters)
    counts = [c["count"] for c in clusters]
    assert counts == sorted(counts, reverse=True)
    by_kind = {}
    for c in clusters:  # each group is one question, however it was worded
        asked = {kinds[s["conversation_id"]] for s in c["samples"]}
        if asked & {"out_of_scope", "miss_queued"}:
            assert len(asked) == 1, c["samples"]
            by_kind[asked.pop()] = c
    address, warranty = by_kind["out_of_scope"], by_kind["miss_queued"]
    assert address["count"] == sum(k == "out_of_scope" for k in kinds.values())
    assert {s["text"] for s in address["samples"]} == set(ADDRESS)  # each wording once, with how often
    assert sum(s["times"] for s in address["samples"]) == address["count"]
    assert address["reasons"] == {"out_of_scope": address["count"]}
    assert address["first_half"] + address["second_half"] == address["count"]
    assert address["trend"] in ("rising", "falling", "steady")
    assert warranty["count"] == sum(k == "miss_queued" for k in kinds.values())
    assert {s["text"] for s in warranty["samples"]} == set(WARRANTY)
    assert warranty["agent_replies"] == []  # nobody answered them yet
    gift = next(c for c in clusters if "gift cards" in c["label"])
    assert [r["text"] for r in gift["agent_replies"]] == ["Your gift card was resent to your e-mail."]  # what closed it
    assert set(gift["languages"]) <= {"en", "it"}


def test_cluster_splits_far_apart_vectors_and_keeps_close_ones() -> None:
    import numpy as np

    rows = np.array([[1, 0, 0], [0.99, 0.14, 0], [0, 1, 0], [0, 0, 1]], dtype="float32")
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    labels = cluster(rows)
    assert labels[0] == labels[1] and len({labels[0], labels[2], labels[3]}) == 3
    assert cluster(rows[:1]) == [0] and cluster(rows[:0]) == []


def test_gaps_say_so_when_the_action_server_is_down(week: Week, monkeypatch: pytest.MonkeyPatch) -> None:
    gaps: Any = week.client.app.state.container.gaps
    down = ActionServerClient(f"http://127.0.0.1:{free_port_dead()}")
    monkeypatch.setattr(gaps, "actions", down)
    try:
        resp = week.editor.get("/api/review/gaps", params=week_range(week))
    finally:
        week.client.portal.call(down.aclose)
    assert resp.status_code == 503, resp.text
    body = resp.json()
    assert body["error"] == "encoder_unavailable"
    assert body["detail"].startswith("content gaps need the action server's sentence encoder: it is not answering (")
    assert body["detail"].endswith("). Start it (make run starts everything) and try again.")
    assert "503" in week.client.app.openapi()["paths"]["/api/review/gaps"]["get"]["responses"]  # documented


def test_the_hub_loads_no_encoder_for_content_gaps() -> None:
    code = "import sys, bot.insights.gaps; print(sorted(m for m in sys.modules if m.split('.')[0] == 'encoders'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
