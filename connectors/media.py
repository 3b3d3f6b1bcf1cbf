"""Media files: what customers send (kept so agents can see them) and what the hub sends (checked against each
channel's size limit before it goes out).

`MediaStore` is the port connectors save customers' files through (Telegram photos and documents, WhatsApp
Cloud media, e-mail attachments); the hub injects `FileMediaStore` (files under `DATA_DIR/media`) and serves
them to logged-in agents. A message's payload then carries `{"media": [{"media_id", "content_type", "size",
"file_name"}]}`.

`check_outbound()` asks for each outgoing file's size (HEAD, Content-Length) and refuses, with a message that
says which file and which limit, what the channel would refuse anyway — before a half-sent message.
"""

from __future__ import annotations

import json
import mimetypes
import re
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Protocol
from urllib.parse import urlparse

import anyio
import httpx

from connectors.notices import mb
from core.errors import Permanent

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")
_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class StoredMedia:
    media_id: str
    content_type: str
    size: int
    file_name: str

    def item(self) -> dict[str, object]:
        """The entry in a message's `payload["media"]`."""
        return asdict(self)


class MediaTooLarge(Exception):
    """A customer's file over the channel's limit (`size`: its size, or at least how much was read)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"file of {size} bytes is too large")
        self.size = size


class MediaStore(Protocol):
    async def save(self, data: bytes, *, content_type: str, file_name: str | None = None) -> StoredMedia:
        """Keep a customer's file; its id and what it is."""


class FileMediaStore:
    """Files under `root` (one per id, with its metadata beside it). Ids are random: not guessable."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def save(self, data: bytes, *, content_type: str, file_name: str | None = None) -> StoredMedia:
        media_id = uuid.uuid4().hex
        name = _SAFE_NAME.sub("_", file_name or "").strip() or f"file{mimetypes.guess_extension(content_type) or ''}"
        stored = StoredMedia(media_id, content_type or "application/octet-stream", len(data), name[:120])

        def write() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            (self.root / media_id).write_bytes(data)
            (self.root / f"{media_id}.json").write_text(json.dumps(asdict(stored)), encoding="utf-8")

        await anyio.to_thread.run_sync(write)
        return stored

    def open(self, media_id: str) -> tuple[Path, StoredMedia] | None:
        """The file and its metadata; None for an unknown (or malformed) id."""
        if not _ID.match(media_id):
            return None
        path, meta = self.root / media_id, self.root / f"{media_id}.json"
        if not path.is_file() or not meta.is_file():
            return None
        return path, StoredMedia(**json.loads(meta.read_text(encoding="utf-8")))


def kind_of(url: str, content_type: str | None = None) -> str:
    """image | video | audio | document, from the content type or the URL's file name."""
    guessed = content_type or mimetypes.guess_type(urlparse(url).path)[0] or ""
    major = guessed.split("/")[0]
    return major if major in ("image", "video", "audio") else "document"


async def check_outbound(http: httpx.AsyncClient, urls: list[str], *, channel: str,
                         limit_for: Callable[[str], int]) -> None:
    """Refuse (`Permanent`) a file larger than the channel takes for its kind (`limit_for(kind)`), naming the
    file, its size and the limit. A file whose size cannot be told is let through: the channel decides."""
    for url in urls:
        try:
            resp = await http.head(url, follow_redirects=True, timeout=10.0)
        except httpx.HTTPError:
            continue
        length = resp.headers.get("content-length", "")
        if resp.status_code >= 400 or not length.isdigit():
            continue
        kind = kind_of(url, resp.headers.get("content-type", "").split(";")[0].strip() or None)
        limit = limit_for(kind)
        if int(length) > limit:
            name = Path(urlparse(url).path).name or url
            raise Permanent(f"not sent: {name} ({mb(int(length))} MB) is larger than the {mb(limit)} MB {channel} "
                            f"accepts for {kind}s; send a smaller file or a link to it", service=channel)
