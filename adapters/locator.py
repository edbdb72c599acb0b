"""Where tables and keys are in a TOML file, for messages with `file:line` (tomllib keeps
no positions)."""

from __future__ import annotations

import re
from typing import Any

_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\" -]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_-]+|\"[^\"]+\")\s*=")


class Locator:
    """Line numbers of tables and keys, for messages (tomllib keeps no positions)."""

    def __init__(self, text: str) -> None:
        self.tables: dict[tuple[Any, ...], int] = {}
        self.keys: dict[tuple[Any, ...], int] = {}
        current: tuple[Any, ...] = ()
        counts: dict[str, int] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(line)
            if header:
                name = header.group(2).replace('"', "").strip()
                if header.group(1) == "[[":
                    counts[name] = counts.get(name, -1) + 1
                    current = (name, counts[name])
                else:
                    parts = name.split(".")
                    if parts[0] in counts:  # [entity.fields] belongs to the last [[entity]]
                        current = (parts[0], counts[parts[0]], *parts[1:])
                    else:
                        current = tuple(parts)
                self.tables[current] = number
                continue
            key = _KEY.match(line)
            if key:
                self.keys[(*current, key.group(1).strip('"'))] = number

    def line(self, *path: Any) -> int | None:
        return self.keys.get(tuple(path)) or self.tables.get(tuple(path))
