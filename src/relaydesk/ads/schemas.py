import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, HttpUrl, StringConstraints, model_validator

from relaydesk.ads.models import AdType
from relaydesk.approvals.models import RequestKind
from relaydesk.schemas import Description, Input, Output, UtcDatetime

Title = Annotated[str, StringConstraints(min_length=1, max_length=80)]
Subtitle = Annotated[str, StringConstraints(max_length=120)]
CtaText = Annotated[str, StringConstraints(max_length=30)]
AD_TYPE_LABELS = {
    AdType.BANNER: "Banner",
    AdType.INTERSTITIAL: "Interstitial",
    AdType.VIDEO: "Video",
    AdType.NATIVE: "Native",
}
# A budget fits the partner's balance, which is counted in a 64-bit integer.
Impressions = Annotated[int, Field(ge=1, le=1_000_000_000_000)]


CLICK_URL_MAX = 2000


def _stored_whole(url: HttpUrl) -> HttpUrl:
    # Checked as it will be kept: non-ASCII characters grow when they are percent-encoded.
    if len(str(url)) > CLICK_URL_MAX:
        raise ValueError(f"The click URL has at most {CLICK_URL_MAX:,} characters.")
    return url


class AdPackageAsk(Input):
    """A partner asks to buy an advertising package's impressions."""

    kind: Literal[RequestKind.AD_PACKAGE]
    ad_package_id: uuid.UUID
    description: Description = ""


class AdAsk(Input):
    """A partner's ad campaign, shown to end users once approved, between its dates."""

    kind: Literal[RequestKind.AD]
    ad_type: AdType
    title: Title
    subtitle: Subtitle = ""
    description: Description = ""
    click_url: Annotated[HttpUrl, AfterValidator(_stored_whole)]
    cta_text: CtaText = ""
    media_attachment_id: uuid.UUID
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    impressions_budget: Impressions

    @model_validator(mode="after")
    def _ends_after_start(self) -> "AdAsk":
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at.")
        return self


class ServedAd(Output):
    """An ad as the end user's app shows it."""

    id: uuid.UUID
    ad_type: AdType
    title: str
    subtitle: str
    description: str
    click_url: str
    cta_text: str
    media_url: str


class ServedAds(Output):
    items: list[ServedAd]
