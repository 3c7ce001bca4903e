"""What each request kind is called and what approving it does."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.ads.service import approve_ad, approve_ad_package
from relaydesk.approvals.addons import approve_addon
from relaydesk.approvals.models import PartnerRequest, RequestKind
from relaydesk.approvals.partnership import approve_partnership
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.broadcasts.service import approve_broadcast

# Carries out an approval; answers whether it already told the partner (by its own e-mail).
Approval = Callable[[AsyncSession, StaffPrincipal, PartnerRequest], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Kind:
    label: str
    approve: Approval


KINDS: dict[RequestKind, Kind] = {
    RequestKind.PARTNERSHIP: Kind("partnership", approve_partnership),
    RequestKind.ADDON: Kind("add-on", approve_addon),
    RequestKind.BROADCAST: Kind("broadcast", approve_broadcast),
    RequestKind.AD_PACKAGE: Kind("advertising package", approve_ad_package),
    RequestKind.AD: Kind("ad", approve_ad),
}
