"""Fitting one reply into what each platform accepts, so a send never fails on size.

Each platform documents its own limits on message length, keyboard size and button labels, and
refuses a message that breaks one (VK error 911/914, Telegram 400, Viber status 3). The engine
writes replies without knowing the platform, so adapters pass every reply through :func:`fit`,
which returns the messages to send instead:

* long text is split at a line or word break (the buttons go under the last piece);
* long labels are shortened with "…", and rows wider than the platform allows are wrapped;
* buttons beyond one keyboard go to follow-up messages ("…" plus the next keyboard) where every
  message keeps its own keyboard (Telegram, VK inline), or are listed as text where only the
  last keyboard stays on screen (Viber);
* a picture goes first with as much text as its caption holds; where a picture cannot be sent by
  URL (VK without an upload), its link is put under the text instead;
* a button whose payload the platform cannot carry is left out with a warning (FAQ ids are at
  most 48 characters, so the engine's own payloads always fit).

Everything here is pure: the same reply always gives the same messages.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bots.messages import Button, Reply

__all__ = [
    "CONTINUED",
    "TELEGRAM",
    "VIBER",
    "VK",
    "Limits",
    "fit",
    "fit_rows",
    "keyboards",
    "shorten",
    "split_text",
    "viber_action_body",
    "vk_payload",
]

log = logging.getLogger(__name__)

CONTINUED = "…"
"""The text of a follow-up message that only carries more buttons."""

Rows = tuple[tuple[Button, ...], ...]


def vk_payload(payload: str) -> str:
    """The JSON VK carries for a button (``payload`` must be JSON there, at most 255 chars)."""
    return json.dumps({"p": payload}, ensure_ascii=False, separators=(",", ":"))


VIBER_PAYLOAD_PREFIX = "btn:"


def viber_action_body(payload: str) -> str:
    """The ``ActionBody`` of a Viber reply button: marked, so a press is told from typed text."""
    return VIBER_PAYLOAD_PREFIX + payload


def _utf8_size(value: str) -> int:
    return len(value.encode())


@dataclass(frozen=True, slots=True)
class Limits:
    """One platform's documented limits, in characters unless a field says otherwise."""

    platform: str
    text: int
    """Characters in one text message."""
    caption: int | None
    """Characters under a picture; None: pictures cannot be sent by URL, so they become links."""
    row_width: int
    """Buttons in one row."""
    rows: int
    """Rows in one keyboard."""
    buttons: int
    """Buttons in one keyboard."""
    label: int | None
    """Characters in a button label; None: not limited."""
    payload: int | None
    """Size of what the platform carries for a button (see ``encode`` and ``measure``)."""
    encode: Callable[[str], str] = str
    """What the adapter sends for a payload."""
    measure: Callable[[str], int] = len
    """How the platform counts the size of ``encode(payload)``."""
    grid: int | None = None
    """Columns a row must divide evenly (Viber's 6-column keyboard); None: any row width."""
    paginate: bool = True
    """True: each message keeps its keyboard, so extra buttons go to follow-up messages."""


TELEGRAM = Limits(
    platform="telegram",
    text=4096,
    caption=1024,
    # The Bot API documents 1-64 bytes of callback_data; 8 buttons a row and 100 a keyboard
    # are the server's enforced limits (not stated in the Bot API reference).
    row_width=8,
    rows=100,
    buttons=100,
    label=None,
    payload=64,
    measure=_utf8_size,
)

VK = Limits(
    platform="vk",
    text=4096,
    caption=None,  # VK sends only uploaded photos; a picture URL goes in the text
    # An inline keyboard (dev.vk.com, "Keyboard"): at most 5×6, 10 buttons; labels are cut
    # at 40 characters and a payload is a JSON string of at most 255 characters.
    row_width=5,
    rows=6,
    buttons=10,
    label=40,
    payload=255,
    encode=vk_payload,
)

VIBER = Limits(
    platform="viber",
    text=7000,
    caption=768,
    # Keyboards (developers.viber.com, "Keyboards"): a 6-column grid, buttons 1-6 columns
    # wide, up to 24 rows; button text at most 250 characters. Only the last keyboard sent
    # stays on screen, so extra buttons cannot move to a follow-up message.
    row_width=6,
    rows=24,
    buttons=24 * 6,
    label=250,
    payload=None,
    encode=viber_action_body,
    grid=6,
    paginate=False,
)


def _cut(text: str, limit: int) -> tuple[str, str]:
    """The first piece of ``text`` (at most ``limit`` characters) and what is left."""
    if len(text) <= limit:
        return text, ""
    cut = text.rfind("\n", 0, limit + 1)
    if cut < limit // 2:
        cut = text.rfind(" ", 0, limit + 1)
    if cut < limit // 2:
        cut = limit
    return text[:cut].rstrip(), text[cut:].lstrip()


def split_text(text: str, limit: int) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit`` characters, at a line or word break."""
    head, rest = _cut(text, limit)
    pieces = [head]
    while rest:
        head, rest = _cut(rest, limit)
        pieces.append(head)
    # Every platform refuses an empty message, so blank pieces (a run of blank lines longer
    # than the limit) are dropped; a blank text stays one piece for the caller to handle.
    return [piece for piece in pieces if piece.strip()] or pieces[:1]


def shorten(label: str, limit: int | None) -> str:
    """``label`` cut to ``limit`` characters, ending with "…" when it was cut."""
    if limit is None or len(label) <= limit:
        return label
    return label[: limit - 1].rstrip() + "…"


def _carried(button: Button, limits: Limits) -> bool:
    if button.payload is None or limits.payload is None:
        return True
    return limits.measure(limits.encode(button.payload)) <= limits.payload


def _row_chunk(size: int, limits: Limits) -> int:
    chunk = min(size, limits.row_width)
    if limits.grid is not None:
        while limits.grid % chunk:
            chunk -= 1
    return chunk


def fit_rows(rows: Sequence[Sequence[Button]], limits: Limits) -> list[tuple[Button, ...]]:
    """Rows the platform accepts: labels shortened, wide rows wrapped, uncarried buttons left out.

    On a grid (Viber) a row is wrapped so that every row fills the grid evenly: a row of four
    becomes three and one, since the client would otherwise pull the next row's buttons up.
    """
    fitted: list[tuple[Button, ...]] = []
    for row in rows:
        kept: list[Button] = []
        for button in row:
            if not _carried(button, limits):
                log.warning(
                    "%s: the payload of button %r is too long for the platform; left out",
                    limits.platform,
                    button.text,
                )
                continue
            kept.append(dataclasses.replace(button, text=shorten(button.text, limits.label)))
        while kept:
            chunk = _row_chunk(len(kept), limits)
            fitted.append(tuple(kept[:chunk]))
            kept = kept[chunk:]
    return fitted


def keyboards(rows: Sequence[tuple[Button, ...]], limits: Limits) -> list[Rows]:
    """Fitted rows grouped into keyboards within the platform's row and button counts."""
    pages: list[Rows] = []
    page: list[tuple[Button, ...]] = []
    count = 0
    for row in rows:
        if page and (len(page) == limits.rows or count + len(row) > limits.buttons):
            pages.append(tuple(page))
            page, count = [], 0
        page.append(row)
        count += len(row)
    if page:
        pages.append(tuple(page))
    return pages


def _as_lines(pages: Sequence[Rows]) -> str:
    buttons = [button for page in pages for row in page for button in row]
    return "\n".join(f"• {b.text} — {b.url}" if b.url else f"• {b.text}" for b in buttons)


def fit(reply: Reply, limits: Limits) -> list[Reply]:
    """The messages that deliver ``reply`` within ``limits``, in the order to send them."""
    pages = keyboards(fit_rows(reply.buttons, limits), limits)
    text = reply.text
    image = reply.image_url
    if not limits.paginate and len(pages) > 1:
        text = f"{text}\n\n{_as_lines(pages[1:])}" if text else _as_lines(pages[1:])
        pages = pages[:1]
    if image is not None and limits.caption is None:
        text = f"{text}\n\n{image}" if text else image
        image = None
    messages: list[Reply] = []
    if image is not None and limits.caption is not None:
        caption, rest = _cut(text, limits.caption)
        messages.append(Reply(text=caption, image_url=image))
        if rest:
            messages.extend(Reply(text=piece) for piece in split_text(rest, limits.text))
    else:
        messages.extend(Reply(text=piece) for piece in split_text(text, limits.text))
    if pages:
        messages[-1] = dataclasses.replace(messages[-1], buttons=pages[0])
        messages.extend(Reply(text=CONTINUED, buttons=page) for page in pages[1:])
    return messages
