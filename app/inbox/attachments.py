"""Task attachments: size-limited, type-checked by content, stored under instance/attachments.

The type is decided by the file's bytes, not by the name or the browser's Content-Type; the
name's extension must agree with it. HTML, SVG and anything executable are refused, and
downloads are always ``Content-Disposition: attachment`` (plus ``nosniff`` from app.security).
"""
from __future__ import annotations

import hashlib
import io
import os
import uuid
import zipfile
from pathlib import Path

from flask import current_app, send_file
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.utils import secure_filename

from app.api.errors import ApiError
from app.extensions import db
from app.inbox import services
from app.inbox.models import TaskAttachment

DEFAULT_MAX_BYTES = 10 * 1024 * 1024

# content type -> extensions a file of that type may carry
TYPES = {
    "application/pdf": (".pdf",),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    "image/gif": (".gif",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (".docx",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (".xlsx",),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": (".pptx",),
    "text/plain": (".txt", ".log"),
    "text/csv": (".csv",),
}
_OOXML = {"word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
          "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
          "ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation"}


def max_bytes() -> int:
    return int(current_app.config.get("INBOX_ATTACHMENT_MAX_BYTES", DEFAULT_MAX_BYTES))


def storage_dir() -> Path:
    path = Path(current_app.instance_path) / "attachments"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _is_text(content: bytes) -> bool:
    if b"\x00" in content:
        return False
    for encoding in ("utf-8", "gb18030"):
        try:
            text = content.decode(encoding)
        except UnicodeDecodeError:
            continue
        head = text[:1024].lstrip().lower()
        # Markup would be rendered by a browser that ignores our headers: not plain text.
        return not head.startswith(("<!doctype", "<html", "<svg", "<?xml", "<script"))
    return False


def sniff(content: bytes, extension: str) -> str | None:
    """The content type the bytes really are (one of ``TYPES``), or None."""
    if content.startswith(b"%PDF-"):
        return "application/pdf"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if content.startswith(b"PK\x03\x04"):
        try:
            names = zipfile.ZipFile(io.BytesIO(content)).namelist()
        except zipfile.BadZipFile:
            return None
        if "[Content_Types].xml" not in names:
            return None
        for prefix, kind in _OOXML.items():
            if any(n.startswith(prefix) for n in names):
                return kind
        return None
    if _is_text(content):
        return "text/csv" if extension == ".csv" else "text/plain"
    return None


def _read_limited(stream) -> bytes:
    limit = max_bytes()
    content = stream.read(limit + 1)
    if len(content) > limit:
        raise ApiError(413, "too_large", _("The file is larger than %(mb).1f MB.", mb=limit / 1024 / 1024))
    return content


def _clean_name(filename: str | None) -> str:
    """A display name: the client's name without path parts or control characters."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"<>|:*?')
    return name.strip()[:200] or "file"


def add_attachment(task_id: int, user, file_storage, comment=None) -> TaskAttachment:
    task = services.get_task_for(task_id, user)
    if file_storage is None or not file_storage.filename:
        raise ApiError(400, "invalid_input", _("Choose a file."), [{"field": "file", "message": _("This field is required.")}])
    name = _clean_name(file_storage.filename)
    extension = os.path.splitext(secure_filename(name) or name)[1].lower() or os.path.splitext(name)[1].lower()
    content = _read_limited(file_storage.stream)
    if not content:
        raise ApiError(400, "invalid_input", _("The file is empty."), [{"field": "file", "message": _("The file is empty.")}])
    kind = sniff(content, extension)
    if kind is None or extension not in TYPES[kind]:
        allowed = ", ".join(sorted({e for exts in TYPES.values() for e in exts}))
        raise ApiError(415, "unsupported_file_type",
                       _("This type of file is not accepted (allowed: %(types)s).", types=allowed),
                       [{"field": "file", "message": _("The file's content does not match an allowed type.")}])
    text = services._clean_comment(comment)
    storage_name = uuid.uuid4().hex
    path = storage_dir() / storage_name
    tmp = path.with_suffix(".part")
    tmp.write_bytes(content)
    os.replace(tmp, path)
    row = TaskAttachment(instance_id=task.instance_id, task_id=task.id, filename=name, content_type=kind,
                         size=len(content), sha256=hashlib.sha256(content).hexdigest(),
                         storage_name=storage_name, uploaded_by=user.username, comment=text)
    db.session.add(row)
    services.add_history(task.instance, "attachment_added", user, task=task.name, comment=text,
                         data={"filename": name, "size": len(content)})
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        path.unlink(missing_ok=True)  # no row, no file
        raise
    return row


def attachments_of(instance_id: int) -> list[TaskAttachment]:
    return list(db.session.scalars(select(TaskAttachment).where(TaskAttachment.instance_id == instance_id)
                                   .order_by(TaskAttachment.id)))


def get_attachment_for(attachment_id: int, user) -> TaskAttachment:
    row = services._row(TaskAttachment, attachment_id)
    if row is None:
        raise ApiError(404, "not_found", _("No such attachment."))
    services.get_instance_for(row.instance_id, user)  # 404 unless the user may see the instance
    return row


def download(row: TaskAttachment):
    path = storage_dir() / row.storage_name
    if not path.is_file():
        raise ApiError(404, "not_found", _("The file is missing from storage."))
    response = send_file(path, mimetype=row.content_type, as_attachment=True, download_name=row.filename,
                         max_age=0, conditional=False)
    response.headers["Cache-Control"] = "private, no-store"
    return response
