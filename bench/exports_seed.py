"""The exports suite's data: one tenant's catalogue, its partners (with channels and add-ons)
and its partners' requests, written set-based into the tables of `relaydesk.models`: one
executemany per table in one transaction (multi-row INSERTs on PostgreSQL), no ORM objects;
ANALYZE on PostgreSQL only (see `write`).

The rows grow in steps (`grow(…, 10_000)`, then `grow(…, 100_000)`), so one running server
can export each size in turn; row `i` of each table comes from a generator seeded with `i`,
so every run writes the same rows.
"""

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from relaydesk import models
from relaydesk.approvals.models import RequestKind, RequestStatus
from relaydesk.auth.permissions import Role
from relaydesk.catalogue.models import BillingPeriod, EngagementType
from relaydesk.db import create_engine, is_sqlite
from relaydesk.tenancy.models import PartnerStatus

AGE_DAYS = 730  # partners joined and requests came in over the last two years
FORMULA_SHARE = 0.01  # names a spreadsheet would run as a formula, so the export escapes them
_LOW_62_BITS = (1 << 62) - 1

# name, monthly price, channels
_PACKAGES = (("Starter", "49.00", 1), ("Standard", "149.00", 3), ("Premium", "499.00", 10))
# name, price, extra channels, engagement types granted
_ADDONS = (
    ("Extra channel", "19.00", 1, ()),
    ("Coupons", "29.00", 0, (EngagementType.COUPON,)),
    ("Sticker packs", "39.00", 0, (EngagementType.STICKER_PACK,)),
    ("Ringtones & wallpapers", "25.00", 0, (EngagementType.RINGTONE, EngagementType.WALLPAPER)),
    ("Promotions", "99.00", 2, (EngagementType.PROMO,)),
)
_REVIEWERS = ("Rita Berger", "Jonas Keller")  # tenant staff deciding requests, with the admin
_FIRST = (
    "Alpine", "Northwind", "Blue Harbor", "Green Valley", "Sunrise", "Atlas", "Nordlicht",
    "Silver Oak", "Red Fox", "Lakeside", "Golden Gate", "Iron Bridge", "Müller & Söhne",
    "Café Élan", "Summit", "Brightwater", "Old Mill", "Harbour View",
)  # fmt: skip
_TRADE = (
    "Bakery", "Coffee Roasters", "Outdoor", "Books", "Cycles", "Telecom", "Pharmacy",
    "Fashion, Ltd.", "Furniture", "Travel", "Fitness", "Electronics", "Garden Centre",
    "Pet Supplies", "Music \"Live\"", "Insurance",
)  # fmt: skip
_FORMULAS = (
    '=HYPERLINK("https://bench.example/{i}","Click me")',
    "=1+1 Trading {i}",
    "=cmd|' /C calc'!A{i}",
    "=SUM(A1:A9) Holdings {i}",
)
_PEOPLE = (
    "Anna Schmidt", "Ben Carter", "Chloé Dubois", "Daniel O'Brien", "Eva Nowak", "Farid Haddad",
    "Greta Lind", "Hiro Tanaka", "Ines García", "Jakob Weber", "Kemal Yıldız", "Lena Fischer",
)  # fmt: skip
_CHANNELS = ("Main", "Offers", "Support", "News", "Events", "Jobs")
_DESCRIPTIONS = (
    "",
    "We would like to reach our customers in the app.",
    "Please enable this before our spring campaign, if possible.",
    'Our marketing team asked for "the usual" set-up, as discussed on the phone.',
    "Two stores, one brand:\nwe need both in one account.",
    "Renewal; same terms as last year, invoice to the head office.",
)
_REASONS = (
    "The package is not offered to new partners any more.",
    "Missing company details; please register again with your VAT number.",
    'Name too close to an existing partner ("Northwind").',
    "Budget freeze until the next quarter.\nPlease ask again in April.",
)


@dataclass(frozen=True)
class Catalogue:
    """What the partners and requests refer to: the tenant, its packages and add-ons (the
    rows as written) and the staff who decide requests."""

    tenant_id: uuid.UUID
    packages: list[dict[str, Any]]
    addons: list[dict[str, Any]]
    deciders: list[uuid.UUID]
    now: datetime  # what every seeded time is counted back from


@dataclass
class Seeded:
    """How many rows the exports must hold, and how many start with a formula."""

    partners: int = 0
    requests: int = 0
    channels: int = 0
    partner_addons: int = 0
    formula_partners: int = 0  # partners whose name starts with "="
    formula_requests: int = 0  # requests whose partner's name does


def _uuid7(rng: random.Random, at: datetime) -> uuid.UUID:
    """A UUIDv7 of the row's own time, as relaydesk's ids are, from the seeded generator."""
    bits = rng.getrandbits(74)
    return uuid.UUID(
        int=(int(at.timestamp() * 1000) << 80) | (0x7 << 76) | (bits >> 62 << 64)
        | (0b10 << 62) | (bits & _LOW_62_BITS)
    )  # fmt: skip


def build_catalogue(tenant_id: uuid.UUID, admin_id: uuid.UUID, now: datetime) -> Catalogue:
    rng, created = random.Random(0), now - timedelta(days=AGE_DAYS + 1)
    owner = {"tenant_id": tenant_id, "archived": False, "created_at": created}
    packages = [
        {
            "id": _uuid7(rng, created), "name": name, "price_amount": Decimal(price),
            "currency": "EUR", "billing_period": BillingPeriod.MONTH,
            "engagement_types": [EngagementType.MESSAGE, EngagementType.PROMO],
            "max_channels": channels, **owner,
        }
        for name, price, channels in _PACKAGES
    ]  # fmt: skip
    addons = [
        {
            "id": _uuid7(rng, created), "name": name, "price_amount": Decimal(price),
            "currency": "EUR", "description": f"{name} for one partner, billed monthly.",
            "grant_engagement_types": list(types), "grant_extra_channels": channels, **owner,
        }
        for name, price, channels, types in _ADDONS
    ]  # fmt: skip
    reviewers = [_uuid7(rng, created) for _ in _REVIEWERS]
    return Catalogue(tenant_id, packages, addons, [admin_id, *reviewers], now)


def catalogue_rows(catalogue: Catalogue) -> dict[sa.Table, list[dict[str, Any]]]:
    created = catalogue.now - timedelta(days=AGE_DAYS + 1)
    reviewers = zip(catalogue.deciders[1:], _REVIEWERS, strict=True)
    staff = [
        {
            "id": reviewer_id, "tenant_id": catalogue.tenant_id, "partner_id": None,
            "email": f"reviewer{index}@bench.example", "name": name, "role": Role.TENANT_STAFF,
            "password_hash": None, "is_active": True, "created_at": created,
            "last_login_at": None,
        }
        for index, (reviewer_id, name) in enumerate(reviewers)
    ]  # fmt: skip
    return {
        models.Package.__table__: catalogue.packages,
        models.Addon.__table__: catalogue.addons,
        models.StaffUser.__table__: staff,
    }


def _name(rng: random.Random, index: int) -> str:
    if rng.random() < FORMULA_SHARE:
        return rng.choice(_FORMULAS).format(i=index)
    return f"{rng.choice(_FIRST)} {rng.choice(_TRADE)} {index}"


def _price(item: dict[str, Any]) -> dict[str, str]:
    return {"amount": str(item["price_amount"]), "currency": item["currency"]}


class _Builder:
    """Partner `i` and request `i` for every index of a step, in the tables' rows."""

    def __init__(self, catalogue: Catalogue, seeded: Seeded) -> None:
        self.catalogue = catalogue
        self.now = catalogue.now
        self.seeded = seeded
        self.rows: dict[sa.Table, list[dict[str, Any]]] = {
            table: []
            for table in (
                models.Partner.__table__,
                models.Channel.__table__,
                models.PartnerAddon.__table__,
                models.PartnerRequest.__table__,
            )
        }

    def add(self, table: Any, **values: Any) -> None:
        self.rows[table.__table__].append(values)

    def build(self, start: int, stop: int) -> dict[sa.Table, list[dict[str, Any]]]:
        for index in range(start, stop):
            rng = random.Random(index)
            partner = self._partner(rng, index)
            self._request(rng, index, partner)
        return self.rows

    def _partner(self, rng: random.Random, index: int) -> dict[str, Any]:
        created = self.now - timedelta(days=rng.uniform(1, AGE_DAYS))
        name, tenant_id = _name(rng, index), self.catalogue.tenant_id
        status = rng.choices(list(PartnerStatus), weights=(2, 88, 10))[0]
        partner = {
            "id": _uuid7(rng, created), "tenant_id": tenant_id, "name": name,
            "status": status, "package_id": rng.choice(self.catalogue.packages)["id"],
            "invoice_id": f"INV-{created.year}-{index:06}" if rng.random() < 0.7 else None,
            "email": f"partner{index}@bench.example",
            "phone": f"+49 30 {rng.randrange(10**7):07}", "website":
            f"https://partner{index}.bench.example", "contact_name": rng.choice(_PEOPLE),
            "impressions_balance": rng.choice((0, 0, 1_000, 5_000, 25_000, 100_000)),
            "time_zone": rng.choice(("UTC", "Europe/Berlin", "America/New_York")),
            "created_at": created,
        }  # fmt: skip
        self.add(models.Partner, **partner)
        for channel in rng.sample(_CHANNELS, rng.randint(1, 3)):
            self.add(
                models.Channel, id=_uuid7(rng, created), tenant_id=tenant_id,
                partner_id=partner["id"], name=channel, description=f"{channel} of {name}",
                chat_enabled=rng.random() < 0.7, created_at=created,
            )  # fmt: skip
        for addon in rng.sample(self.catalogue.addons, rng.choice((0, 0, 1, 1, 2, 3))):
            self.add(
                models.PartnerAddon, partner_id=partner["id"], addon_id=addon["id"],
                tenant_id=tenant_id, activated_at=created + timedelta(days=rng.uniform(0, 30)),
            )  # fmt: skip
        self.seeded.partners += 1
        self.seeded.formula_partners += name.startswith("=")
        return partner

    def _request(self, rng: random.Random, index: int, partner: dict[str, Any]) -> None:
        """An add-on request or a partnership one (a new partner's registration, which has
        no partner until approved, or a package change) about partner `index`."""
        requested = self.now - timedelta(days=rng.uniform(0.1, AGE_DAYS))
        status = rng.choices(list(RequestStatus), weights=(20, 60, 20))[0]
        decided = min(self.now, requested + timedelta(hours=rng.uniform(0.5, 120)))
        contact = {key: partner[key] for key in ("email", "phone", "website")}
        name, partner_id = partner["name"], partner["id"]
        if rng.random() < 0.6:
            kind, subject = RequestKind.ADDON, rng.choice(self.catalogue.addons)
            details: dict[str, Any] = {
                "addon": {"id": str(subject["id"]), "name": subject["name"],
                          "price": _price(subject), "description": subject["description"]},
            }  # fmt: skip
        else:
            kind, subject = RequestKind.PARTNERSHIP, rng.choice(self.catalogue.packages)
            if rng.random() < 0.5 and status != RequestStatus.APPROVED:  # a registration
                name, partner_id = _name(rng, index) + " (applicant)", None
            details = {
                "package": {"id": str(subject["id"]), "name": subject["name"],
                            "price": _price(subject), "max_channels": subject["max_channels"]},
                "contact_name": partner["contact_name"], **contact,
            }  # fmt: skip
        pending = status == RequestStatus.PENDING
        self.add(
            models.PartnerRequest, id=_uuid7(rng, requested),
            tenant_id=self.catalogue.tenant_id, partner_id=partner_id, kind=kind,
            status=status, subject_id=subject["id"], title=subject["name"],
            partner_name=name, price_amount=subject["price_amount"],
            currency=subject["currency"], description=rng.choice(_DESCRIPTIONS),
            details=details, requested_by_id=None, requested_at=requested,
            decided_at=None if pending else decided,
            decided_by_id=None if pending else rng.choice(self.catalogue.deciders),
            rejection_reason=rng.choice(_REASONS) if status == RequestStatus.REJECTED else None,
        )  # fmt: skip
        self.seeded.requests += 1
        self.seeded.formula_requests += name.startswith("=")


async def write(url: str, tables: dict[sa.Table, list[dict[str, Any]]]) -> None:
    """Every table's rows, one executemany each, in one transaction; then, on PostgreSQL,
    ANALYZE.

    The statistics are what a production database has: PostgreSQL's autovacuum gathers them,
    while nothing runs ANALYZE on a relaydesk SQLite file, so its planner goes without.
    """
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for table, rows in tables.items():
                if rows:
                    await connection.execute(sa.insert(table), rows)
        if not is_sqlite(url):
            async with engine.begin() as connection:
                await connection.exec_driver_sql("ANALYZE")
    finally:
        await engine.dispose()


async def grow(url: str, catalogue: Catalogue, seeded: Seeded, size: int) -> None:
    """Adds partners and requests until there are `size` of each; `seeded` counts them."""
    rows = _Builder(catalogue, seeded).build(seeded.partners, size)
    await write(url, rows)
    seeded.channels += len(rows[models.Channel.__table__])
    seeded.partner_addons += len(rows[models.PartnerAddon.__table__])


def counts(seeded: Seeded) -> Sequence[tuple[str, int]]:
    return (
        ("partners", seeded.partners),
        ("channels", seeded.channels),
        ("partner add-ons", seeded.partner_addons),
        ("partner requests", seeded.requests),
    )
