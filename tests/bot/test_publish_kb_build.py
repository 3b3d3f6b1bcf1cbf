"""The publish pipeline's knowledge-base step, in a hub in-process (scripted Rasa, a recorded action server) on a copy
of the content: the index is built in a child process (`kb_index.build_job`), never with an encoder in the hub;
the next publish re-embeds only what changed; a build that fails in the child fails the publish with its message,
and a cancelled publish kills the child; either way the live index and release stay as they were."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from bot.clients.actions import ActionServerClient
from core.settings import PROJECT_ROOT
from encoders.specs import SHIPPED_MODEL, encoder_name
from kb_index import storage
from kb_index.cache import cache_file
from nlu_components import training
from tests_support import TEST_EMBEDDINGS, copy_content
from handoff_kit import admin_headers, make_client

SERVED_MODEL = "fake.tar.gz"  # what the scripted Rasa's /status names


@pytest.fixture(scope="module")
def starter_kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The starter FAQ's index, built once: each test serves a copy. Its embedding cache (inside it, where every
    publish finds it) starts from the test suite's shared one, so only texts new to the suite are embedded."""
    out = tmp_path_factory.mktemp("starter-kb") / "kb"
    shared = cache_file(TEST_EMBEDDINGS, encoder_name(SHIPPED_MODEL))
    if shared.exists():
        (out / storage.CACHE_DIR).mkdir(parents=True)
        shutil.copy2(shared, out / storage.CACHE_DIR / shared.name)
    subprocess.run([sys.executable, "-m", "kb_index", "build", "--content", str(PROJECT_ROOT / "kb_index/content"),
                    "--out", str(out), "--model", SHIPPED_MODEL, "--no-progress"], check=True, cwd=PROJECT_ROOT,
                   stdout=subprocess.DEVNULL)
    return out


def recorded_action_server(kb: Path, calls: list[str]) -> ActionServerClient:
    """An action server that records its calls and, asked to reload, serves the live index of `kb`."""

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/kb/reload":
            live = storage.live_manifest(kb)
            return httpx.Response(200, json={"kb": {"version": live.version if live else None}})
        return httpx.Response(404)

    return ActionServerClient("http://action-server", transport=httpx.MockTransport(handler))


@pytest.fixture
def start_hub(tmp_path: Path, starter_kb: Path) -> Iterator[Callable[..., TestClient]]:
    """Starts the hub on a copy of the content and of the starter index, serving a model trained (as its
    fingerprint says) from that content: an FAQ change publishes without training."""
    project = copy_content(tmp_path / "project")
    kb = tmp_path / "kb"
    shutil.copytree(starter_kb, kb, symlinks=True)
    models = tmp_path / "models"
    models.mkdir()
    (models / SERVED_MODEL).write_bytes(b"a model")
    config, domain, data = project / "config.yml", project / "domain.yml", project / "nlu_data"
    (models / SERVED_MODEL.replace(".tar.gz", ".fingerprint")).write_text(training.fingerprint(
        training.model_inputs(config, domain, data, training.ensure_encoders(config))))
    clients: list[TestClient] = []

    def start(**overrides: Any) -> TestClient:
        client = make_client(tmp_path, actions=recorded_action_server(kb, overrides.pop("calls", [])),
                             rasa_data_dir=data, rasa_domain=domain, rasa_config=config,
                             kb_content_dir=project / "kb_index/content",
                             nlu_heldout_dir=project / "benchmarks/data/starter_heldout", rasa_model_dir=models,
                             kb_index_dir=kb, **overrides)
        clients.append(client)
        return client.__enter__()

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def add_phrasing(client: TestClient, entry_id: str, phrasing: str, language: str = "en") -> None:
    entry = client.get(f"/api/studio/faq/{entry_id}", headers=admin_headers()).json()["versions"][language]
    fields = {k: entry.get(k) for k in ("question", "phrasings", "answer", "links", "tags", "team")}
    resp = client.put(f"/api/studio/faq/{entry_id}/{language}", headers=admin_headers(),
                      json={**fields, "phrasings": [*fields["phrasings"], phrasing], "base": entry["version"]})
    assert resp.status_code == 200, resp.text


def start_publish(client: TestClient, message: str = "") -> str:
    resp = client.post("/api/studio/publish", headers=admin_headers(), json={"message": message})
    assert resp.status_code == 202, resp.text
    return resp.json()["run"]["id"]


def run_of(client: TestClient, run_id: str) -> dict[str, Any]:
    return client.get(f"/api/studio/publish/{run_id}", headers=admin_headers()).json()["run"]


def finished(client: TestClient, run_id: str, timeout_s: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = run_of(client, run_id)
        if run["state"] != "running":
            return run
        time.sleep(0.2)
    raise AssertionError(f"publish {run_id} still running after {timeout_s} s")


def stage(run: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in run["stages"] if s["name"] == name)


def build_jobs(kb: Path) -> list[int]:
    """The running `kb_index.build_job` processes building into `kb` (from /proc)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"kb_index.build_job" in args and str(kb).encode() in args:
            found.append(int(proc.name))
    return found


def live_state(client: TestClient, kb: Path) -> tuple[str | None, str, list[str]]:
    """The live index version, the live release and the releases kept."""
    status = client.get("/api/studio/status", headers=admin_headers()).json()
    live = storage.live_manifest(kb)
    return live.version if live else None, status["live"]["id"], [r["id"] for r in status["releases"]]


def test_an_faq_publish_builds_the_index_in_a_child_process_and_the_hub_loads_no_encoder(
        start_hub: Callable[..., TestClient], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import encoders.loading

    loads: list[str] = []
    # every encoder load goes through this cache (load_encoder and the knowledge base's holder alike)
    monkeypatch.setattr(encoders.loading, "_cached", lambda name, *_a: loads.append(name))
    calls: list[str] = []
    client = start_hub(calls=calls)
    kb = tmp_path / "kb"
    before = storage.live_manifest(kb)
    assert before is not None
    add_phrasing(client, "gift-cards", "can I pay with a voucher card")

    run = finished(client, start_publish(client, "a new way to ask about gift cards"))
    assert run["state"] == "live", run
    kb_stage = stage(run, "kb")
    assert kb_stage["state"] == "done" and kb_stage["progress"] == 1.0
    # the embedding cache inside the index folder served every text but the new phrasing
    assert "embedded 1 new texts" in kb_stage["detail"], kb_stage
    after = storage.live_manifest(kb)
    assert after is not None and after.version != before.version and after.version in kb_stage["detail"]
    assert after.entry_count == before.entry_count and after.vector_count == before.vector_count + 1
    assert "/kb/reload" in calls  # the action server was told
    assert loads == []  # the hub never loaded a sentence encoder
    assert build_jobs(kb) == []


def test_a_build_that_fails_in_the_child_fails_the_publish_and_leaves_the_live_bot(
        start_hub: Callable[..., TestClient], tmp_path: Path) -> None:
    client = start_hub(embedding_model=str(tmp_path / "no-such-encoder"))
    kb = tmp_path / "kb"
    add_phrasing(client, "gift-cards", "can I pay with a voucher card")
    before = live_state(client, kb)

    run = finished(client, start_publish(client))
    assert run["state"] == "failed", run
    assert run["error"].startswith("the knowledge-base build failed: cannot load the embedding model"), run["error"]
    assert "no-such-encoder" in run["error"] and "EMBEDDING_MODEL" in run["error"]
    assert stage(run, "kb")["state"] == "failed" and stage(run, "swap")["state"] == "pending"
    assert live_state(client, kb) == before
    assert "Traceback" not in run["error"]


def test_cancelling_a_publish_during_the_kb_build_kills_the_child_and_leaves_the_live_bot(
        start_hub: Callable[..., TestClient], tmp_path: Path) -> None:
    client = start_hub()
    kb = tmp_path / "kb"
    add_phrasing(client, "gift-cards", "can I pay with a voucher card")
    before = live_state(client, kb)

    run_id = start_publish(client)
    deadline = time.monotonic() + 60
    while not (children := build_jobs(kb)):
        assert time.monotonic() < deadline and run_of(client, run_id)["state"] == "running", run_of(client, run_id)
        time.sleep(0.05)
    assert client.post("/api/studio/publish/cancel", headers=admin_headers()).json() == {"cancelled": True}

    run = finished(client, run_id, timeout_s=30)
    assert run["state"] == "cancelled", run
    assert stage(run, "kb")["state"] == "failed"
    assert all(not Path(f"/proc/{pid}").exists() for pid in children)  # killed and reaped, not a zombie
    assert build_jobs(kb) == []
    assert live_state(client, kb) == before
