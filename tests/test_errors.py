"""Whatever a client sends, the answer is a problem+json error, never a 500, and changes nothing."""

import httpx
import pytest

from relaydesk.app import create_app
from relaydesk.config import Settings
from tests.factories import Factory, World


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["code"]) == (status, code)
    assert body["title"] and body["detail"] and body["type"]


class TestProblemJson:
    async def test_unknown_api_route_is_404(self, client: httpx.AsyncClient) -> None:
        assert_problem(await client.get("/api/v1/nothing-here"), 404, "not_found")

    async def test_wrong_method_is_405(self, client: httpx.AsyncClient) -> None:
        assert_problem(await client.put("/api/v1/me"), 405, "method_not_allowed")

    async def test_malformed_json_is_422(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        response = await client.post(
            "/api/v1/channels",
            content=b'{"name": ',
            headers=await factory.headers(world.a.admin) | {"content-type": "application/json"},
        )
        assert_problem(response, 422, "validation_error")
        assert response.json()["errors"]

    @pytest.mark.parametrize("body", [[], "text", 5, None, {"name": ["x"]}, {"name": None}])
    async def test_wrong_types_are_422(
        self, client: httpx.AsyncClient, factory: Factory, world: World, body: object
    ) -> None:
        response = await client.post(
            "/api/v1/channels", json=body, headers=await factory.headers(world.a.admin)
        )
        assert_problem(response, 422, "validation_error")

    async def test_huge_bodies_are_refused_before_reading(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.a.admin) | {"content-type": "application/json"}
        body = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
        response = await client.post("/api/v1/channels", content=body, headers=headers)
        assert_problem(response, 413, "request_too_large")

    async def test_huge_streamed_bodies_without_length_are_refused(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        async def chunks():  # type: ignore[no-untyped-def]
            for _ in range(40):
                yield b"x" * 65536

        headers = await factory.headers(world.a.admin) | {"content-type": "application/json"}
        response = await client.post("/api/v1/channels", content=chunks(), headers=headers)
        assert_problem(response, 413, "request_too_large")

    async def test_openapi_document_is_served(self, client: httpx.AsyncClient) -> None:
        document = (await client.get("/openapi.json")).json()
        for path in ("/api/v1/auth/token", "/api/v1/me", "/api/v1/channels", "/api/v1/me/channels"):
            assert path in document["paths"]


class TestNulCharacters:
    """PostgreSQL stores no NUL; on both backends text holding one is refused with a 422."""

    @pytest.mark.parametrize(
        "url",
        [
            "/api/v1/tenant/requests?q=%00",
            "/api/v1/tenant/partners/export.csv?q=a%00",
            "/api/v1/public/de%00mo/partnership-requests",
        ],
    )
    async def test_in_the_address(
        self, client: httpx.AsyncClient, factory: Factory, world: World, url: str
    ) -> None:
        headers = await factory.headers(world.tenant_admin)
        assert_problem(await client.get(url, headers=headers), 422, "validation_error")

    async def test_in_a_page_address(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/join/de%00mo")
        assert response.status_code == 422

    async def test_in_json_text(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        headers = await factory.headers(world.tenant_admin)
        for method, url, body in (
            ("POST", "/api/v1/auth/token", {"email": "a\u0000@b.example", "password": "x"}),
            ("PATCH", f"/api/v1/tenant/partners/{world.a.partner.id}", {"invoice_id": "a\u0000"}),
            ("POST", "/api/v1/tenant/addons", {"name": "x", "grants": {"\u0000": 1}}),
        ):
            response = await client.request(
                method,
                url,
                content=f"{body}".replace("'", '"').encode(),
                headers=headers | {"content-type": "application/json"},
            )
            assert_problem(response, 422, "validation_error")
        partner = await client.get(f"/api/v1/tenant/partners/{world.a.partner.id}", headers=headers)
        assert partner.json()["invoice_id"] is None

    async def test_in_a_page_form_never_a_500(self, client: httpx.AsyncClient) -> None:
        """SQLite compares such text (and finds no account); PostgreSQL refuses it."""
        response = await client.post("/forgot-password", data={"email": "a\x00@b.example"})
        assert response.headers["content-type"].startswith("text/html")
        if response.status_code == 200:
            assert "If an account exists" in response.text
        else:
            assert response.status_code == 422


class TestUnexpectedErrors:
    @pytest.mark.parametrize("path", ["/api/v1/boom", "/boom"])
    async def test_a_crash_answers_500_with_the_security_headers(
        self, settings: Settings, path: str
    ) -> None:
        app = create_app(settings)

        @app.get(path)
        async def boom() -> None:
            raise RuntimeError("a bug")

        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        ):
            response = await client.get(path)
        assert response.status_code == 500
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
        if path.startswith("/api/"):
            assert_problem(response, 500, "internal_error")
        else:
            assert "Something went wrong." in response.text
