"""Reading images out of a request: multipart ``file`` parts, or one raw image body.

The body limit is enforced underneath (:mod:`.middleware`); here the parser gets explicit
bounds (``max_files`` file parts, a few small fields), never Starlette's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import UploadFile
from starlette.requests import Request

from anime_detector.errors import one_line
from anime_detector.image_paths import printable
from anime_detector.serve.config import ServeConfig
from anime_detector.serve.errors import RequestError

__all__ = ["Upload", "read_uploads"]

_MAX_FIELDS = 8  # non-file form fields we tolerate (and ignore)
_FIELD_BYTES = 4096


@dataclass(frozen=True)
class Upload:
    """One image as sent: its name (the part's file name) and its bytes."""

    name: str
    data: bytes


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _name(given: str | None, fallback: str) -> str:
    return one_line(printable(given), 255) if given and given.strip() else fallback


async def read_uploads(request: Request, config: ServeConfig) -> list[Upload]:
    """The images of a ``POST``, in the order sent.

    Raises:
        RequestError: 415 for a media type that is neither multipart nor an image, 400 for
            an empty body, a malformed multipart body or one without ``file`` parts, or more
            than ``max_files`` files.
    """
    media = _media_type(request)
    if media == "multipart/form-data":
        return await _multipart(request, config)
    if media.startswith("image/"):
        data = await request.body()
        if not data:
            raise RequestError(400, "empty request body: send an image", "bad_request")
        return [Upload(_name(request.query_params.get("name"), "image"), data)]
    shown = media or "none"
    raise RequestError(415, f"unsupported media type {shown[:60]!r}: send multipart/form-data "
                       "with 'file' parts, or one image with an image/* content type",
                       "unsupported_media_type")


async def _multipart(request: Request, config: ServeConfig) -> list[Upload]:
    uploads: list[Upload] = []
    async with request.form(max_files=config.max_files, max_fields=_MAX_FIELDS,
                            max_part_size=_FIELD_BYTES) as form:
        for key, value in form.multi_items():
            if key != "file":
                continue
            if not isinstance(value, UploadFile):
                raise RequestError(400, "the 'file' part must be a file upload (with a "
                                   "filename)", "bad_request")
            index = len(uploads) + 1
            uploads.append(Upload(_name(value.filename, f"image-{index}"), await value.read()))
    if not uploads:
        raise RequestError(400, "no image in the request: send one or more multipart "
                           "'file' parts", "bad_request")
    return uploads
