"""Train a Rasa model from a project's config, domain and NLU data: what `make train` and the studio's publish
share.

`train` runs Rasa's own command line in its Python 3.10 runtime (`.venv-rasa`, through `nlu_components.rasa_cli`)
into a temporary folder beside the target, so a failed or cancelled run never replaces the previous model, and
reports what Rasa is doing as it goes (`TrainingProgress`: the step, how many of the pipeline's trainable
components are done). `fingerprint` is the hash of a model's inputs that decides whether training is needed.

Runs in the hub's runtime; standard library, PyYAML, `core.languages` and `nlu_components.validate` only.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from core.languages import DEFAULT_LANGUAGE, SUPPORTED_LANGUAGES
from nlu_components import PROJECT_ROOT
from nlu_components.validate import Report, validate

RASA_VENV = PROJECT_ROOT / ".venv-rasa"
#: Rasa's command line as the launcher runs it: Rasa's own, minus warnings nobody here can act on.
RASA_CLI = "nlu_components.rasa_cli"
# Code Rasa loads from the project (custom NLU components); part of the model's fingerprint.
CODE_DIRS = [PROJECT_ROOT / "nlu_components"]

ONE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TF_INTRA_OP_PARALLELISM_THREADS": "1",
    "TF_INTER_OP_PARALLELISM_THREADS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "RASA_TELEMETRY_ENABLED": "false",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    "PYTHONUNBUFFERED": "1",
    "RASA_CACHE_DIRECTORY": str(PROJECT_ROOT / "var" / "rasa-cache"),  # not the default .rasa/ in the work tree
}

# Pipeline components and policies that Rasa never "trains" (no "Starting to train component" line).
_NOT_TRAINED = {"WhitespaceTokenizer", "FallbackClassifier", "JiebaTokenizer", "SpacyTokenizer", "SpacyNLP"}
_COMPONENT = re.compile(r"(Starting to train|Finished training|Restored) component '([^']+)'")
_SAVED = "Your Rasa model is trained and saved at"


class TrainingError(Exception):
    """Training could not run or failed; the message says what to fix. The previous model stays in service."""


@dataclass(frozen=True)
class TrainingProgress:
    """What Rasa is doing: `step` in words, `done` of `total` trainable components finished."""

    step: str
    done: int
    total: int

    @property
    def fraction(self) -> float:
        return min(self.done / self.total, 1.0) if self.total else 0.0


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process of the stack: one math thread, offline, the project importable."""
    env = {**os.environ, **ONE_THREAD_ENV, **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]))
    return env


def rasa_command() -> list[str]:
    """`rasa` in its own runtime (`nlu_components.rasa_cli`: Rasa's command line, quiet about known warnings)."""
    python = RASA_VENV / "bin" / "python"
    if not (RASA_VENV / "bin" / "rasa").exists() or not python.exists():
        raise TrainingError(f"Rasa is not installed ({RASA_VENV / 'bin' / 'rasa'} is missing). "
                            "Run `make install` first.")
    return [str(python), "-m", RASA_CLI]


def fingerprint(paths: list[Path], root: Path = PROJECT_ROOT) -> str:
    """A hash of the contents of the given files and folders (names relative to `root`, and bytes)."""
    digest = hashlib.sha256()
    for top in paths:
        files = sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else [top] if top.exists() else []
        for f in files:
            if "__pycache__" in f.parts:
                continue
            digest.update(str(f.relative_to(root) if f.is_relative_to(root) else f).encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()


def ensure_encoders(config: Path) -> list[Path]:
    """Export the sentence encoder(s) that `config` names to ONNX when missing (nlu_components.export_onnx);
    their folders, whose manifests belong to the model's fingerprint."""
    if "SentenceEmbeddingFeaturizer" not in config.read_text(encoding="utf-8", errors="replace"):
        return []
    proc = subprocess.run([sys.executable, "-m", "nlu_components.export_onnx", "--config", str(config), "--quiet"],
                          cwd=PROJECT_ROOT, env=child_env(), stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise TrainingError("exporting the NLU sentence encoder to ONNX failed (see above); "
                            "the previous Rasa model, if any, stays in service.")
    return [Path(line) for line in proc.stdout.splitlines() if line.strip()]


def model_inputs(config: Path, domain: Path, data: Path, encoders: list[Path]) -> list[Path]:
    """Everything a trained model depends on, for `fingerprint`."""
    return [config, domain, data, *CODE_DIRS, *(e / "manifest.json" for e in encoders)]


def check_data(data: Path) -> Report:
    """The NLU data checks (`nlu_components.validate`); raises `TrainingError` when there are errors."""
    report = validate([data])
    if report.errors:
        raise TrainingError(f"{len(report.errors)} error(s) in the training data: "
                            + "; ".join(map(str, report.errors)) + ". The previous model, if any, stays in service.")
    return report


def trainable_components(config: Path) -> int:
    """How many components of the config's pipeline and policies Rasa trains (for progress)."""
    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return 0
    names = [str(c.get("name", "")).rsplit(".", 1)[-1] for key in ("pipeline", "policies")
             for c in data.get(key) or [] if isinstance(c, dict)]
    return sum(1 for n in names if n not in _NOT_TRAINED)


def file_language(path: Path, languages: tuple[str, ...] = SUPPORTED_LANGUAGES,
                  default_language: str = DEFAULT_LANGUAGE) -> str:
    """The language of an NLU file from its name, as the studio names them: nlu_it.yml → it; a name without a
    known language suffix (nlu.yml, faq.yml) → the default language."""
    suffix = path.stem.rsplit("_", 1)[-1].lower() if "_" in path.stem else ""
    return suffix if suffix in languages else default_language


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (an intent's `examples: |`) written as literal blocks, as people write them."""


_BlockDumper.add_representer(str, lambda dumper, value: dumper.represent_scalar(
    "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None))


def tag_languages(data: Path, into: Path, *, languages: tuple[str, ...] = SUPPORTED_LANGUAGES,
                  default_language: str = DEFAULT_LANGUAGE) -> Path:
    """A copy of the training data (a folder or one file) at `into` in which every intent says its language,
    ``metadata: {language: it}`` from its file's name (`file_language`), unless it says one already; what Rasa
    trains on, so that the intent classifier knows which intents lack which language (linear_model
    ``fill_languages``). Files that are not NLU YAML, or do not parse, are copied as they are (Rasa reports them)."""
    sources = [data] if data.is_file() else sorted(p for p in data.rglob("*") if p.is_file())
    into.mkdir(parents=True, exist_ok=True)
    for source in sources:
        target = into / (source.name if data.is_file() else source.relative_to(data))
        target.parent.mkdir(parents=True, exist_ok=True)
        document = None
        if source.suffix in (".yml", ".yaml"):
            try:
                document = yaml.safe_load(source.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, yaml.YAMLError):
                document = None
        items = document.get("nlu") if isinstance(document, dict) else None
        if not isinstance(items, list):
            shutil.copy2(source, target)
            continue
        language = file_language(source, languages, default_language)
        for item in items:
            if not isinstance(item, dict) or "intent" not in item:
                continue
            metadata = item.get("metadata")
            if metadata is None:
                item["metadata"] = {"language": language}
            elif isinstance(metadata, dict):
                metadata.setdefault("language", language)
        target.write_text(yaml.dump(document, Dumper=_BlockDumper, allow_unicode=True, sort_keys=False,
                                    width=1 << 20), encoding="utf-8")
    return into if data.is_dir() else into / data.name


def train(
    *, config: Path, domain: Path, data: Path, out_dir: Path, name: str,
    on_progress: Callable[[TrainingProgress], None] | None = None,
    on_line: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
    quiet: bool = False,
    rasa_validation: bool = True,
    languages: tuple[str, ...] = SUPPORTED_LANGUAGES,
    default_language: str = DEFAULT_LANGUAGE,
) -> Path:
    """Train `out_dir/<name>.tar.gz` from the given inputs; its path.

    Training runs in a temporary folder beside the target, so a failed or cancelled run leaves any previous
    model in place. `on_line` gets every line Rasa prints (progress bars excepted), `on_progress` each step;
    `cancel` stops the run (`TrainingError`). `quiet` keeps Rasa to warnings and errors (a terminal's view).
    `rasa_validation=False` skips Rasa's own check of the domain and stories (slow: 10-45 s on two busy cores),
    for callers that have checked the data themselves and changed nothing but examples and texts. Rasa trains
    on a copy of `data` whose intents carry their file's language (`tag_languages`: `languages`,
    `default_language`).
    """
    command = rasa_command()
    out_dir.mkdir(parents=True, exist_ok=True)
    total = trainable_components(config)
    done: set[str] = set()
    report = on_progress or (lambda _p: None)
    report(TrainingProgress("starting Rasa", 0, total))
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".training-") as tmp:
        tagged = tag_languages(data, Path(tmp) / "data", languages=tuple(languages),
                               default_language=default_language)
        argv = [*command, "train", "--data", str(tagged), "--config", str(config), "--domain", str(domain),
                "--out", tmp, "--fixed-model-name", name]
        if quiet:
            argv.append("--quiet")  # warnings and errors only, no progress bars
        if not rasa_validation:
            argv.append("--skip-validation")
        proc = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=child_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True)
        stopper = _stop_when(cancel, proc)
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:  # universal newlines: a progress bar's "\r" updates are lines too
                line = raw.rstrip("\n")
                if not line.strip() or line.lstrip().startswith("Processed "):
                    continue
                if _SAVED in line:  # Rasa names the temporary folder; the caller says the final path
                    continue
                if on_line is not None:
                    on_line(line)
                if "Started validating" in line:
                    report(TrainingProgress("checking the domain and the training data", len(done), total))
                match = _COMPONENT.search(line)
                if match:
                    what, component = match.groups()
                    short = component.rsplit(".", 1)[-1]
                    if what == "Starting to train":
                        report(TrainingProgress(f"training {short}", len(done), total))
                    else:
                        done.add(component)
                        report(TrainingProgress(f"{short} {'restored from the cache' if what == 'Restored' else 'trained'}",
                                                len(done), total))
            code = proc.wait()
        finally:
            if proc.poll() is None:
                _kill(proc)
            if stopper is not None:
                stopper.set()
        if cancel is not None and cancel.is_set():
            raise TrainingError("training was cancelled; the previous model stays in service")
        trained = Path(tmp) / f"{name}.tar.gz"
        if code != 0 or not trained.exists():
            raise TrainingError(f"Rasa training failed (exit {code}); the previous model, if any, stays in service. "
                                "Read the errors Rasa printed, fix config.yml / domain.yml / nlu_data/, and try again.")
        target = out_dir / f"{name}.tar.gz"
        os.replace(trained, target)
    report(TrainingProgress("model saved", total, total))
    return target


def _kill(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass


def _stop_when(cancel: threading.Event | None, proc: subprocess.Popen[str]) -> threading.Event | None:
    """A watcher that kills `proc` when `cancel` is set; set the returned event to end the watcher."""
    if cancel is None:
        return None
    finished = threading.Event()

    def watch() -> None:
        while not finished.is_set():
            if cancel.wait(0.2):
                if proc.poll() is None:
                    _kill(proc)
                return

    threading.Thread(target=watch, name="training-cancel", daemon=True).start()
    return finished
