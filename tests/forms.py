"""A signed-in browser on one page, posting as the page's forms do: with htmx (the CSRF token
in a header, a fragment back) or without scripts (the token in a form field)."""

from typing import Any

import httpx

from tests.html import Element, parse
from tests.web.test_pages import csrf_from_body


class FormPage:
    def __init__(self, client: httpx.AsyncClient, path: str, *, opens_first: bool = False) -> None:
        """`opens_first`: the first post loads the page for its token (else posts go as they
        are, so a test can post without one)."""
        self.client = client
        self.path = path
        self.token = ""
        self.opens_first = opens_first

    async def open(self, path: str | None = None, **params: Any) -> Element:
        """Loads the page (or `path`) and keeps its CSRF token for the posts that follow."""
        response = await self.client.get(path or self.path, params=params or None)
        assert response.status_code == 200, response.text[:300]
        document = parse(response)
        self.token = csrf_from_body(document)
        return document

    async def _ready(self) -> None:
        if self.opens_first and not self.token:
            await self.open()

    async def post_htmx(self, path: str, data: dict[str, Any]) -> httpx.Response:
        await self._ready()
        return await self.client.post(
            path, data=data, headers={"X-CSRF-Token": self.token, "HX-Request": "true"}
        )

    async def post_plain(self, path: str, data: dict[str, Any]) -> httpx.Response:
        await self._ready()
        return await self.client.post(path, data={**data, "csrf_token": self.token})

    async def fragment(self, path: str, data: dict[str, Any]) -> Element:
        """Posts like htmx does and returns the fragment it answers with (not a whole page)."""
        response = await self.post_htmx(path, data)
        assert response.status_code == 200, response.text[:300]
        assert not response.text.lstrip().startswith("<!doctype")
        fragment = parse(response)
        assert fragment.find_all("body") == []
        return fragment
