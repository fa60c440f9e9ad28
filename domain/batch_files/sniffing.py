"""What a file is, before any reader touches it: the magic numbers of zips, OLE2 containers and
well-known binaries, the extension of the uploaded name, and text decoding (a binary or UTF-16
file renamed to .csv / .txt is refused here)."""

from __future__ import annotations

from domain.batch_files.common import MSG_ENCODING, MSG_MISMATCH, FileRejected

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Well-known binary formats a user could rename; any NUL byte also means "not text".
BINARY_MAGIC = (
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",
    b"%PDF",
    b"MZ",
    b"\x7fELF",
    b"\x1f\x8b",
    b"Rar!",
    b"7z\xbc\xaf",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"{\\rtf",
)

# The end of a zip. calamine tries an .xls that it cannot read (say, password-protected) as a
# zip next: a file that is an OLE2 compound file and, at its end, an .xlsx would be read as that
# .xlsx, unchecked. Its zip reader looks in the last 64 KB; looked for everywhere here.
ZIP_END = b"PK\x05\x06"


def extension(filename: str) -> str:
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def decode_text(content: bytes) -> str:
    if content.startswith(ZIP_MAGIC) or content.startswith(OLE_MAGIC):
        raise FileRejected(MSG_MISMATCH)  # a spreadsheet (or any zip) renamed to .csv / .txt
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileRejected(MSG_ENCODING)  # UTF-16 ("Texto Unicode" in Excel)
    if content.startswith(BINARY_MAGIC) or b"\x00" in content:
        raise FileRejected(MSG_MISMATCH)
    if content.startswith(b"\xef\xbb\xbf"):
        return content[3:].decode("utf-8", "replace")
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return content.decode("cp1252")  # Excel's "CSV" on Windows; Latin-1 for its letters
    except UnicodeDecodeError:
        return content.decode("latin-1")
