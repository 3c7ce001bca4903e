"""Demo data for `relaydesk demo`: a tenant with partners, staff, channels, followers, chats,
canned responses and engagements."""

import random
import tempfile
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont
from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.ads.models import AdType
from relaydesk.ads.schemas import AdAsk, AdPackageAsk
from relaydesk.approvals.models import RequestKind
from relaydesk.approvals.partnership import register_partner
from relaydesk.approvals.schemas import AddonAsk, PackageChange, Registration
from relaydesk.approvals.service import approve_request, reject_request, submit_partner_request
from relaydesk.attachments.service import upload_attachment
from relaydesk.attachments.storage import Storage
from relaydesk.attachments.upload import ReceivedFile
from relaydesk.auth.models import StaffUser
from relaydesk.auth.permissions import Role
from relaydesk.auth.principal import EndUserPrincipal, StaffPrincipal
from relaydesk.auth.service import create_staff_user, end_user_token, principal_of
from relaydesk.broadcasts.models import Audience
from relaydesk.broadcasts.schemas import BroadcastAsk
from relaydesk.canned.schemas import CannedCategoryCreate, CannedResponseCreate
from relaydesk.canned.service import create_category, create_response
from relaydesk.catalogue.models import Addon, AdPackage, BillingPeriod, EngagementType
from relaydesk.catalogue.schemas import AddonCreate, AdPackageCreate, Grants, PackageCreate
from relaydesk.catalogue.service import create_item, create_package
from relaydesk.chat.schemas import AgentMessageCreate, MessageCreate
from relaydesk.chat.service import finish_conversation, send_agent_message, send_end_user_message
from relaydesk.clock import clock, now
from relaydesk.config import Settings
from relaydesk.db import Database
from relaydesk.engagements.schemas import EngagementCreate
from relaydesk.engagements.service import create_engagement, publish_engagement
from relaydesk.schemas import Money
from relaydesk.tenancy.models import Channel, PartnerStatus, Tenant
from relaydesk.tenancy.service import (
    create_partner,
    create_tenant,
    end_user_from_claims,
    follow_channel,
)

SLUG = "demo"
PASSWORD = "relaydesk-demo"
E = EngagementType

PACKAGES = [
    ("Starter", "29.00", [E.MESSAGE, E.PROMO], 2),
    ("Business", "99.00", [E.MESSAGE, E.PROMO, E.COUPON], 5),
    ("Premium", "249.00", list(E), 20),
]
PARTNERS = [
    # name, package, status, contact, channels (name, description, chat enabled)
    (
        "Café Aurora",
        "Premium",
        PartnerStatus.ACTIVE,
        {
            "email": "hello@aurora.example",
            "phone": "+385 1 555 0101",
            "website": "https://aurora.example",
            "contact_name": "Maja Horvat",
            "invoice_id": "INV-1001",
            "impressions_balance": 5000,
        },
        [
            ("Aurora News", "Seasonal menus and events", True),
            ("Aurora Deals", "Coupons for regulars", True),
            ("Aurora Jobs", "Work with us", False),
        ],
    ),
    (
        "Nordwind Sports",
        "Business",
        PartnerStatus.ACTIVE,
        {
            "email": "team@nordwind.example",
            "phone": "+49 40 555 0202",
            "website": "https://nordwind.example",
            "contact_name": "Jonas Berg",
            "invoice_id": "INV-1002",
        },
        [
            ("Nordwind Running", "Training plans and races", True),
            ("Nordwind Outdoor", "Gear for the mountains", False),
        ],
    ),
    (
        "Old Harbor Records",
        "Starter",
        PartnerStatus.SUSPENDED,
        {"email": "shop@oldharbor.example", "contact_name": "Tom Reed"},
        [("Old Harbor Vinyl", "", False)],
    ),
]
ADDONS = [
    # name, price, description, engagement types granted, extra channels
    ("Coupons", "19.00", "Send coupons to your followers", [E.COUPON], 0),
    ("Extra channels", "15.00", "Three more channels", [], 3),
    (
        "Downloads",
        "25.00",
        "Sticker packs, ringtones and wallpapers",
        [E.STICKER_PACK, E.RINGTONE, E.WALLPAPER],
        0,
    ),
]
AD_PACKAGES = [("10k impressions", 10_000, "49.00"), ("100k impressions", 100_000, "399.00")]
# Would-be partners who applied through the public form, and one turned down earlier.
REGISTRATIONS = [
    (
        "Lumen Books",
        "Starter",
        "office@lumen.example",
        "+43 1 555 0303",
        "Eva Lind",
        "An independent bookshop with readings every week.",
        None,
    ),
    (
        "Pixel Arcade",
        "Business",
        "play@pixel.example",
        "+44 20 555 0404",
        "Sam Hart",
        "Retro games café.",
        None,
    ),
    (
        "QuickLoans 24",
        "Starter",
        "info@quickloans.example",
        "+1 555 0505",
        "Rob Lender",
        "Instant loans.",
        "We do not host lenders on our platform.",
    ),
]
STAFF = [
    # role, partner, e-mail, name
    (Role.TENANT_ADMIN, None, "admin@demo.example", "Tara Admin"),
    (Role.TENANT_STAFF, None, "reviewer@demo.example", "Rui Reviewer"),
    (Role.PARTNER_ADMIN, "Café Aurora", "maja@aurora.example", "Maja Horvat"),
    (Role.AGENT, "Café Aurora", "ana@aurora.example", "Ana Kovač"),
    (Role.AGENT, "Café Aurora", "ben@aurora.example", "Ben Okafor"),
    (Role.PARTNER_ADMIN, "Nordwind Sports", "jonas@nordwind.example", "Jonas Berg"),
    (Role.AGENT, "Nordwind Sports", "lea@nordwind.example", "Lea Vogel"),
]
# Chats of Café Aurora in every state: (end user, channel, lines, finished by). A line is the
# end user's when its author is None, else the e-mail of the agent who writes it.
CONVERSATIONS = [
    ("Amira Haddad", "Aurora News", [(None, "Hi! Are you open on Sunday?")], None),
    (
        "Bruno Costa",
        "Aurora Deals",
        [
            (None, "My coupon didn't work at the counter this morning."),
            ("ana@aurora.example", "Sorry about that, Bruno! Which coupon was it?"),
            (None, "The autumn 2-for-1 on cappuccinos."),
        ],
        None,
    ),
    (
        "Chloé Martin",
        "Aurora News",
        [
            (None, "Do you have vegan options on the new menu?"),
            ("ben@aurora.example", "We do: every dish on the autumn menu has a vegan version."),
            (None, "Lovely, thank you!"),
        ],
        "ben@aurora.example",
    ),
    (
        "Dario Rossi",
        "Aurora News",
        [
            (None, "Can I book a table for twelve on Friday?"),
            ("ben@aurora.example", "Let me check with the team, one moment."),
        ],
        None,
    ),
]
# Café Aurora's past weeks, for the analytics pages: questions, answers, who answers.
PAST_QUESTIONS = [
    "Is the terrace open today?",
    "Do you take reservations for lunch?",
    "Can I order a birthday cake?",
    "Is there oat milk?",
    "Where can I park nearby?",
    "Do you still have the pumpkin soup?",
]
PAST_ANSWERS = [
    "Yes! Come by any time.",
    "We do, just tell us the time and how many.",
    "Of course, we'll need two days' notice.",
    "Thanks for asking, we've noted it.",
]
PAST_AGENTS = ["ana@aurora.example", "ben@aurora.example", "maja@aurora.example"]
PAST_DAYS = 30
# Café Aurora's canned responses: category, then (title, shortcut, text).
CANNED = [
    (
        "Greetings",
        [
            (
                "Welcome",
                "hi",
                "Hi {{end_user.name}}! This is {{agent.name}} from {{channel.name}}.",
            ),
            ("Goodbye", "bye", "Thanks for writing to us, {{end_user.name}}. Have a lovely day!"),
        ],
    ),
    (
        "Opening hours",
        [
            (
                "Hours",
                "hours",
                "We're open Monday to Saturday 7:00–19:00 and Sunday 9:00–15:00.",
            ),
        ],
    ),
    (
        "Coupons",
        [
            (
                "Coupon not working",
                "coupon",
                "Sorry about that! Show the coupon's code at the counter and we'll apply it "
                "by hand. Which coupon was it?",
            ),
        ],
    ),
]
# Café Aurora's published engagements, for agents to send from the console: channel, then
# the body of `POST /api/v1/engagements` without the channel.
ENGAGEMENTS = [
    (
        "Aurora Deals",
        {
            "type": "coupon",
            "title": "Free cappuccino",
            "description": "One cappuccino on us with any pastry.",
            "data": {"redemption_type": "click_to_redeem", "quantity": 50, "per_user_limit": 1},
        },
    ),
    (
        "Aurora News",
        {
            "type": "message",
            "title": "Autumn menu",
            "description": "",
            "data": {"text": "Our autumn menu is here: pumpkin soup, chestnut cake and more."},
        },
    ),
    (
        "Aurora News",
        {
            "type": "wallpaper",
            "title": "Aurora at dawn",
            "description": "A wallpaper of our terrace at sunrise.",
            "data": {"bonus_points": 5},
        },
    ),
]
ENGAGEMENT_CREATE: TypeAdapter[EngagementCreate] = TypeAdapter(EngagementCreate)
END_USERS = [
    "Amira Haddad",
    "Bruno Costa",
    "Chloé Martin",
    "Dario Rossi",
    "Elif Yılmaz",
    "Finn Larsen",
    "Greta Novak",
    "Hugo Petit",
    "Ines Duarte",
    "Jakub Wiśniewski",
    "Kira Ivanova",
    "Luca Bianchi",
]


async def load(session: AsyncSession, settings: Settings) -> dict[str, Any]:
    """Loads the demo into an empty database; on later runs only repeats the sign-ins."""
    loaded = not await session.scalar(select(Tenant.id).limit(1))
    if loaded:
        tenant = await _create(session)
    else:
        tenant = await session.scalar(
            select(Tenant)
            .join(StaffUser, StaffUser.tenant_id == Tenant.id)
            .where(Tenant.slug == SLUG, StaffUser.email == STAFF[0][2])
        )
        if tenant is None:
            return {
                "loaded": False,
                "detail": "The database holds other data; the demo loads only into an empty one.",
            }
    return {
        "loaded": loaded,
        "url": f"{settings.base_url}/login",
        "registration_form": f"{settings.base_url}/join/{SLUG}",
        "password": PASSWORD,
        "sign_ins": [
            {"email": email, "role": str(role), "partner": partner}
            for role, partner, email, _ in STAFF
        ],
        "end_user_token": end_user_token(
            tenant, sub="demo-user-1", name=END_USERS[0], ttl_seconds=30 * 86400
        ),
    }


async def _past_chats(
    session: AsyncSession,
    end_users: dict[str, EndUserPrincipal],
    channels: list[Channel],
    staff: dict[str, StaffPrincipal],
) -> None:
    """Café Aurora's chats of the past weeks (a few a day, answered within minutes), played
    through the chat's own state machine on a moved clock, so analytics have history to show.
    The same seed gives the same weeks on every run."""
    chance = random.Random(2026)
    midnight = now().replace(hour=0, minute=0, second=0, microsecond=0)
    chats: list[tuple[datetime, str, Channel]] = []
    for days_back in range(PAST_DAYS, 0, -1):
        for _ in range(chance.randint(2, 7)):
            opened_at = midnight - timedelta(days=days_back, minutes=-chance.randint(480, 1200))
            chats.append((opened_at, chance.choice(list(end_users)), chance.choice(channels)))
    busy_until: dict[tuple[str, Channel], datetime] = {}
    for number, (opened_at, name, channel) in enumerate(sorted(chats, key=lambda chat: chat[0])):
        if busy_until.get((name, channel), opened_at) > opened_at:
            continue
        end_user = end_users[name]
        await follow_channel(session, end_user, channel.id)
        clock.freeze(opened_at)
        question = MessageCreate(
            client_message_id=f"past-{number}-q", body=chance.choice(PAST_QUESTIONS)
        )
        message, _ = await send_end_user_message(session, end_user, channel.id, question)
        clock.advance(timedelta(seconds=chance.randint(15, 420)))
        answer = AgentMessageCreate(
            client_message_id=f"past-{number}-a", body=chance.choice(PAST_ANSWERS)
        )
        agent = staff[chance.choice(PAST_AGENTS)]
        await send_agent_message(session, agent, message.conversation_id, answer)
        clock.advance(timedelta(seconds=chance.randint(60, 1500)))
        await finish_conversation(session, agent, message.conversation_id)
        busy_until[(name, channel)] = now()


async def _requests(
    session: AsyncSession,
    tenant: Tenant,
    packages: dict[str, uuid.UUID],
    addons: dict[str, uuid.UUID],
    staff: dict[str, StaffPrincipal],
) -> None:
    """Requests waiting in Partner Management, and a few decided ones for its histories."""
    reviewer = staff["reviewer@demo.example"]
    for name, package, email, phone, contact, description, rejection in REGISTRATIONS:
        data = Registration(
            partner_name=name,
            package_id=packages[package],
            email=email,
            phone=phone,
            contact_name=contact,
            description=description,
        )
        request = await register_partner(session, tenant, data)
        assert request is not None  # the demo's addresses have no accounts
        if rejection:
            await reject_request(session, reviewer, request.id, rejection)
    aurora, nordwind = staff["maja@aurora.example"], staff["jonas@nordwind.example"]
    coupons = await submit_partner_request(
        session, nordwind, AddonAsk(kind=RequestKind.ADDON, addon_id=addons["Coupons"])
    )
    await approve_request(session, reviewer, coupons.id)
    for admin, ask in (
        (aurora, AddonAsk(kind=RequestKind.ADDON, addon_id=addons["Extra channels"])),
        (
            nordwind,
            PackageChange(
                kind=RequestKind.PARTNERSHIP,
                package_id=packages["Premium"],
                description="We are opening three new stores this spring.",
            ),
        ),
    ):
        await submit_partner_request(session, admin, ask)


async def _campaigns(
    session: AsyncSession,
    staff: dict[str, StaffPrincipal],
    ad_packages: dict[str, uuid.UUID],
    engagements: dict[str, uuid.UUID],
) -> None:
    """Broadcast and advertising requests: Café Aurora bought impressions and broadcasts its
    wallpaper to everyone now (the worker delivers it once the server runs); its autumn menu
    for non-followers, and Nordwind's impressions, wait in the Requests tab."""
    reviewer = staff["reviewer@demo.example"]
    aurora, nordwind = staff["maja@aurora.example"], staff["jonas@nordwind.example"]
    bought = await submit_partner_request(
        session,
        aurora,
        AdPackageAsk(kind=RequestKind.AD_PACKAGE, ad_package_id=ad_packages["10k impressions"]),
    )
    await approve_request(session, reviewer, bought.id)
    wallpaper = BroadcastAsk(
        kind=RequestKind.BROADCAST,
        engagement_id=engagements["Aurora at dawn"],
        audience=Audience.ALL_END_USERS,
        starts_at=now(),
    )
    broadcast = await submit_partner_request(session, aurora, wallpaper)
    await approve_request(session, reviewer, broadcast.id)
    tomorrow = now() + timedelta(days=1)
    tomorrow_morning = tomorrow.replace(hour=9, minute=0, second=0, microsecond=0)
    for admin, ask in (
        (
            aurora,
            BroadcastAsk(
                kind=RequestKind.BROADCAST,
                engagement_id=engagements["Autumn menu"],
                audience=Audience.NON_FOLLOWERS,
                starts_at=tomorrow_morning,
                description="Our new menu, for people who don't know us yet.",
            ),
        ),
        (
            nordwind,
            AdPackageAsk(
                kind=RequestKind.AD_PACKAGE, ad_package_id=ad_packages["100k impressions"]
            ),
        ),
    ):
        await submit_partner_request(session, admin, ask)


async def _create(session: AsyncSession) -> Tenant:
    tenant = await create_tenant(session, slug=SLUG, name="Demo Platform")
    packages = {}
    for name, price, types, max_channels in PACKAGES:
        data = PackageCreate(
            name=name,
            price=Money(amount=Decimal(price), currency="EUR"),
            billing_period=BillingPeriod.MONTH,
            engagement_types=types,
            max_channels=max_channels,
        )
        packages[name] = await create_package(session, tenant.id, None, data)
    addons = {}
    for name, price, description, types, extra_channels in ADDONS:
        addon_data = AddonCreate(
            name=name,
            price=Money(amount=Decimal(price), currency="EUR"),
            description=description,
            grants=Grants(engagement_types=types, extra_channels=extra_channels),
        )
        addons[name] = await create_item(session, tenant.id, None, Addon, addon_data)
    ad_packages = {}
    for name, impressions, price in AD_PACKAGES:
        ad_data = AdPackageCreate(
            name=name, impressions=impressions, price=Money(amount=Decimal(price), currency="EUR")
        )
        ad_packages[name] = (await create_item(session, tenant.id, None, AdPackage, ad_data)).id

    partners, channels = {}, []
    for name, package, status, contact, partner_channels in PARTNERS:
        details = dict(contact)
        extra = {
            key: details.pop(key) for key in ("invoice_id", "impressions_balance") if key in details
        }
        partner = await create_partner(
            session, tenant=tenant, name=name, package=packages[package], status=status, **details
        )
        for field, value in extra.items():
            setattr(partner, field, value)
        partners[name] = partner
        for channel_name, description, chat_enabled in partner_channels:
            channel = Channel(
                tenant_id=tenant.id,
                partner_id=partner.id,
                name=channel_name,
                description=description,
                chat_enabled=chat_enabled,
            )
            session.add(channel)
            channels.append(channel)
    await session.flush()

    staff = {}
    for role, partner_name, email, name in STAFF:
        staff[email] = await create_staff_user(
            session,
            tenant_id=tenant.id,
            partner_id=partners[partner_name].id if partner_name else None,
            role=role,
            email=email,
            name=name,
            password=PASSWORD,
        )

    await _requests(
        session,
        tenant,
        {name: package.id for name, package in packages.items()},
        {name: addon.id for name, addon in addons.items()},
        {email: principal_of(user) for email, user in staff.items()},
    )

    # Maja, Café Aurora's admin, sets up its canned responses and engagements.
    aurora_admin = principal_of(staff["maja@aurora.example"])
    for category_name, responses in CANNED:
        category = await create_category(
            session, aurora_admin, CannedCategoryCreate(name=category_name)
        )
        for title, shortcode, body in responses:
            data = CannedResponseCreate(
                category_id=category.id, title=title, shortcode=shortcode, body=body
            )
            await create_response(session, aurora_admin, data)

    channel_ids = {channel.name: channel.id for channel in channels}
    engagements = {}
    for channel_name, fields in ENGAGEMENTS:
        data = ENGAGEMENT_CREATE.validate_python(
            {**fields, "channel_id": channel_ids[channel_name]}
        )
        engagement = await create_engagement(session, aurora_admin, data)
        await publish_engagement(session, aurora_admin, engagement.id)
        engagements[engagement.title] = engagement.id

    followable = [c for c in channels if c.partner_id != partners["Old Harbor Records"].id]
    end_users = {}
    for number, name in enumerate(END_USERS, start=1):
        first, last = name.split()
        end_user = await end_user_from_claims(
            session,
            tenant.id,
            {
                "sub": f"demo-user-{number}",
                "name": name,
                "email": f"{first.lower()}.{last.lower()}@mail.example",
            },
        )
        principal = EndUserPrincipal(
            id=end_user.id, tenant_id=tenant.id, external_id=end_user.external_id, name=name
        )
        await session.flush()
        end_users[name] = principal
        for channel in followable[number % 3 :: 2]:
            await follow_channel(session, principal, channel.id)

    channels_by_name = {channel.name: channel for channel in channels}
    aurora = [
        channel
        for channel in channels
        if channel.partner_id == partners["Café Aurora"].id and channel.chat_enabled
    ]
    staff_principals = {email: principal_of(user) for email, user in staff.items()}
    try:
        await _past_chats(session, end_users, aurora, staff_principals)
        # Today's chats began in the last hour, a couple of minutes between lines.
        clock.unfreeze()
        clock.freeze(now() - timedelta(hours=1))
        for number, (end_user_name, channel_name, lines, finished_by) in enumerate(CONVERSATIONS):
            end_user, channel = end_users[end_user_name], channels_by_name[channel_name]
            await follow_channel(session, end_user, channel.id)
            conversation_id = None
            for line_number, (author, text) in enumerate(lines):
                clock.advance(timedelta(minutes=2, seconds=7 * number))
                client_message_id = f"demo-{number}-{line_number}"
                if author is None:
                    data = MessageCreate(client_message_id=client_message_id, body=text)
                    message, _ = await send_end_user_message(session, end_user, channel.id, data)
                    conversation_id = message.conversation_id
                else:
                    data = AgentMessageCreate(client_message_id=client_message_id, body=text)
                    await send_agent_message(
                        session, staff_principals[author], conversation_id, data
                    )
            if finished_by:
                clock.advance(timedelta(minutes=4))
                await finish_conversation(session, staff_principals[finished_by], conversation_id)
    finally:
        clock.unfreeze()
    await _campaigns(session, staff_principals, ad_packages, engagements)
    return tenant


async def banner_ad(database: Database, storage: Storage) -> None:
    """Café Aurora's banner, uploaded by Maja, asked for and approved: the end-user app (`/app`)
    shows it, and each showing counts an impression."""
    async with database.transaction() as session:
        maja = principal_of(
            await session.scalar(select(StaffUser).where(StaffUser.email == "maja@aurora.example"))
        )
    with tempfile.TemporaryDirectory() as folder:
        picture = Path(folder) / "autumn-menu-banner.png"
        _draw_banner(picture)
        received = ReceivedFile(picture.name, picture, picture.stat().st_size)
        media = await upload_attachment(database, maja, received, storage)
    async with database.transaction() as session:
        ad = AdAsk(
            kind=RequestKind.AD,
            ad_type=AdType.BANNER,
            title="Autumn menu at Café Aurora",
            subtitle="Pumpkin soup, chestnut cake and more",
            click_url="https://aurora.example/menu",
            cta_text="See the menu",
            media_attachment_id=media.id,
            starts_at=now(),
            ends_at=now() + timedelta(days=60),
            impressions_budget=2000,
        )
        request = await submit_partner_request(session, maja, ad)
        reviewer = await session.scalar(
            select(StaffUser).where(StaffUser.email == "reviewer@demo.example")
        )
        await approve_request(session, principal_of(reviewer), request.id)


def _draw_banner(path: Path) -> None:
    """A banner 1200 by 300 pixels in the café's colours."""
    banner = Image.new("RGB", (1200, 300), (122, 62, 28))
    drawing = ImageDraw.Draw(banner)
    drawing.rectangle((24, 24, 1176, 276), outline=(244, 200, 120), width=6)
    drawing.text((72, 84), "Autumn menu", fill=(255, 240, 214), font=ImageFont.load_default(72))
    drawing.text(
        (72, 184),
        "Pumpkin soup · chestnut cake · spiced latte",
        fill=(244, 200, 120),
        font=ImageFont.load_default(36),
    )
    banner.save(path, format="PNG")
