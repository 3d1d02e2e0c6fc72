"""The errors library code raises for what a user gave, and how an ``OSError`` is told to a user.

:class:`UsageError` is a mistake in what the user gave (a flag value, a name, an input file): the tools exit
with status 2 and write nothing (:mod:`zoo.cli`). :func:`error_message` and :func:`describe_os_error` give the
one-line text of any exception; :data:`WRITE_ERRNOS` are the errno values that mean the output cannot be
written (a failure of the environment, never of one input item); :func:`printable` escapes the terminal
controls of untrusted text before it is printed. Only the standard library is imported.
"""
from __future__ import annotations

import errno
import os
import re
from typing import Any


class UsageError(ValueError):
    """A mistake in the command line (bad flag value, unknown name, wrong input file): exit status 2."""


_OS_ERRORS = {errno.ENOSPC: "no space left on device", errno.EACCES: "permission denied",
              errno.EPERM: "operation not permitted", errno.EROFS: "read-only file system",
              errno.EDQUOT: "disk quota exceeded", errno.ENOENT: "no such file or directory",
              errno.EISDIR: "is a directory (a file was expected)", errno.ENOTDIR: "not a directory",
              errno.EEXIST: "already exists"}

#: errno values that mean the output cannot be written (a failure of the environment, never of one input item)
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EROFS, errno.EDQUOT})


def find_os_error(exc: BaseException | None) -> OSError | None:
    """The first ``OSError`` with an errno in ``exc``'s chain (``raise ... from``/context), or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno is not None:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def describe_os_error(exc: OSError) -> str:
    """One line for an ``OSError``: ``FILE: no space left on device (ENOSPC)``."""
    what = _OS_ERRORS.get(exc.errno) or (exc.strerror or str(exc)).lower()
    code = errno.errorcode.get(exc.errno, "") if exc.errno is not None else ""
    names = [n for n in (exc.filename, exc.filename2) if n is not None]
    where = f"{os.fsdecode(names[0])}: " if names else ""
    return f"{where}{what}" + (f" ({code})" if code else "")


def error_message(exc: BaseException) -> str:
    """The user-facing text of an exception: KeyError without its quotes, OSError by meaning."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return describe_os_error(exc)
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc) or type(exc).__name__


#: characters that steer a terminal instead of showing: C0/C1 controls (ANSI escapes, carriage return, newline),
#: DEL, and the Unicode line separators and bidirectional overrides (which reorder what a line seems to say)
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def printable(text: Any, keep_tabs: bool = False) -> str:
    """``str(text)`` safe for a console line: untrusted text (class names, file names, ids from list files) can
    hold ANSI escapes or newlines that would forge output; they are shown as ``\\x1b``-style escapes instead.
    ``keep_tabs`` keeps ``\\t`` (it separates fields; it cannot start a line or steer the terminal)."""
    def escape(match: re.Match) -> str:
        char = match.group()
        if keep_tabs and char == "\t":
            return char
        code = ord(char)
        return f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}"

    return _UNPRINTABLE.sub(escape, str(text))
