"""Studio saves as git commits, when the content lives in a git work tree.

Each save commits exactly the files it wrote (`git commit -- <paths>`, whatever else is staged stays staged),
authored by the editor who saved, with the items in trailers. Hooks are skipped (`--no-verify`): the studio
has validated the content itself, and a developer's lint hook must not make a support lead's save fail.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)

COMMITTER = ("supportbot studio", "studio@supportbot.invalid")


class GitError(Exception):
    """A git command failed; the message has git's own words."""


class GitRepo:
    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def find(cls, path: Path) -> "GitRepo | None":
        """The work tree `path` is in, or None (not a work tree, or git is not installed)."""
        try:
            proc = subprocess.run(["git", "-C", str(path), "rev-parse", "--show-toplevel"], capture_output=True,
                                  text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if proc.returncode != 0 or not proc.stdout.strip():
            return None
        return cls(Path(proc.stdout.strip()).resolve())

    def owns(self, path: Path) -> bool:
        return path.resolve().is_relative_to(self.root)

    def _git(self, *args: str, env: dict[str, str] | None = None) -> str:
        proc = subprocess.run(["git", "-C", str(self.root), *args], capture_output=True, text=True, timeout=60,
                              env={**os.environ, **(env or {})})
        if proc.returncode != 0:
            raise GitError(f"git {args[0]} failed: {(proc.stderr or proc.stdout).strip()[:500]}")
        return proc.stdout

    def _committer_env(self) -> dict[str, str]:
        """A committer identity when the repository has none (a fresh clone on a server)."""
        try:
            self._git("config", "user.email")
            return {}
        except GitError:
            return {"GIT_COMMITTER_NAME": COMMITTER[0], "GIT_COMMITTER_EMAIL": COMMITTER[1]}

    def commit(self, paths: list[Path], message: str, *, author_name: str, author_email: str) -> str | None:
        """Commit `paths` (as they are on disk) with `message`; the new commit's id, or None when they did not
        change."""
        relative = [str(p.resolve().relative_to(self.root)) for p in paths if self.owns(p)]
        if not relative:
            return None
        present = [r for r in relative if (self.root / r).exists()]
        if present:
            self._git("add", "--", *present)
        for gone in (r for r in relative if not (self.root / r).exists()):
            self._git("rm", "-q", "--cached", "--ignore-unmatch", "--", gone)
        if not self._git("diff", "--cached", "--name-only", "--", *relative).strip():
            return None
        relative = [r for r in relative if (self.root / r).exists() or self._tracked(r)]
        author = f"{_clean(author_name) or 'studio'} <{_clean(author_email) or COMMITTER[1]}>"
        self._git("commit", "-q", "--no-verify", "-m", message, f"--author={author}", "--", *relative,
                  env=self._committer_env())
        return self._git("rev-parse", "HEAD").strip()

    def _tracked(self, relative: str) -> bool:
        """Known to git at HEAD (a deletion of it can be committed)."""
        try:
            self._git("cat-file", "-e", f"HEAD:{relative}")
            return True
        except GitError:
            return False

    def restore(self, paths: list[Path], commit: str) -> None:
        """Undo a studio commit that could not be recorded: back to its parent, files included."""
        relative = [str(p.resolve().relative_to(self.root)) for p in paths if self.owns(p)]
        head = self._git("rev-parse", "HEAD").strip()
        if head == commit:
            self._git("reset", "-q", "--soft", "HEAD~1")
            self._git("restore", "--staged", "--worktree", "--source=HEAD", "--", *relative)

    def log(self, path: Path | None = None, limit: int = 20) -> list[dict[str, str]]:
        """Recent commits (of `path`), newest first: id, author, date, subject."""
        args = ["log", f"-{limit}", "--format=%H%x1f%an%x1f%aI%x1f%s"]
        if path is not None and self.owns(path):
            args += ["--", str(path.resolve().relative_to(self.root))]
        out = []
        for line in self._git(*args).splitlines():
            sha, author, date, subject = (line.split("\x1f") + ["", "", "", ""])[:4]
            out.append({"commit": sha, "author": author, "date": date, "subject": subject})
        return out


def _clean(text: str) -> str:
    """Names and e-mails as git accepts them in --author (no angle brackets or newlines)."""
    return re.sub(r"[<>\n\r]", "", text).strip()
