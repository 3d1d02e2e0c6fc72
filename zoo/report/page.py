"""One self-contained HTML page from the package's template, and the blocks the pages are built of.

The page carries a Content-Security-Policy that lets the browser load nothing but the page itself: images
only from ``data:`` URIs, the one inline style sheet and the one inline script allowed by their SHA-256
hashes, no connection, font, frame or form target anywhere. Every text that comes from data (class names,
paths, warnings) is HTML-escaped. Numbers keep their exact value in a ``data-value`` attribute: the sort
script orders by it and tests read it back.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import html
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Iterable, Sequence

from zoo._io import atomic_write_text

GENERATOR = "video-model-zoo"


def _asset(name: str) -> str:
    return resources.files("zoo.report").joinpath(name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def content_security_policy(style: str, script: str) -> str:
    """Nothing but ``data:`` images and the page's own inline style and script (by hash)."""
    return ("default-src 'none'; img-src data:; style-src " + _csp_hash(style) + "; script-src "
            + _csp_hash(script) + "; base-uri 'none'; form-action 'none'")


def shown(value) -> str:
    """A setting as text: ``not stated`` for ``None``, sizes as ``128x171``, other lists comma-separated."""
    if value is None:
        return "not stated"
    if isinstance(value, (list, tuple)):
        return "x".join(map(str, value)) if all(isinstance(v, int) for v in value) else \
            ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in value)
    return str(value)


def esc(value) -> str:
    """``value`` as HTML text (``None`` shows as a dash)."""
    return "&ndash;" if value is None else html.escape(str(value), quote=True)


@dataclass(frozen=True)
class Section:
    """A titled part of a page: ``anchor`` for the navigation bar, ``body`` raw HTML."""

    anchor: str
    title: str
    body: str


def render(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    """The full page: template filled with the sections and a navigation bar to each of them."""
    style, script = _asset("page.css"), _asset("page.js")
    nav = "".join(f'<a href="#{esc(s.anchor)}">{esc(s.title)}</a>' for s in sections)
    body = "\n".join(f'<section id="{esc(s.anchor)}">\n<h2>{esc(s.title)}</h2>\n{s.body}\n</section>'
                     for s in sections)
    written = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    return Template(_asset("page.html")).substitute(
        csp=content_security_policy(style, script), generator=GENERATOR, title=esc(title),
        subtitle=subtitle, nav=nav, body=body, written=esc(written), style=style, script=script)


def write_page(path: str | os.PathLike, page: str) -> Path:
    """Write ``page`` to ``path`` atomically (a reader never sees half a page)."""
    path = Path(path)
    atomic_write_text(path, page)
    return path


# ------------------------------------------------------------------------------------------------- blocks
def cell(text, value=None, *, numeric: bool = False, cls: str = "", attrs: str = "") -> str:
    """A ``<td>``: ``text`` escaped; ``value`` (a number, ``None`` for missing) kept in ``data-value``."""
    classes = " ".join(filter(None, ("num" if numeric else "", cls)))
    data = "" if value is None and not numeric else f' data-value="{"" if value is None else repr(value)}"'
    klass = f' class="{classes}"' if classes else ""
    return f"<td{klass}{data}{attrs}>{esc(text)}</td>"


def number(value, fmt: str = "{:.2f}", scale: float = 1.0, **kwargs) -> str:
    """A numeric cell showing ``value * scale`` with ``fmt`` (a dash for ``None``), exact value kept."""
    if isinstance(value, float) and value != value:   # NaN: nothing to show or sort by
        value = None
    shown = None if value is None else fmt.format(value if scale == 1.0 else value * scale)
    return cell(shown, value, numeric=True, **kwargs)


def percent(value, **kwargs) -> str:
    """A fraction in [0, 1] shown as a percentage with two decimals."""
    return number(value, "{:.2f}", 100.0, **kwargs)


def table(headers: Sequence[str], rows: Iterable[str], *, sortable: bool = False, scroll: bool = False,
          attrs: str = "") -> str:
    """A table of already-built rows (``<tr>...</tr>`` strings); ``sortable``: click a header to sort."""
    klass = ' class="sortable"' if sortable else ""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    out = f"<table{klass}{attrs}><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>"
    return f'<div class="scroll">{out}</div>' if scroll else out


def row(cells: Iterable[str], attrs: str = "", cls: str = "") -> str:
    """A ``<tr>`` of built cells."""
    klass = f' class="{cls}"' if cls else ""
    return f"<tr{klass}{attrs}>" + "".join(cells) + "</tr>"


def data_attr(name: str, value) -> str:
    """`` data-NAME="value"`` (escaped), for tests and scripts to find an element by its data."""
    return f' data-{name}="{esc(value)}"'


def image(png: bytes, alt: str, cls: str = "figure", attrs: str = "") -> str:
    """An ``<img>`` embedding PNG bytes as a ``data:`` URI."""
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return f'<img class="{cls}" alt="{esc(alt)}" src="{uri}"{attrs}>'


def paragraph(text: str, cls: str = "") -> str:
    """A ``<p>`` of escaped text (``cls``: ``ok``/``bad``/``info`` make a verdict box)."""
    if cls in ("ok", "bad", "info"):
        return f'<p class="verdict {cls}">{esc(text)}</p>'
    return f'<p class="{cls}">{esc(text)}</p>' if cls else f"<p>{esc(text)}</p>"


def strip_block(frames, what: str = "clip", note: str = "") -> str:
    """A views strip (:func:`zoo.report.images.views_strip` of ``(clips, crops, H, W, 3)`` middle frames) as
    an ``<img>`` with its caption; ``what`` names the columns (clips, windows)."""
    from zoo.report.images import png_bytes, views_strip

    picture, step = views_strip(frames)
    png = png_bytes(picture)
    scale = "" if step == 1 else f", shown at 1/{step} resolution (every {step}th pixel)"
    caption = (f"{frames.shape[0]} {what}(s) x {frames.shape[1]} crop(s), the middle frame of each view, "
               f"{frames.shape[2]}x{frames.shape[3]} pixels as the model received them{scale}{note}")
    attrs = data_attr("step", step) + data_attr("clips", frames.shape[0]) + data_attr("crops", frames.shape[1])
    return image(png, caption, "strip", attrs) + paragraph(caption, "muted")
