"""Writing a file so that no reader ever sees half of it: temporary name, then rename.

Shared by the run artifacts and the price cache; kept apart from ``artifacts``
so that the data layer does not import Keras.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from marketcast.errors import MarketcastError

# Disk full, over quota, no permission, read-only, a file where a folder must be, a folder
# where the file must be: the user can fix these, not a bug.
USER_FIXABLE = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOTDIR,
    errno.EEXIST,
    errno.EISDIR,
}
# Where a location is being made (a run folder, a store): also a folder that can hold no
# files (/proc). Elsewhere a missing file is more likely a bug than a bad path.
LOCATION_FIXABLE = {*USER_FIXABLE, errno.ENOENT}
_UMASK = os.umask(0)
os.umask(_UMASK)


def refusal_words(number: int) -> tuple[str, str]:
    """For a user-fixable errno: what it means beyond its strerror (``": a file stands where
    a folder must be"`` or ``""``), and what to do about it."""
    if number in (errno.ENOTDIR, errno.EEXIST):
        return ": a file stands where a folder must be", (
            "Move that file away, or choose another location."
        )
    if number == errno.EISDIR:
        return ": a folder stands where the file must be", (
            "Move that folder away, or choose another file name."
        )
    if number in (errno.ENOSPC, errno.EDQUOT):
        return "", "Free some space, or choose another location."
    if number == errno.ENOENT:
        return "", "Check the path, or choose another location."
    return "", "Choose a location this user can write to."


class Unwritable(MarketcastError):
    """``path`` cannot be written for a reason the user can fix (``cause``: the OSError)."""

    def __init__(self, path: Path, cause: OSError):
        self.cause = cause
        what, fix = refusal_words(cause.errno)
        super().__init__(
            f"cannot write {path}: {cause.strerror} ({errno.errorcode[cause.errno]}){what}; "
            f"nothing was left half-written. {fix}"
        )


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary path beside ``path``, then rename it into place.

    ``os.replace`` within one directory is atomic on POSIX: a concurrent reader
    sees the old file or the new one, and two concurrent writers leave one
    complete file (the last to rename wins). A failed ``write`` leaves ``path``
    untouched and removes the temporary file.
    """
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
        os.close(fd)
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes files private; give them the usual mode
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if exc.errno in USER_FIXABLE:
            raise Unwritable(path, exc) from None
        raise
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise
