"""Decoded text files as lines, without splitting the whole text: the first lines (where the header
or the control record is), and an iterator over the lines that are not blank, numbered as the
user sees them. Blank lines are skipped by the regex engine, so millions of them (a hostile
upload, or Excel's trailing ";;;;" rows) cost no Python step each."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache


def normalize_newlines(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def first_lines(text: str, count: int) -> list[str]:
    """The first `count` lines (fewer if the text has fewer; a final newline ends the last)."""
    lines = text.split("\n", count)
    if len(lines) > count:
        return lines[:count]
    if lines[-1] == "":
        lines.pop()  # the newline that ends the text
    return lines


def line_offset(lines: list[str], number: int) -> int:
    """Where line `number` + 1 starts, given the lines up to `number` at least."""
    return sum(len(line) + 1 for line in lines[:number])


# Every character str.strip() removes, but the newline: a line of nothing else is blank.
SPACES = "".join(c for c in map(chr, range(0x110000)) if c.isspace() and c != "\n")


@cache
def content_line_pattern(skip: str) -> re.Pattern:
    """A whole line (without its newline) that has a character that is neither a newline nor
    one of `skip`. Anchored with ^ (MULTILINE): the engine tries each line once, in C."""
    chars = re.escape(skip)
    return re.compile(f"^[{chars}]*[^{chars}\\n][^\\n]*", re.MULTILINE)


def content_lines(text: str, start: int, first_number: int, skip: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of every line of text from offset `start` (a line start, numbered
    `first_number`) with a character other than those in `skip`; the others are not yielded."""
    number, position = first_number, start
    count = text.count
    for match in content_line_pattern(skip).finditer(text, start):
        begin = match.start()
        number += count("\n", position, begin)
        position = begin
        yield number, match.group()
