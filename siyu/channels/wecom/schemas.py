"""Request and response shapes of the WeCom API."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field

from siyu.org.schemas import PageMeta


class AttachmentIn(Schema):
    msgtype: str
    image: dict[str, str] | None = None
    link: dict[str, str] | None = None
    miniprogram: dict[str, str] | None = None

    def as_platform(self) -> dict[str, Any]:
        body = getattr(self, self.msgtype, None) if self.msgtype in ("image", "link", "miniprogram") else None
        return {"msgtype": self.msgtype, self.msgtype: body or {}}


class CodeIn(Schema):
    model_config = ConfigDict(extra="forbid")

    account_id: int
    name: str = Field(min_length=1, max_length=64)
    staff_ids: list[int] = Field(default_factory=list, max_length=100)
    store_id: int | None = None
    assign_mode: str = "all"
    daily_cap: int | None = Field(default=None, ge=1, le=100000)
    tag_ids: list[int] = Field(default_factory=list, max_length=50)
    welcome_text: str = Field(default="", max_length=4000)
    welcome_attachments: list[AttachmentIn] = Field(default_factory=list, max_length=9)
    state: str = Field(default="", max_length=30)
    skip_verify: bool = True


class CodePatchIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=64)
    tag_ids: list[int] | None = None
    welcome_text: str | None = Field(default=None, max_length=4000)
    welcome_attachments: list[AttachmentIn] | None = None


class WecomStaffRef(Schema):
    id: int
    name: str
    wecom_userid: str


class CodeOut(Schema):
    id: int
    account_id: int
    name: str
    state: str
    status: str
    assign_mode: str
    store_id: int | None
    config_id: str
    qr_code: str
    welcome_text: str
    welcome_attachments: list[dict[str, Any]]
    active_userids: list[str]
    created_at: datetime


class CodeDetailOut(CodeOut):
    staff: list[WecomStaffRef]
    tag_ids: list[int]


class CodePage(PageMeta):
    items: list[CodeOut]


class DayOut(Schema):
    day: date
    scans: int
    adds: int
    deletes: int
    net: int


class StatsOut(Schema):
    scans: int
    adds: int
    deletes: int
    net: int
    days: list[DayOut]


class WelcomeIn(Schema):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(default="", max_length=4000)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=9)


class SyncJobOut(Schema):
    id: int
    account_id: int
    kind: str
    status: str
    result: dict[str, int]
    error: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class SyncRunOut(Schema):
    id: int
    status: str
    staff_total: int
    staff_done: int
    contacts_seen: int
    customers_created: int
    relationships_added: int
    error: str
    started_at: datetime
    finished_at: datetime | None


class GroupOut(Schema):
    id: int
    chat_id: str
    name: str
    owner_userid: str
    owner_id: int | None
    status: str
    member_count: int
    platform_created_at: datetime | None


class GroupPage(PageMeta):
    items: list[GroupOut]


class MemberOut(Schema):
    member_id: str
    member_type: int
    customer_id: int | None
    staff_id: int | None
    name: str
    joined_at: datetime
    join_scene: int | None
    left_at: datetime | None
    quit_scene: int | None


class GroupDayOut(Schema):
    day: date
    joins: int
    quits: int


class GroupDetailOut(GroupOut):
    members: list[MemberOut]
    left: list[MemberOut]
    activity: list[GroupDayOut]


class TransferIn(Schema):
    model_config = ConfigDict(extra="forbid")

    account_id: int
    kind: str
    handover_id: int
    takeover_id: int
    customer_ids: list[int] | None = Field(default=None, max_length=10000)
    message: str = Field(default="", max_length=200)


class TransferOut(Schema):
    id: int
    kind: str
    status: str
    handover_id: int
    takeover_id: int
    message: str
    created_at: datetime
    finished_at: datetime | None


class TransferSummaryOut(TransferOut):
    total: int
    succeeded: int
    failed: int


class TransferPage(PageMeta):
    items: list[TransferSummaryOut]


class TransferItemOut(Schema):
    customer_id: int
    external_userid: str
    status: str
    errcode: int | None
    takeover_time: datetime | None


class TransferDetailOut(TransferOut):
    items: list[TransferItemOut]


class TransferItemMeaningOut(TransferItemOut):
    reason: str  # the errcode's meaning in the caller's language ("" without one)


class TransferItemPage(PageMeta):
    """One page of an inheritance's customers; `counts` is status -> customers over the whole job, and "all"."""

    counts: dict[str, int]
    items: list[TransferItemMeaningOut]


class CallOut(Schema):
    id: int
    method: str
    status: str
    attempts: int
    errcode: int | None
    last_error: str
    idempotency_key: str
    created_at: datetime
    finished_at: datetime | None


class CallPage(PageMeta):
    items: list[CallOut]


class WecomCallbackOut(Schema):
    id: int
    kind: str
    account_id: int | None
    event: str
    status: str
    signature_ok: bool
    error: str
    received_at: datetime
    processed_at: datetime | None


class CallbackPage(PageMeta):
    items: list[WecomCallbackOut]


class WecomAccountOut(Schema):
    id: int
    kind: str
    name: str
    app_id: str
    agent_id: str
    base_url: str
    is_active: bool


# ---------------------------------------------------------------------------------------------------------------
# Mass sends (群发) and moments (朋友圈)


class WecomMassSendIn(Schema):
    model_config = ConfigDict(extra="forbid")

    account_id: int
    kind: Literal["single", "group"] = "single"
    name: str = Field(default="", max_length=64)
    sender_ids: list[int] = Field(min_length=1, max_length=100)
    customer_ids: list[int] = Field(default_factory=list, max_length=10000)
    tag_ids: list[int] = Field(default_factory=list, max_length=50)
    group_ids: list[int] = Field(default_factory=list, max_length=2000)
    text: str = Field(default="", max_length=4000)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=9)
    submit: bool = Field(default=False, description="submit at once instead of keeping a draft")


class WecomMassSendOut(Schema):
    id: int
    account_id: int
    kind: str
    name: str
    status: str
    text: str
    attachments: list[dict[str, Any]]
    excluded_count: int = Field(description="named customers or groups no sender can reach (e.g. deleted the staff)")
    recipient_total: int
    sent_count: int
    not_sent_count: int
    failed_count: int
    over_limit_count: int
    created_at: datetime
    submitted_at: datetime | None
    finished_at: datetime | None


class WecomMassSendPage(PageMeta):
    items: list[WecomMassSendOut]


class WecomMassSendSenderOut(Schema):
    id: int
    staff_id: int
    userid: str
    part: int
    status: str
    msgid: str
    errcode: int | None
    error: str
    sent_at: datetime | None
    total: int
    sent: int
    not_sent: int
    failed: int
    over_limit: int


class WecomMassSendRecipientOut(Schema):
    target: str
    customer_id: int | None
    group_id: int | None
    sender_id: int
    status: str
    reason: str
    sent_at: datetime | None


class WecomMassSendDetailOut(WecomMassSendOut):
    customer_ids: list[int]
    tag_ids: list[int]
    group_ids: list[int]
    senders: list[WecomMassSendSenderOut]
    recipients: list[WecomMassSendRecipientOut]


class WecomMassSendRecipientMeaningOut(WecomMassSendRecipientOut):
    reason_text: str  # the reason in the caller's language ("" without one)


class WecomMassSendRecipientPage(PageMeta):
    """One page of a mass send's recipients in scope; `counts` is status -> recipients in scope, and "all"."""

    counts: dict[str, int]
    items: list[WecomMassSendRecipientMeaningOut]


class WecomMomentAttachmentIn(Schema):
    msgtype: str
    image: dict[str, str] | None = None
    video: dict[str, str] | None = None
    link: dict[str, str] | None = None

    def as_platform(self) -> dict[str, Any]:
        body = getattr(self, self.msgtype, None) if self.msgtype in ("image", "video", "link") else None
        return {"msgtype": self.msgtype, self.msgtype: body or {}}


class WecomMomentIn(Schema):
    model_config = ConfigDict(extra="forbid")

    account_id: int
    text: str = Field(default="", max_length=2000)
    attachments: list[WecomMomentAttachmentIn] = Field(default_factory=list, max_length=9)
    staff_ids: list[int] = Field(default_factory=list, max_length=10000)
    tag_ids: list[int] = Field(default_factory=list, max_length=50)
    submit: bool = Field(default=False, description="submit at once instead of keeping a draft")


class WecomMomentOut(Schema):
    id: int
    account_id: int
    status: str
    text: str
    attachments: list[dict[str, Any]]
    jobid: str
    moment_id: str
    errcode: int | None
    error: str
    retry_at: datetime | None = Field(description="when a rate-limited or retrying submission is tried again")
    invalid_userids: list[str]
    invalid_tag_ids: list[str]
    created_at: datetime
    submitted_at: datetime | None
    finished_at: datetime | None


class WecomMomentPage(PageMeta):
    items: list[WecomMomentOut]


class WecomMomentDetailOut(WecomMomentOut):
    staff: list[WecomStaffRef]
    tag_ids: list[int]


class GroupCodeIn(Schema):
    model_config = ConfigDict(extra="forbid")

    account_id: int
    name: str = Field(min_length=1, max_length=64)
    group_ids: list[int] = Field(max_length=50)
    cap: int | None = Field(default=None, ge=0, le=100000)  # above WeCom's 200: refused by the service with a code
    store_id: int | None = None
    state: str = Field(default="", max_length=30)


class GroupCodeGroupsIn(Schema):
    model_config = ConfigDict(extra="forbid")

    group_ids: list[int] = Field(min_length=1, max_length=50)


class GroupCodeOut(Schema):
    id: int
    account_id: int
    name: str
    state: str
    status: str
    cap: int
    store_id: int | None
    config_id: str
    qr_code: str
    current_group_id: int | None
    active_chat_ids: list[str]
    rolls: int
    created_at: datetime


class GroupCodePage(PageMeta):
    items: list[GroupCodeOut]


class GroupCodeGroupOut(Schema):
    group_id: int
    chat_id: str
    name: str
    owner: str
    members: int
    joins: int
    quits: int
    current: bool
    full: bool
    cap: int
    own_cap: int | None
    hours: list[dict[str, Any]]
    in_hours: bool


class GroupCodeDayOut(Schema):
    day: date
    scans: int
    joins: int
    quits: int
    net: int


class GroupCodeNoticeOut(Schema):
    message: str
    staff_id: int | None
    created_at: datetime


class GroupCodeStatsOut(Schema):
    scans: int
    joins: int
    quits: int
    net: int
    groups: list[GroupCodeGroupOut]
    days: list[GroupCodeDayOut]
    open_notices: list[GroupCodeNoticeOut]


class DuplicateMemberOut(Schema):
    member_id: str
    customer_id: int | None
    name: str
    group_ids: list[int]
    group_names: list[str]


class DuplicateMemberPage(PageMeta):
    items: list[DuplicateMemberOut]


class GroupTransferIn(Schema):
    model_config = ConfigDict(extra="forbid")

    account_id: int
    handover_id: int
    takeover_id: int


class GroupTransferItemOut(Schema):
    group_id: int
    chat_id: str
    name: str
    status: str
    errcode: int | None
    reason: str


class GroupTransferOut(Schema):
    id: int
    account_id: int
    handover_id: int
    takeover_id: int
    status: str
    created_at: datetime
    finished_at: datetime | None
    items: list[GroupTransferItemOut]


class GroupRouteIn(Schema):
    model_config = ConfigDict(extra="forbid")

    group_code_id: int
    tag_id: int | None = None
    store_id: int | None = None


class GroupRoutesIn(Schema):
    model_config = ConfigDict(extra="forbid")

    routes: list[GroupRouteIn] = Field(max_length=50)


class WindowIn(Schema):
    model_config = ConfigDict(extra="forbid")

    days: list[int] = Field(min_length=1, max_length=7, description="ISO weekdays, Monday = 1")
    start: str = Field(max_length=5, description="HH:MM, Asia/Shanghai")
    end: str = Field(max_length=5, description="HH:MM (24:00 allowed), exclusive")


class CodeMemberIn(Schema):
    model_config = ConfigDict(extra="forbid")

    staff_id: int
    is_backup: bool = False
    daily_cap: int | None = None
    shifts: list[WindowIn] = Field(default_factory=list, max_length=21)


class CodeControlsIn(Schema):
    model_config = ConfigDict(extra="forbid")

    members: list[CodeMemberIn] = Field(min_length=1, max_length=100)
    auto_accept_windows: list[WindowIn] = Field(default_factory=list, max_length=21)
    no_welcome_nicknames: list[str] = Field(default_factory=list, max_length=200)


class CodeMemberOut(Schema):
    staff_id: int
    staff_name: str
    is_backup: bool
    daily_cap: int | None
    shifts: list[dict[str, Any]]


class CodeControlsOut(Schema):
    members: list[CodeMemberOut]
    auto_accept_windows: list[dict[str, Any]]
    no_welcome_nicknames: list[str]
    skip_verify: bool
    live_skip_verify: bool
    active_userids: list[str]


class GroupScheduleIn(Schema):
    model_config = ConfigDict(extra="forbid")

    group_id: int
    cap: int | None = Field(default=None, description="the group's own cap (2-200); none: the code's")
    hours: list[WindowIn] = Field(default_factory=list, max_length=21,
                                  description="when the group takes joiners; none: always")


class GroupSchedulesIn(Schema):
    model_config = ConfigDict(extra="forbid")

    groups: list[GroupScheduleIn] = Field(max_length=50)


class GroupScheduleOut(Schema):
    group_id: int
    chat_id: str
    name: str
    members: int
    cap: int | None
    effective_cap: int
    hours: list[dict[str, Any]]
    in_hours: bool
    current: bool
    full: bool


class GroupSchedulesOut(Schema):
    code_id: int
    cap: int
    timed: bool
    active_chat_ids: list[str]
    groups: list[GroupScheduleOut]


class GroupRouteOut(Schema):
    group_code_id: int
    tag_id: int | None
    store_id: int | None


class KeywordGroupIn(Schema):
    model_config = ConfigDict(extra="forbid")

    oa_account_id: int
    keyword: str = Field(min_length=1, max_length=64)
    reply_text: str = Field(default="", max_length=500)
    routes: list[GroupRouteIn] = Field(min_length=1, max_length=50)


class KeywordGroupPatch(Schema):
    """Only what is given changes; routes given replace the old ones, in order."""

    model_config = ConfigDict(extra="forbid")

    keyword: str | None = Field(default=None, min_length=1, max_length=64)
    reply_text: str | None = Field(default=None, max_length=500)
    is_active: bool | None = None
    routes: list[GroupRouteIn] | None = Field(default=None, min_length=1, max_length=50)


class KeywordGroupOut(Schema):
    id: int
    oa_account_id: int
    keyword: str
    reply_text: str
    is_active: bool
    routes: list[GroupRouteOut]


class KeywordGroupPage(PageMeta):
    items: list[KeywordGroupOut]


class TagGroupIn(Schema):
    model_config = ConfigDict(extra="forbid")

    account_id: int
    group_code_id: int
    # Customers by tags, or by a segment (人群包) of the enterprise: one of the two.
    tag_ids: list[int] = Field(default_factory=list, max_length=20)
    match: Literal["all", "any"] = "all"
    segment_id: int | None = None
    name: str = Field(default="", max_length=64)
    text: str = Field(default="", max_length=1000)


class TagGroupOut(Schema):
    id: int
    name: str
    group_code_id: int
    tag_ids: list[int]
    match: str
    segment_id: int | None
    segment_name: str
    status: str
    staff_total: int
    staff_sent: int
    invited: int
    delivered: int
    joined: int


class TagGroupPage(PageMeta):
    items: list[TagGroupOut]


# ---------------------------------------------------------------------------------------------------------------
# Group welcome templates (入群欢迎语素材) and group analytics


class GroupWelcomeAttachmentIn(Schema):
    """One of image {media_id | pic_url}, link {title, url, picurl, desc}, miniprogram {title, pic_media_id, appid,
    page}, named by msgtype."""

    model_config = ConfigDict(extra="forbid")

    msgtype: Literal["image", "link", "miniprogram"]
    image: dict[str, str] | None = None
    link: dict[str, str] | None = None
    miniprogram: dict[str, str] | None = None


class GroupWelcomeIn(Schema):
    model_config = ConfigDict(extra="forbid")

    account_id: int
    name: str = Field(min_length=1, max_length=64)
    text: str = Field(default="", max_length=4000)  # the byte limit (3000) is the service's, with its code
    attachment: GroupWelcomeAttachmentIn | None = None
    material_id: int | None = Field(default=None, description="a material of the library as the attachment")
    notify: bool = True


class GroupWelcomePatch(Schema):
    """Only what is given changes; `attachment: null` with `clear_attachment: true` removes the attachment."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=64)
    text: str | None = Field(default=None, max_length=4000)
    attachment: GroupWelcomeAttachmentIn | None = None
    material_id: int | None = Field(default=None, description="a material of the library as the attachment")
    clear_attachment: bool = False


class GroupWelcomeOut(Schema):
    id: int
    account_id: int
    name: str
    text: str
    attachment: dict[str, Any]
    notify: bool
    template_id: str
    status: str
    version: int
    pushed_version: int
    errcode: int | None
    error: str
    created_at: datetime


class GroupWelcomePage(PageMeta):
    items: list[GroupWelcomeOut]


class WelcomeBindingIn(Schema):
    model_config = ConfigDict(extra="forbid")

    welcome_id: int | None


class WelcomeBindingOut(Schema):
    welcome_id: int | None
    name: str
    template_id: str
    source: str  # "group", "code" or ""


class GroupAnalyticsDayOut(Schema):
    day: date
    joins: int
    quits: int
    net: int
    members: int = Field(description="customers in the groups at the end of the day")


class GroupAnalyticsRowOut(Schema):
    key: int | None
    name: str
    joins: int
    quits: int
    net: int
    members: int


class GroupAnalyticsOut(Schema):
    by: str
    start: date
    end: date
    joins: int
    quits: int
    net: int
    days: list[GroupAnalyticsDayOut]
    rows: list[GroupAnalyticsRowOut]
    total_rows: int
    page: int
    pages: int


class GroupTagIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=32)


class GroupTagsIn(Schema):
    model_config = ConfigDict(extra="forbid")

    tag_ids: list[int] = Field(max_length=20)


class GroupTagOut(Schema):
    id: int
    name: str
    group_count: int


class GroupSopIn(Schema):
    model_config = ConfigDict(extra="forbid")

    account_id: int
    name: str = Field(min_length=1, max_length=64)
    group_tag_id: int | None = None
    group_code_id: int | None = None
    text: str = Field(default="", max_length=4000)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=9)
    material_ids: list[int] = Field(default_factory=list, max_length=9,
                                    description="materials of the library, appended to the attachments")
    send_messages: bool = True
    remind_owners: bool = True
    repeat: Literal["once", "daily", "weekly"] = "once"
    time_of_day: time = Field(description="HH:MM, Asia/Shanghai")
    weekdays: list[int] = Field(default_factory=list, max_length=7, description="ISO weekdays for weekly")
    start_date: date
    end_date: date | None = None


class GroupSopPatch(Schema):
    """Only what is given changes; a changed rule (or a resumed SOP) counts its next occurrence from now."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=64)
    text: str | None = Field(default=None, max_length=4000)
    attachments: list[AttachmentIn] | None = Field(default=None, max_length=9)
    material_ids: list[int] | None = Field(default=None, max_length=9)
    send_messages: bool | None = None
    remind_owners: bool | None = None
    repeat: Literal["once", "daily", "weekly"] | None = None
    time_of_day: time | None = None
    weekdays: list[int] | None = Field(default=None, max_length=7)
    start_date: date | None = None
    end_date: date | None = None
    clear_end_date: bool = False
    is_active: bool | None = None


class GroupSopOut(Schema):
    id: int
    account_id: int
    name: str
    group_tag_id: int | None
    group_code_id: int | None
    text: str
    attachments: list[dict[str, Any]]
    send_messages: bool
    remind_owners: bool
    repeat: str
    time_of_day: time
    weekdays: list[int]
    start_date: date
    end_date: date | None
    is_active: bool
    next_run_at: datetime | None
    created_at: datetime


class GroupSopPage(PageMeta):
    items: list[GroupSopOut]


class GroupSopRunOut(Schema):
    id: int
    sop_id: int
    occurrence: datetime
    status: str
    group_ids: list[int]
    owner_ids: list[int]
    mass_send_ids: list[int]
    error: str


class GroupSopRunPage(PageMeta):
    items: list[GroupSopRunOut]


class SopGroupResultOut(Schema):
    group_id: int
    group_name: str
    owner_name: str
    status: str


class GroupSopRunDetailOut(GroupSopRunOut):
    groups: list[SopGroupResultOut]


class ConversionRowOut(Schema):
    key: int | None
    name: str
    customers: int
    buyers: int
    rate: float


class GroupConversionOut(Schema):
    start: date
    end: date
    members: ConversionRowOut
    non_members: ConversionRowOut
    rows: list[ConversionRowOut]
