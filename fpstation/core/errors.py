"""Typed exceptions raised by core/ and ml/. gui/errors.py and the CLI turn them into words.

Every exception carries ``user_message``: one or two sentences a person understands, with no
traceback vocabulary. ``str(exc)`` is that message too, so logging and CLI output stay readable.
"""

from __future__ import annotations


class FpError(Exception):
    """Base class of every expected failure in fpstation."""

    title = "Error"

    def __init__(self, user_message: str, *, path: str | None = None, detail: str | None = None):
        super().__init__(user_message)
        self.user_message = user_message
        self.path = path
        self.detail = detail


class ImageReadError(FpError):
    """A file could not be turned into a fingerprint image."""

    title = "Cannot open image"


class EmptyFileError(ImageReadError):
    pass


class TruncatedFileError(ImageReadError):
    pass


class UnsupportedFormatError(ImageReadError):
    pass


class ImageTooLargeError(ImageReadError):
    pass


class FileAccessError(ImageReadError):
    """Missing file, permission denied, a folder instead of a file."""


class ImageWriteError(FpError):
    title = "Cannot save image"


class ModelError(FpError):
    title = "Model problem"


class ModelNotFoundError(ModelError):
    pass


class ModelIntegrityError(ModelError):
    """The weights file does not match the sha256 in its model card."""


class CardError(ModelError):
    """A model card (JSON) is malformed: the message names the file and the entry."""


class DatasetError(FpError):
    title = "Dataset problem"


class CaseStoreError(FpError):
    title = "Case store problem"
