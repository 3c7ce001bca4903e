"""Reading rendered pages in tests: a small element tree from the standard HTML parser."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser

import httpx

_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list["Element | str"] = field(default_factory=list)

    def iter(self) -> Iterator["Element"]:
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.iter()

    def find_all(self, tag: str, attrs: dict[str, str] | None = None) -> list["Element"]:
        wanted = attrs or {}

        def matches(element: Element) -> bool:
            for name, value in wanted.items():
                if name == "class":
                    if value not in element.attrs.get("class", "").split():
                        return False
                elif element.attrs.get(name) != value:
                    return False
            return True

        return [e for e in self.iter() if e.tag == tag and matches(e)]

    def find(self, tag: str, attrs: dict[str, str] | None = None) -> "Element":
        found = self.find_all(tag, attrs)
        assert found, f"no <{tag}> with {attrs or {}}"
        return found[0]

    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text() for c in self.children]
        return " ".join(" ".join(parts).split())

    def own_text(self) -> str:
        """The element's text without that of its child elements."""
        return " ".join(" ".join(c for c in self.children if isinstance(c, str)).split())


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.root = Element("#document", {})
        self._open = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self._open[-1].children.append(element)
        if tag not in _VOID:
            self._open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._open[-1].children.append(Element(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self._open) - 1, 0, -1):
            if self._open[depth].tag == tag:
                del self._open[depth:]
                return

    def handle_data(self, data: str) -> None:
        self._open[-1].children.append(data)


def parse(response: httpx.Response) -> Element:
    assert response.headers["content-type"].startswith("text/html"), response.headers
    builder = _TreeBuilder()
    builder.feed(response.text)
    builder.close()
    return builder.root
