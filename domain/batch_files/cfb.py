"""Just enough of an OLE2 compound file [MS-CFB] (the container of an .xls, and of an encrypted
.xlsx) to list its entries and read a stream, for the checks made before calamine reads it."""

from __future__ import annotations

import struct

# OLE2 compound files [MS-CFB]: a 512-byte header, then sectors of 512 (or 4096) bytes chained
# by the FAT; streams under 4096 bytes live in 64-byte mini sectors inside the root's stream.
_SPECIAL_SECTOR = 0xFFFFFFFA  # from here on: DIFAT, FAT, end of chain, free
_END_OF_CHAIN = 0xFFFFFFFE
_MINI_STREAM_CUTOFF = 4096


class Cfb:
    """Just enough of an OLE2 compound file to list its entries and read a stream, with guards
    against loops and sectors outside the file (ValueError, IndexError or struct.error)."""

    def __init__(self, content: bytes):
        if len(content) < 512:
            raise ValueError("too short")
        shift = int.from_bytes(content[30:32], "little")
        if shift not in (9, 12):
            raise ValueError("sector size")
        self.content = content
        self.size = size = 1 << shift
        self.count = len(content) // size - 1  # whole sectors after the header
        per_sector = size // 4
        fat_count = int.from_bytes(content[44:48], "little")
        difat = list(struct.unpack_from("<109I", content, 76))
        following, seen = int.from_bytes(content[68:72], "little"), set()
        while following < _SPECIAL_SECTOR and len(difat) < fat_count + 109:
            if following in seen or following >= self.count:
                raise ValueError("DIFAT chain")
            seen.add(following)
            block = struct.unpack_from(f"<{per_sector}I", content, (following + 1) * size)
            difat.extend(block[:-1])
            following = block[-1]
        fat: list[int] = []
        for sector in difat[:fat_count]:
            if sector < _SPECIAL_SECTOR:
                if sector >= self.count:
                    raise ValueError("FAT sector outside the file")
                fat.extend(struct.unpack_from(f"<{per_sector}I", content, (sector + 1) * size))
        self.fat = fat
        directory = self.read(self.chain(int.from_bytes(content[48:52], "little")))
        self.entries = [directory[i : i + 128] for i in range(0, len(directory) - 127, 128)]

    def chain(self, sector: int) -> list[int]:
        sectors: list[int] = []
        while sector != _END_OF_CHAIN:
            if sector >= self.count or sector >= len(self.fat) or len(sectors) >= self.count:
                raise ValueError("broken chain")
            sectors.append(sector)
            sector = self.fat[sector]
        return sectors

    def read(self, sectors: list[int]) -> bytes:
        parts, size, i = [], self.size, 0
        while i < len(sectors):  # consecutive sectors in one slice
            j = i
            while j + 1 < len(sectors) and sectors[j + 1] == sectors[j] + 1:
                j += 1
            parts.append(self.content[(sectors[i] + 1) * size : (sectors[j] + 2) * size])
            i = j + 1
        return b"".join(parts)

    def names(self) -> set[str]:
        """Lower-cased names of the storages and streams."""
        names = set()
        for entry in self.entries:
            length = int.from_bytes(entry[64:66], "little")
            if entry[66] in (1, 2, 5) and 2 <= length <= 64:
                names.add(entry[: length - 2].decode("utf-16-le", "replace").lower())
        return names

    def streams(self, wanted: tuple[str, ...]) -> list[bytes]:
        """The content of every entry named one of `wanted` (exactly, as calamine looks them up;
        by its name field or up to the first NUL, in case the two disagree)."""
        found = []
        for entry in self.entries:
            length = int.from_bytes(entry[64:66], "little")
            by_field = entry[: max(length - 2, 0)].decode("utf-16-le", "replace")
            by_nul = entry[:64].decode("utf-16-le", "replace").split("\0", 1)[0]
            if by_field in wanted or by_nul in wanted:
                found.append(self.stream(entry))
        return found

    def stream(self, entry: bytes) -> bytes:
        start = int.from_bytes(entry[116:120], "little")
        size = int.from_bytes(entry[120:124] if self.size == 512 else entry[120:128], "little")
        if size >= _MINI_STREAM_CUTOFF:
            return self.read(self.chain(start))[:size]
        root = self.entries[0]
        mini = self.read(self.chain(int.from_bytes(root[116:120], "little")))
        table = self.read(self.chain(int.from_bytes(self.content[60:64], "little")))
        mini_fat = struct.unpack(f"<{len(table) // 4}I", table[: len(table) // 4 * 4])
        parts: list[bytes] = []
        sector = start
        while sector != _END_OF_CHAIN:
            if sector >= len(mini_fat) or (sector + 1) * 64 > len(mini) or len(parts) >= len(mini_fat):
                raise ValueError("broken mini chain")
            parts.append(mini[sector * 64 : (sector + 1) * 64])
            sector = mini_fat[sector]
        return b"".join(parts)[:size]


def cfb_stream_names(content: bytes) -> set[str] | None:
    """Lower-cased names of the entries of an OLE2 compound file (the directory), or None if
    the container is broken."""
    try:
        return Cfb(content).names()
    except (ValueError, IndexError, struct.error):
        return None
