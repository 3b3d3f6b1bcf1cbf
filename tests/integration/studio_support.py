"""A stack for the studio's tests: its own copy of the project's content (a git work tree of its own), its own
models and index folders, and its own Rasa, action server and hub, so a publish never touches the repository
or the stack the other integration tests share."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bot.ops import secrets
from core.settings import PROJECT_ROOT, HubSettings
from nlu_components import training
from tests.integration.support import ADMIN_TOKEN, started
from tests_support import copy_content
from tests_support import free_port_dead as free_port
from tools.launcher import Service, child_env, services, write_endpoints

ADMIN = ("lead@example.com", "studio-admin-password")


@dataclass
class StudioStack:
    settings: HubSettings
    services: dict[str, Service]
    project: Path

    @property
    def hub(self) -> str:
        return self.settings.hub_url

    def admin(self) -> httpx.Client:
        return httpx.Client(base_url=self.hub, timeout=60,
                            headers={"Authorization": f"Bearer {self.settings.admin_api_token.get_secret_value()}",
                                     "X-Agent": ADMIN[0]})

    def new_account(self, name: str, role: str = "editor") -> tuple[str, str]:
        email, password = f"{name.lower()}-{uuid.uuid4().hex[:6]}@example.com", "studio-password-1"
        with self.admin() as api:
            resp = api.post("/api/admin/agents", json={"email": email, "password": password, "display_name": name,
                                                       "role": role})
        assert resp.status_code == 201, resp.text
        return email, password

    def publish(self, message: str = "", timeout_s: float = 400) -> dict[str, Any]:
        """Publish through the API and wait for the end; the finished run."""
        with self.admin() as api:
            resp = api.post("/api/studio/publish", json={"message": message})
            assert resp.status_code == 202, resp.text
            return wait_for_run(api, resp.json()["run"]["id"], timeout_s)

    def git_log(self, n: int = 5) -> list[str]:
        out = subprocess.run(["git", "-C", str(self.project), "log", f"-{n}", "--format=%an|%s"], capture_output=True,
                             text=True, check=True).stdout
        return out.splitlines()


def wait_for_run(api: httpx.Client, run_id: str, timeout_s: float = 400) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = api.get(f"/api/studio/publish/{run_id}").json()["run"]
        if run["state"] != "running":
            return run
        time.sleep(0.5)
    raise AssertionError(f"publish {run_id} still running after {timeout_s} s")


def studio_settings(root: Path, project: Path, **overrides: Any) -> HubSettings:
    hub_port = overrides.pop("hub_port", None) or free_port()
    values: dict[str, Any] = dict(
        data_dir=root / "var", hub_port=hub_port, rasa_port=free_port(), action_port=free_port(),
        web_allowed_origins=(f"http://127.0.0.1:{hub_port}",),
        kb_content_dir=project / "kb_index/content", kb_index_dir=root / "kb", rasa_data_dir=project / "nlu_data",
        rasa_domain=project / "domain.yml", rasa_config=project / "config.yml", rasa_model_dir=root / "models",
        nlu_heldout_dir=project / "benchmarks/data/starter_heldout", admin_email=ADMIN[0],
        admin_password=ADMIN[1], admin_api_token=ADMIN_TOKEN, rasa_timeout_s=20.0)
    return secrets.resolve(HubSettings.from_env(**{**values, **overrides}))  # the generated Rasa token, as the launcher


def prepare(root: Path, trained_model: Path, **overrides: Any) -> tuple[HubSettings, Path]:
    """Content, index and model of a studio stack in `root` (the model trained from the same content is reused)."""
    project = copy_content(root / "project")
    settings = studio_settings(root, project, **overrides)
    models = settings.rasa_model_dir
    models.mkdir(parents=True)
    shutil.copy2(trained_model, models / "current.tar.gz")
    encoders = training.ensure_encoders(settings.rasa_config)
    (models / "current.fingerprint").write_text(training.fingerprint(training.model_inputs(
        settings.rasa_config, settings.rasa_domain, settings.rasa_data_dir, encoders)))
    subprocess.run([sys.executable, "-m", "kb_index", "build", "--content", str(settings.kb_content_dir), "--out",
                    str(settings.kb_index_dir), "--no-progress"], check=True, cwd=PROJECT_ROOT, env=child_env(),
                   stdout=subprocess.DEVNULL)
    return settings, project


@contextlib.contextmanager
def running(settings: HubSettings, project: Path) -> Iterator[StudioStack]:
    with started(services(settings, settings.rasa_model_dir / "current.tar.gz", write_endpoints(settings))) as procs:
        yield StudioStack(settings, procs, project)
