"""Reading a report page back in tests: a light element tree from html.parser, elements found by their data-*
attributes, and the PNG pictures embedded as data: URIs."""
from __future__ import annotations

import base64
import html.parser
import io
from dataclasses import dataclass, field

import numpy as np

VOID = {"meta", "img", "br", "hr", "link", "input"}


@dataclass
class Element:
    tag: str
    attrs: dict
    children: list = field(default_factory=list)
    parts: list = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(p if isinstance(p, str) else p.text for p in self.parts).strip()

    def iter(self):
        yield self
        for child in self.children:
            yield from child.iter()

    def find_all(self, tag: str | None = None, **data) -> list["Element"]:
        """Elements (this one included) with ``tag`` and every ``data-KEY`` of ``data`` (``True``: any value)."""
        out = []
        for e in self.iter():
            if tag is not None and e.tag != tag:
                continue
            if all(f"data-{k}" in e.attrs and (v is True or e.attrs[f"data-{k}"] == v) for k, v in data.items()):
                out.append(e)
        return out

    def find(self, tag: str | None = None, **data) -> "Element":
        found = self.find_all(tag, **data)
        assert len(found) == 1, f"{len(found)} <{tag}> elements with {data}"
        return found[0]

    def by_id(self, ident: str) -> "Element":
        found = [e for e in self.iter() if e.attrs.get("id") == ident]
        assert len(found) == 1, f"{len(found)} elements with id {ident!r}"
        return found[0]

    def value(self):
        """The exact number of a cell (``data-value``; ``None`` when empty)."""
        raw = self.attrs["data-value"]
        return None if raw == "" else float(raw)


class _Builder(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {k: (v if v is not None else "") for k, v in attrs})
        self.stack[-1].children.append(element)
        self.stack[-1].parts.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        while len(self.stack) > 1:
            if self.stack.pop().tag == tag:
                break

    def handle_data(self, data):
        self.stack[-1].parts.append(data)


def parse_page(text: str) -> Element:
    builder = _Builder()
    builder.feed(text)
    builder.close()
    return builder.root


def row_cells(row: Element) -> list[Element]:
    return [c for c in row.children if c.tag == "td"]


def image_of(img: Element) -> np.ndarray:
    """The uint8 RGB pixels of an ``<img>`` embedding a PNG."""
    from PIL import Image

    prefix = "data:image/png;base64,"
    src = img.attrs["src"]
    assert src.startswith(prefix), src[:40]
    with Image.open(io.BytesIO(base64.b64decode(src[len(prefix):]))) as picture:
        assert picture.format == "PNG"
        return np.asarray(picture.convert("RGB"))
