"""Paths the user gave: used exactly as given, named exactly in messages, and read only if regular.

A name typed with a trailing space once had the space stripped and a *different* file processed.
Mirage never changes a path: "clip.mp4 " is "clip.mp4 ", and when it does not exist the message
quotes it so the space shows (and says if the name without it exists). What a path really is (a
FIFO, a device, a folder) is said as such: refusing ``/dev/zero`` as a file that "does not exist"
sends the user looking for the wrong problem.
"""

from __future__ import annotations

import os
from pathlib import Path

from mirage_desktop.safe_read import kind_of


def shown(path: str | os.PathLike[str]) -> str:
    """The path in quotes, exactly: spaces visible, control characters and bytes that are not UTF-8
    written as escapes (``\\n``, ``\\xff``), so printing it can neither fail nor mislead."""
    text = os.fsdecode(path)
    if text.isprintable():
        return f"'{text}'"
    raw = os.fsencode(text).decode("utf-8", "backslashreplace")  # undecodable bytes → \xNN
    return (
        "'" + "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in raw) + "'"
    )


def _near_miss(path: str | os.PathLike[str]) -> str:
    """A hint when the name differs from an existing one only by spaces at its ends."""
    text = os.fsdecode(path)
    name = Path(text).name
    if not name or name == name.strip():
        return ""
    sibling = Path(text).with_name(name.strip()) if name.strip() else None
    if sibling is None or not sibling.exists():
        return " (its name has a space at the start or end)"
    return (
        f" (its name has a space at the start or end; {shown(sibling)} exists: use that name if you meant it)"
    )


def path_problem(path: str | os.PathLike[str], noun: str) -> str | None:
    """Why ``path`` is not a regular file to read as a ``noun`` ("video file", "photo"), worded
    for the user ("'x.mp4 ' does not exist"); None when it is one. Nothing is opened."""
    if not os.fsdecode(path):
        return f"the path of the {noun} is empty"
    kind = kind_of(path)
    if kind == "a regular file":
        return None
    if kind == "missing":
        return f"{shown(path)} does not exist{_near_miss(path)}"
    if kind == "a broken link":
        return f"{shown(path)} is a link to {shown(os.readlink(path))}, which does not exist"
    if kind == "a folder":
        return f"{shown(path)} is a folder, not a {noun}"
    if kind.startswith("unreadable"):
        return f"{shown(path)} cannot be read: {kind.removeprefix('unreadable ').strip('()')}"
    return f"{shown(path)} is {kind}, not a {noun} (Mirage reads only regular files)"


__all__ = ["path_problem", "shown"]
