import uuid

from fastapi import APIRouter

from relaydesk.auth.deps import require
from relaydesk.auth.permissions import Permission
from relaydesk.catalogue import schemas, service
from relaydesk.deps import SessionDep
from relaydesk.pagination import PageDep
from relaydesk.schemas import Page

router = APIRouter(prefix="/api/v1/tenant", tags=["catalogue"])


@router.get("/packages", response_model=Page[schemas.Package])
async def list_packages(
    session: SessionDep, staff: require(Permission.PARTNERS_REVIEW), page: PageDep
) -> Page[schemas.Package]:
    items, next_cursor = await service.list_packages(session, staff, page)
    return Page(items=items, next_cursor=next_cursor)


@router.post("/packages", status_code=201, response_model=schemas.Package)
async def create_package(
    data: schemas.PackageCreate, session: SessionDep, staff: require(Permission.CATALOGUE_MANAGE)
) -> schemas.Package:
    package = await service.create_package(session, staff.tenant_id, staff, data)
    return service.package_out(package)


@router.patch("/packages/{package_id}", response_model=schemas.Package)
async def update_package(
    package_id: uuid.UUID,
    data: schemas.PackageUpdate,
    session: SessionDep,
    staff: require(Permission.CATALOGUE_MANAGE),
) -> schemas.Package:
    package = await service.update_package(session, staff, package_id, data)
    return service.package_out(package)
