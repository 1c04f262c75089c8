"""A Python traceback as the run page shows it: the message first, the project's own frames
next, the library frames folded away.

Runs and spans store the traceback as text (`traceback.format_exception`), so this reads the
text: frames are the `File "...", line N, in f` lines, the message is what follows the last one.
"""

from __future__ import annotations

import re
import sysconfig
from dataclasses import dataclass, field

__all__ = ["Frame", "FoldedTraceback", "fold_traceback"]

_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<function>.+)$')
# Python 3.11's carets under the failing expression.
_CARETS = re.compile(r"^\s*[~^]+\s*$")
# The message of one exception stops where Python starts telling about the next one.
_CHAIN = ("During handling of the above exception", "The above exception was the direct cause")
_LIBRARY_MARKS = ("/site-packages/", "/dist-packages/", "<frozen ")
# Any Python's standard library (the worker's may not be this process's).
_STDLIB = re.compile(r"[/\\]lib[/\\]python\d\.\d+[/\\]")


def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    return tuple(p for p in {paths.get("stdlib"), paths.get("platstdlib")} if p)


@dataclass
class Frame:
    file: str
    line: int
    function: str
    code: str
    library: bool


@dataclass
class FoldedTraceback:
    message: str
    frames: list[Frame] = field(default_factory=list)
    text: str = ""

    @property
    def project_frames(self) -> list[Frame]:
        return [frame for frame in self.frames if not frame.library]

    @property
    def library_count(self) -> int:
        return sum(1 for frame in self.frames if frame.library)


def _is_library(path: str) -> bool:
    return any(mark in path for mark in _LIBRARY_MARKS) or bool(_STDLIB.search(path)) or path.startswith(_library_roots())


def fold_traceback(text: str, message: str = "") -> FoldedTraceback:
    """The traceback in `text` read into its frames (of the last exception in the chain, the one
    that was raised) and its message (`message` when given, e.g. the run's own error line).

    Text that is not a traceback is all message.
    """
    lines = text.rstrip().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    if not starts:
        return FoldedTraceback(message=message or text.strip(), text=text)
    frames: list[Frame] = []
    i = starts[-1] + 1
    tail = len(lines)
    while i < len(lines):
        match = _FRAME.match(lines[i])
        if match is None:
            if lines[i][:1] not in (" ", "\t", ""):
                tail = i
                break
            i += 1
            continue
        code = ""
        if i + 1 < len(lines) and not _FRAME.match(lines[i + 1]) and lines[i + 1].startswith("    "):
            code = lines[i + 1].strip()
            i += 1
        while i + 1 < len(lines) and _CARETS.match(lines[i + 1]):
            i += 1
        path = match["file"]
        frames.append(Frame(path, int(match["line"]), match["function"].strip(), code, _is_library(path)))
        i += 1
    found = "\n".join(line for line in lines[tail:] if not line.startswith(_CHAIN)).strip()
    return FoldedTraceback(message=message or found or lines[-1].strip(), frames=frames, text=text)
