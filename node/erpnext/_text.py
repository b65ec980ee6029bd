"""ERPNext's words as text that is safe to show: one line, no HTML, no control characters.

What ERPNext says (an error message, an exception type, the name it gave a document, a
closing's error) reaches the counter's log, the exceptions list, the local API and so the
app's screens and a terminal. A hostile or broken site could put terminal escapes in it
(ANSI sequences that move the cursor, clear the screen or retitle the window), line breaks
that forge log lines, or bidi overrides that show text in another order than it is
stored. ``printable`` takes them out; ``plain_text`` also drops HTML tags and decodes
entities, as Frappe's messages are HTML. Both are pure.
"""

from __future__ import annotations

import html
import re

_TAG = re.compile(r"<[^>]*>")
# A CSI escape sequence (ESC [ or the 8-bit CSI, parameters, a final byte), removed whole
# so that "ESC[31mStock" shows as "Stock", not "[31mStock". Other escapes lose their ESC
# below, which leaves their few characters as harmless text.
_CSI = re.compile(r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]")
# Tabs and line breaks (C0, NEL, the Unicode line and paragraph separators) become
# spaces, so words stay apart and a message stays one line.
_SPACES = "\t\n\v\f\r\x1c\x1d\x1e\x1f\x85\u2028\u2029"
_CONTROLS = [chr(c) for c in (*range(0x20), *range(0x7f, 0xa0))]  # C0, DEL, C1
_BIDI = [chr(c) for c in (*range(0x202a, 0x202f), *range(0x2066, 0x206a))]  # overrides
_TABLE: dict[int, str | None] = {
    **{ord(c): None for c in (*_CONTROLS, *_BIDI)},
    **{ord(c): " " for c in _SPACES},
    # A lone surrogate cannot be written as UTF-8: a log handler or an event would fail.
    **{c: "\ufffd" for c in range(0xd800, 0xe000)},
}


def printable(text: str) -> str:
    """``text`` with nothing a terminal, a log reader or a screen would act on: CSI escape
    sequences removed, tabs and line breaks as spaces, every other C0 and C1 control
    character and every bidi override or isolate removed, a lone surrogate as U+FFFD.
    Text without any of these comes back unchanged."""
    return _CSI.sub("", text).translate(_TABLE)


def plain_text(text: str) -> str:
    """ERPNext's HTML message as one printable line (tags dropped, entities decoded)."""
    return " ".join(printable(html.unescape(_TAG.sub("", text))).split())
