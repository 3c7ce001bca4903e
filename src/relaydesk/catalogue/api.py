"""The catalogue's routes: every tenant staff member reads it, tenant admins change it."""

import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel

from relaydesk.auth.deps import require
from relaydesk.auth.permissions import Permission
from relaydesk.catalogue import schemas, service
from relaydesk.catalogue.models import Addon, AdPackage, Package
from relaydesk.deps import SessionDep
from relaydesk.pagination import PageDep
from relaydesk.schemas import Page

router = APIRouter(prefix="/api/v1/tenant", tags=["catalogue"])


def _add_item_routes(
    path: str,
    model: service.ItemModel,
    out: type[BaseModel],
    create: type[BaseModel],
    update: type[BaseModel],
    convert: Callable[[Any], BaseModel],
) -> None:
    """GET/POST `path`, PATCH/DELETE `path/{id}` for one kind of catalogue item."""

    async def list_items(
        session: SessionDep, staff: require(Permission.PARTNERS_REVIEW), page: PageDep
    ) -> Page[Any]:
        items, next_cursor = await service.list_items(session, staff, model, page)
        return Page(items=[convert(item) for item in items], next_cursor=next_cursor)

    async def create_item(
        data: create,  # type: ignore[valid-type]
        session: SessionDep,
        staff: require(Permission.CATALOGUE_MANAGE),
    ) -> BaseModel:
        return convert(await service.create_item(session, staff.tenant_id, staff, model, data))

    async def update_item(
        item_id: uuid.UUID,
        data: update,  # type: ignore[valid-type]
        session: SessionDep,
        staff: require(Permission.CATALOGUE_MANAGE),
    ) -> BaseModel:
        return convert(await service.update_item(session, staff, model, item_id, data))

    async def delete_item(
        item_id: uuid.UUID, session: SessionDep, staff: require(Permission.CATALOGUE_MANAGE)
    ) -> Response:
        """Deletes an unused item; one in use is 409 `in_use` and is archived instead."""
        await service.delete_item(session, staff, model, item_id)
        return Response(status_code=204)

    name = path.strip("/").replace("-", "_")
    router.add_api_route(
        path, list_items, methods=["GET"], response_model=Page[out], name=f"list_{name}"
    )
    router.add_api_route(
        path,
        create_item,
        methods=["POST"],
        status_code=201,
        response_model=out,
        name=f"create_{name}",
    )
    router.add_api_route(
        f"{path}/{{item_id}}",
        update_item,
        methods=["PATCH"],
        response_model=out,
        name=f"update_{name}",
    )
    router.add_api_route(
        f"{path}/{{item_id}}",
        delete_item,
        methods=["DELETE"],
        status_code=204,
        name=f"delete_{name}",
    )


_add_item_routes(
    "/packages",
    Package,
    schemas.Package,
    schemas.PackageCreate,
    schemas.PackageUpdate,
    service.package_out,
)
_add_item_routes(
    "/addons", Addon, schemas.Addon, schemas.AddonCreate, schemas.AddonUpdate, service.addon_out
)
_add_item_routes(
    "/ad-packages",
    AdPackage,
    schemas.AdPackage,
    schemas.AdPackageCreate,
    schemas.AdPackageUpdate,
    service.ad_package_out,
)
