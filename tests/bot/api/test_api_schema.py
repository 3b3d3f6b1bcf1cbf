"""The standing API test: schemathesis drives every operation of the hub's OpenAPI schema against a real server
(uvicorn on loopback), as an admin (bearer token) and, for the agent and auth endpoints, as a logged-in agent
(session cookie + CSRF token). Fixed seed, bounded examples. Every answer must be documented: no 5xx, a documented
status code, content type and body shape.

The hub holds a little of everything first (a queued conversation, a dead letter, an agent account, a Rasa
tracker) so that valid ids lead somewhere; the examples may change or erase it as they go, which is the point.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, negative_data_rejection,
                                               response_schema_conformance, status_code_conformance)
from sqlalchemy import text

from bot.agents.auth import COOKIE
from handoff_kit import ADMIN_TOKEN, Customer, create_agent, make_client
from tests_support import action_server
from live_hub import serve
from privacy_kit import write_trackers

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]  # invalid input (out of range, wrong type) must be refused with a 4xx
EXAMPLES = 12  # per operation and caller: about 1,000 requests in all
SEED = 1414


@dataclass
class LiveHub:
    url: str
    app: Any
    agent_id: int

    def agent_session(self) -> dict[str, str]:
        """A fresh console session for the seeded agent (an example may have logged out or changed the account
        before), as the cookie and CSRF headers a browser would send."""
        c = self.app.state.container
        c.accounts.update(self.agent_id, active=True, role="agent")
        token, csrf = c.accounts.open_session(self.agent_id, 3600)
        return {"Cookie": f"{COOKIE}={c.auth.signer.dumps(token)}", "X-CSRF-Token": csrf}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHub]:
    tmp: Path = tmp_path_factory.mktemp("schema")
    client = make_client(tmp, language_detector_model="lite", actions=action_server)  # the real one, in-process
    with serve(client.app) as url:  # the server runs the app's lifespan; the test client shares its container
        agent = create_agent(client, "fuzz@example.com", display_name="Fuzz")
        customer = Customer(client)
        customer.say("person please")
        Customer(client).say("hi")
        c = client.app.state.container
        with c.engine.begin() as conn:
            conn.execute(text("UPDATE outbound_queue SET state='dead' WHERE id = (SELECT MIN(id) FROM outbound_queue)"))
        write_trackers(Path(c.settings.tracker_store_url.removeprefix("sqlite:///")),
                       [{"sender": customer.conversation_id, "text": "where is my order"}])
        yield LiveHub(url, client.app, agent["id"])


FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
                suppress_health_check=list(HealthCheck))


def fuzz(live: LiveHub, headers: Callable[[], dict[str, str]], *, paths: str = "") -> None:
    """Every operation (whose path matches `paths`), EXAMPLES cases each; fails with each failing operation's
    report (schemathesis's, with a curl command to reproduce it)."""
    api = schemathesis.openapi.from_dict(live.app.openapi())
    failures: list[str] = []
    ran, calls = 0, [0]
    for result in api.get_all_operations():
        operation = result.ok()
        if not re.match(paths, operation.path):
            continue
        ran += 1

        @FUZZ
        @seed(SEED)
        @given(case=operation.as_strategy())
        def examples(case: Any) -> None:
            calls[0] += 1
            case.call_and_validate(base_url=live.url, headers=headers(), checks=CHECKS)

        try:
            examples()
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis's FailureGroup is a BaseExceptionGroup
            failures.append(f"{operation.label}:\n{str(exc)[:3000]}")  # every operation's failure, together
    assert not failures, f"{len(failures)} of {ran} operations failed:\n\n" + "\n\n".join(failures)
    assert ran > 0 and calls[0] >= 3 * ran, (ran, calls)  # every operation was really exercised


def test_every_operation_as_admin(live: LiveHub) -> None:
    fuzz(live, lambda: {"Authorization": f"Bearer {ADMIN_TOKEN}"})


def test_agent_and_auth_operations_as_a_logged_in_agent(live: LiveHub) -> None:
    fuzz(live, live.agent_session, paths=r"^/api/(agent|auth)/")


# A deny list: any well-formed visitor id can be revoked (tokens are not stored, so no id is "unknown").
TAKES_ANY_ID = {"/api/admin/visitors/{visitor}/revoke-tokens"}


def test_the_schema_documents_every_error_of_every_operation(live: LiveHub) -> None:
    """What schemathesis cannot see unless it happens: each operation lists the errors it can answer."""
    spec = live.app.openapi()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            codes = set(op["responses"])
            if path.startswith(("/api/agent/", "/api/admin/")) or path in ("/api/auth/logout", "/api/auth/me"):
                assert {"401", "403", "422"} <= codes, (method, path, codes)
            if "{" in path and path not in TAKES_ANY_ID:
                assert {"404", "422"} <= codes, (method, path, codes)
            for code in codes - {"200", "201"}:
                if code.startswith("4"):
                    ref = op["responses"][code]["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorBody"), (method, path, code)
