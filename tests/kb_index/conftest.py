"""Fixtures for the knowledge-base tests: one real MiniLM encoder and one starter-FAQ index per session."""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

from encoders.runtime import pin_environment

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pin_environment()  # as the entry points do, before numpy, onnxruntime and FAISS load

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests_support import TEST_EMBEDDINGS  # noqa: E402

from encoders import SHIPPED_MODEL, Encoder  # noqa: E402
from kb_index import KnowledgeBase, build_index, load_encoder  # noqa: E402

STARTER_CONTENT = Path(__file__).resolve().parents[2] / "kb_index" / "content"

MINI_CONTENT = {
    "shipping.yml": """
        - id: shipping-times
          language: en
          question: How long does delivery take?
          phrasings: ["When will my order arrive?", how many days does shipping take]
          answer: Delivery takes **2–4 working days**.
          tags: [shipping]
          team: logistics
        - id: track-order
          language: en
          question: How can I track my order?
          phrasings: ["Where is my parcel?", tracking number]
          answer: Use the tracking link in your shipping e-mail.
          links: [{title: Order status, url: "https://shop.example/status"}]
          tags: [tracking]
    """,
    "returns.yml": """
        - id: returns-policy
          language: en
          question: What is your return policy?
          phrasings: ["Can I send an item back?", how long do I have to return something]
          answer: You can return items within 30 days.
          tags: [returns]
          team: logistics
        - id: returns-policy
          language: it
          question: Qual è la vostra politica di reso?
          phrasings: ["Posso restituire un articolo?", quanti giorni ho per il reso]
          answer: Puoi restituire gli articoli entro 30 giorni.
          tags: [returns]
          team: logistics
        - id: password-reset
          language: en
          question: I forgot my password. How do I reset it?
          phrasings: [can't log in, reset my password]
          answer: Choose **Forgot password?** on the sign-in page.
          team: accounts
    """,
}


class RenamedEncoder:
    """The real encoder under another model name (as if the index had been built with a different model)."""

    def __init__(self, inner: Encoder, name: str, dimension: int | None = None):
        self._inner = inner
        self.name = name
        self.dimension = dimension or inner.dimension

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._inner.encode(texts)
        if self.dimension == vectors.shape[1]:
            return vectors
        padded = np.zeros((len(texts), self.dimension), dtype=np.float32)
        padded[:, : vectors.shape[1]] = vectors
        return padded


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    return load_encoder(SHIPPED_MODEL)  # what the bot uses


@pytest.fixture(scope="session")
def starter_index(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> Path:
    out = tmp_path_factory.mktemp("starter") / "build"
    build_index(STARTER_CONTENT, out, encoder, progress=False, cache_dir=TEST_EMBEDDINGS)
    return out


@pytest.fixture(scope="session")
def starter_kb(starter_index: Path, encoder: Encoder) -> KnowledgeBase:
    return KnowledgeBase.load(starter_index, encoder)


def write_files(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return directory


@pytest.fixture
def mini_content(tmp_path: Path) -> Path:
    return write_files(tmp_path / "content", MINI_CONTENT)


@pytest.fixture
def starter_copy(tmp_path: Path) -> Path:
    target = tmp_path / "content"
    shutil.copytree(STARTER_CONTENT, target)
    return target


@pytest.fixture
def make_content(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    def make(files: dict[str, str]) -> Path:
        return write_files(tmp_path / "content", files)

    return make


@pytest.fixture
def renamed_encoder(encoder: Encoder) -> Callable[..., RenamedEncoder]:
    def make(name: str, dimension: int | None = None) -> RenamedEncoder:
        return RenamedEncoder(encoder, name, dimension)

    return make
