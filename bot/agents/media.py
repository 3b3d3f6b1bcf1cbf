"""Customers' files (Telegram photos and documents, WhatsApp and Messenger media, e-mail attachments), served to
logged-in agents only: `GET /api/agent/media/{media_id}`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from bot.errors import NotFound

if TYPE_CHECKING:
    from bot.container import Container

INLINE = ("image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf", "video/mp4", "audio/mpeg",
          "audio/ogg")


def build_media_router(c: "Container") -> APIRouter:
    api = APIRouter(prefix="/api/agent", tags=["agent"])

    @api.get("/media/{media_id}", summary="A file a customer sent (images and PDFs shown inline, others downloaded)")
    async def media(media_id: str, actor: object = Depends(c.auth.agent_actor)) -> FileResponse:
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
