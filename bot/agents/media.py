"""Customers' files (Telegram photos and documents, WhatsApp and Messenger media, e-mail attachments), served to
logged-in agents only: `GET /api/agent/media/{media_id}`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import FileResponse

from bot.errors import AUTHENTICATED, NotFound, described, responses

if TYPE_CHECKING:
    from bot.container import Container

MediaId = Annotated[str, Path(min_length=1, max_length=64, description="The file's id (as the message names it)")]
FILE = {200: {"description": "The file: inline as its own type (images, PDF, audio, video), anything else as a "
                             "download (application/octet-stream)",
              "content": {t: {"schema": {"type": "string", "format": "binary"}}
                          for t in ("image/*", "application/pdf", "video/mp4", "audio/*",
                                    "application/octet-stream")}}}
NO_FILE = described(404, "No such file (unknown id, or removed)", {"error": "not_found", "detail": "no file 3f2a…"})

INLINE = ("image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf", "video/mp4", "audio/mpeg",
          "audio/ogg")


def build_media_router(c: "Container") -> APIRouter:
    api = APIRouter(prefix="/api/agent", tags=["agent"], responses=responses(*AUTHENTICATED))

    @api.get("/media/{media_id}", summary="A file a customer sent (images and PDFs shown inline, others downloaded)",
             response_class=FileResponse, responses={**FILE, **NO_FILE})
    async def media(media_id: MediaId, actor: object = Depends(c.auth.agent_actor)) -> FileResponse:
        found = c.media.open(media_id)
        if found is None:
            raise NotFound(f"no file {media_id}")
        path, meta = found
        inline = meta.content_type in INLINE
        # A customer's file is never run as a page of the hub (no sniffing, no scripts, its own origin).
        return FileResponse(path, media_type=meta.content_type if inline else "application/octet-stream",
                            filename=meta.file_name, content_disposition_type="inline" if inline else "attachment",
                            headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox",
                                     "Cache-Control": "private, max-age=3600"})

    return api
