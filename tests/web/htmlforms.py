"""The forms of a page, read as a browser without JavaScript reads them: what each sends.

form = find(page_html, "Pause")
await client.request(form.method, form.action, data=form.fields())
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Form:
    method: str
    action: str
    attrs: dict[str, str]
    #: (name, type, value, checked) of each input, in the page's order
    inputs: list[tuple[str, str, str, bool]] = field(default_factory=list)
    buttons: list[str] = field(default_factory=list)

    def fields(self) -> dict[str, str]:
        """What the browser sends of it, files aside: hidden and text inputs, text areas,
        the checked boxes and radio buttons."""
        sent: dict[str, str] = {}
        for name, kind, value, checked in self.inputs:
            if not name or kind in ("file", "submit", "button"):
                continue
            if kind in ("radio", "checkbox") and not checked:
                continue
            sent[name] = value
        return sent


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.stray_buttons: list[dict[str, str]] = []
        self._form: Form | None = None
        self._text: list[str] | None = None  # inside a <button> or <textarea>
        self._textarea = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = Form(a.get("method", "get").lower(), a.get("action", ""), a)
        elif tag == "input" and self._form is not None:
            kind = a.get("type", "text").lower()
            self._form.inputs.append((a.get("name", ""), kind, a.get("value", ""), "checked" in a))
        elif tag == "button":
            if self._form is None:
                self.stray_buttons.append(a)
            self._text = []
        elif tag == "textarea":
            self._text, self._textarea = [], a.get("name", "")

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._form is not None:
            self.forms.append(self._form)
            self._form = None
        elif tag == "button" and self._text is not None:
            if self._form is not None:
                self._form.buttons.append("".join(self._text).strip())
            self._text = None
        elif tag == "textarea" and self._text is not None:
            if self._form is not None and self._textarea:
                self._form.inputs.append((self._textarea, "textarea", "".join(self._text), False))
            self._text = None


def read(page: str) -> _Reader:
    reader = _Reader()
    reader.feed(page)
    reader.close()
    return reader


def forms(page: str) -> list[Form]:
    return read(page).forms


def find(page: str, button: str) -> Form:
    """The form whose button says `button`."""
    found = [f for f in forms(page) if button in f.buttons]
    assert found, f"no form with a {button!r} button in the page"
    return found[0]
