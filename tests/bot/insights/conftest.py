"""The generated week (tests/bot/insights/week.py), made once for the tests of this folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from handoff_kit import agent_session
from week import EDITOR, Week, generate


@pytest.fixture(scope="session")
def week(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Week]:
    generated = generate(tmp_path_factory.mktemp("week"))
    generated.editor = agent_session(generated.client, EDITOR[0], EDITOR[1])
    yield generated
    generated.client.__exit__(None, None, None)
