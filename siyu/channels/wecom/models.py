"""WeCom's side of Siyu: access tokens, the outbox of API calls, channel codes and their stats, customer groups,
the tag mapping for two-way sync, customer inheritance, full-sync runs.

Customers, identities, relationships and tags themselves live in `customers`; this app only points at them and
changes them through `siyu.customers.services`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from siyu.channels.models import ChannelAccount
from siyu.customers.models import Customer, Tag, TagGroup
from siyu.org.models import Enterprise, Staff, Store


class AccessToken(models.Model):
    """The account's current access token, shared by the web and worker processes (sealed at rest)."""

    account = models.OneToOneField(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    sealed_token = models.TextField()
    expires_at = models.DateTimeField()
    fetched_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"token for {self.account_id}"


class CallStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    RETRYING = "retrying", _("Retrying")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class OutboundCall(models.Model):
    """The outbox: one WeCom API call with a side effect, recorded before it happens and executed by the worker."""

    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    method = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    idempotency_key = models.CharField(max_length=191, unique=True)
    status = models.CharField(max_length=10, choices=CallStatus.choices, default=CallStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    errcode = models.IntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True)
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.method}#{self.pk} {self.status}"


class AssignMode(models.TextChoices):
    ALL = "all", _("All staff at once")
    ROUND_ROBIN = "round_robin", _("Round robin")
    DAILY_CAP = "daily_cap", _("By daily cap")


class CodeStatus(models.TextChoices):
    PENDING = "pending", _("Being created")
    ACTIVE = "active", _("Active")
    FAILED = "failed", _("Failed")
    DISABLED = "disabled", _("Disabled")


class ChannelCode(models.Model):
    """A channel code (渠道活码): a contact-me QR whose `state` records the source of every customer it brings."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=64)
    state = models.CharField(_("state"), max_length=30)
    store = models.ForeignKey(Store, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    assign_mode = models.CharField(max_length=12, choices=AssignMode.choices, default=AssignMode.ALL)
    skip_verify = models.BooleanField(default=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="+")
    welcome_text = models.TextField(_("welcome text"), blank=True)
    welcome_attachments = models.JSONField(default=list, blank=True)
    config_id = models.CharField(max_length=64, blank=True, db_index=True)
    qr_code = models.URLField(max_length=500, blank=True)
    status = models.CharField(max_length=10, choices=CodeStatus.choices, default=CodeStatus.PENDING)
    active_userids = models.JSONField(default=list, blank=True)
    rr_cursor = models.PositiveIntegerField(default=0)
    # Controls (schedules.py): skip_verify inside these windows only (none: `skip_verify` always); the skip_verify
    # last pushed to WeCom; nicknames that get no welcome; a counter that keys each push of the member list.
    auto_accept_windows = models.JSONField(default=list, blank=True)
    live_skip_verify = models.BooleanField(default=True)
    no_welcome_nicknames = models.JSONField(default=list, blank=True)
    push_seq = models.PositiveIntegerField(default=0)
    timed = models.BooleanField(default=False)  # shifts, caps or auto-accept hours: the minute sweep looks at it
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "state"], name="uniq_wecom_code_state")]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"


class ChannelCodeStaff(models.Model):
    code = models.ForeignKey(ChannelCode, on_delete=models.CASCADE, related_name="members")
    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="+")
    daily_cap = models.PositiveIntegerField(null=True, blank=True)
    sort = models.PositiveIntegerField(default=0)
    is_backup = models.BooleanField(default=False)
    shifts = models.JSONField(default=list, blank=True)  # work windows (schedules.py); none = always on duty

    class Meta:
        constraints = [models.UniqueConstraint(fields=["code", "staff"], name="uniq_wecom_code_staff")]
        ordering = ["sort", "id"]

    def __str__(self) -> str:
        return f"{self.code_id}:{self.staff_id}"


class ScanVisit(models.Model):
    """One visitor opened a code's landing page on a Shanghai day: a second open that day is not another scan.
    `visitor` is an opaque keyed hash of the source address and user agent (authenticity.visitor_key); rows older
    than yesterday are pruned by the WeCom housekeeping."""

    code = models.ForeignKey("ChannelCode", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    visitor = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["code", "day", "visitor"], name="uniq_wecom_scan_visit")]
        indexes = [models.Index(fields=["day"], name="wecom_scan_visit_day")]

    def __str__(self) -> str:
        return f"{self.code_id}@{self.day}"


class ChannelCodeDay(models.Model):
    """Per code and Shanghai day: scans (landing-page opens), adds, deletes. Net = adds - deletes."""

    code = models.ForeignKey(ChannelCode, on_delete=models.CASCADE, related_name="days")
    day = models.DateField()
    scans = models.PositiveIntegerField(default=0)
    adds = models.PositiveIntegerField(default=0)
    deletes = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["code", "day"], name="uniq_wecom_code_day")]

    def __str__(self) -> str:
        return f"{self.code_id}@{self.day}"


class ChannelCodeStaffDay(models.Model):
    """Adds per staff member, code and day: what the daily cap is checked against."""

    code = models.ForeignKey(ChannelCode, on_delete=models.CASCADE, related_name="+")
    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    adds = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["code", "staff", "day"], name="uniq_wecom_code_staff_day")]

    def __str__(self) -> str:
        return f"{self.code_id}:{self.staff_id}@{self.day}"


class DefaultWelcome(models.Model):
    """The welcome message for adds that come through no channel code with its own."""

    account = models.OneToOneField(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    text = models.TextField(blank=True)
    attachments = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"default welcome {self.account_id}"


class GroupStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    DISMISSED = "dismissed", _("Dismissed")


class CustomerGroup(models.Model):
    """A WeCom customer group chat (客户群)."""

    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    chat_id = models.CharField(max_length=64)
    name = models.CharField(max_length=128, blank=True)
    owner_userid = models.CharField(max_length=64, blank=True)
    owner = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    admin_userids = models.JSONField(default=list, blank=True)  # the group's admins (群管理员), from groupchat/get
    notice = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=GroupStatus.choices, default=GroupStatus.ACTIVE)
    platform_created_at = models.DateTimeField(null=True, blank=True)
    member_count = models.PositiveIntegerField(default=0)
    synced_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "chat_id"], name="uniq_wecom_group_chat")]
        ordering = ["-platform_created_at", "-id"]

    def __str__(self) -> str:
        return self.name or self.chat_id


class MemberType(models.IntegerChoices):
    STAFF = 1, _("Staff")
    EXTERNAL = 2, _("Customer")


class GroupMembership(models.Model):
    """One stint of one member in a group: joined_at .. left_at (null while a member). A rejoin is a new row."""

    group = models.ForeignKey(CustomerGroup, on_delete=models.CASCADE, related_name="memberships")
    member_id = models.CharField(max_length=64)
    member_type = models.PositiveSmallIntegerField(choices=MemberType.choices, default=MemberType.EXTERNAL)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    staff = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    name = models.CharField(max_length=64, blank=True)
    joined_at = models.DateTimeField(db_index=True)
    join_scene = models.PositiveSmallIntegerField(null=True, blank=True)
    left_at = models.DateTimeField(null=True, blank=True, db_index=True)
    quit_scene = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["group", "member_id", "left_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["group", "member_id"], condition=models.Q(left_at__isnull=True), name="uniq_wecom_live_member"
            )
        ]

    def __str__(self) -> str:
        return f"{self.group_id}:{self.member_id}"


class TagGroupLink(models.Model):
    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey(TagGroup, on_delete=models.CASCADE, related_name="+")
    wecom_group_id = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "wecom_group_id"], name="uniq_wecom_tag_group_id"),
            models.UniqueConstraint(fields=["account", "group"], name="uniq_wecom_tag_group_link"),
        ]

    def __str__(self) -> str:
        return f"{self.group_id}={self.wecom_group_id}"


class TagLink(models.Model):
    """A Siyu tag and its WeCom corp tag, per account (two-way sync)."""

    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="+")
    wecom_tag_id = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "wecom_tag_id"], name="uniq_wecom_tag_id"),
            models.UniqueConstraint(fields=["account", "tag"], name="uniq_wecom_tag_link"),
        ]

    def __str__(self) -> str:
        return f"{self.tag_id}={self.wecom_tag_id}"


class FollowTagVersion(models.Model):
    """How many times the merge base (ContactTag) of one follow relation has changed. mark_tag outbox keys carry it:
    the same push against the same base is one call, and a push that only looks like an earlier one (a tag added back
    after its removal went through) is a call of its own."""

    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    userid = models.CharField(max_length=64)
    external_userid = models.CharField(max_length=64)
    version = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "userid", "external_userid"], name="uniq_wecom_follow_tag_ver")
        ]

    def __str__(self) -> str:
        return f"{self.userid}/{self.external_userid}@{self.version}"


class ContactTag(models.Model):
    """What WeCom last said a follow relationship carries: the base of the three-way tag merge."""

    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    userid = models.CharField(max_length=64)
    external_userid = models.CharField(max_length=64)
    wecom_tag_id = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "userid", "external_userid", "wecom_tag_id"], name="uniq_wecom_contact_tag"
            )
        ]
        indexes = [models.Index(fields=["account", "external_userid"])]

    def __str__(self) -> str:
        return f"{self.userid}/{self.external_userid}:{self.wecom_tag_id}"


class TransferKind(models.TextChoices):
    IN_SERVICE = "in_service", _("In-service (在职继承)")
    RESIGNED = "resigned", _("Resigned (离职继承)")


class TransferJobStatus(models.TextChoices):
    SUBMITTING = "submitting", _("Submitting")
    WAITING = "waiting", _("Waiting for takeover")
    DONE = "done", _("Done")


class TransferJob(models.Model):
    """A customer inheritance: a staff member's customers handed over to a successor."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=12, choices=TransferKind.choices)
    handover = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="+")
    takeover = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="+")
    message = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=12, choices=TransferJobStatus.choices, default=TransferJobStatus.SUBMITTING)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.handover_id}→{self.takeover_id}"


class TransferItemStatus(models.TextChoices):
    PENDING = "pending", _("Not yet submitted")
    REJECTED = "rejected", _("Rejected by WeCom")
    WAITING = "waiting", _("Waiting (24 h)")
    SUCCEEDED = "succeeded", _("Taken over")
    REFUSED = "refused", _("Refused by the customer")
    LIMIT = "limit", _("Successor at customer limit")
    NO_RECORD = "no_record", _("No record")


class TransferItem(models.Model):
    job = models.ForeignKey(TransferJob, on_delete=models.CASCADE, related_name="items")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    external_userid = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=TransferItemStatus.choices, default=TransferItemStatus.PENDING)
    errcode = models.IntegerField(null=True, blank=True)
    takeover_time = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "external_userid"], name="uniq_wecom_transfer_item")]
        indexes = [models.Index(fields=["external_userid", "status"])]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.external_userid} {self.status}"


class SyncStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class SyncRun(models.Model):
    """A full customer sync (batch/get_by_user over every staff member), with its progress."""

    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=SyncStatus.choices, default=SyncStatus.RUNNING)
    staff_total = models.PositiveIntegerField(default=0)
    staff_done = models.PositiveIntegerField(default=0)
    contacts_seen = models.PositiveIntegerField(default=0)
    customers_created = models.PositiveIntegerField(default=0)
    relationships_added = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=255, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [  # one customer sync at a time per account (sync.start_sync returns the running one)
            models.UniqueConstraint(fields=["account"], condition=models.Q(status="running"),
                                    name="wecom_syncrun_one_running_per_account"),
        ]

    def __str__(self) -> str:
        return f"sync {self.account_id} {self.status}"


class SyncJobKind(models.TextChoices):
    DIRECTORY = "directory", _("Address book")
    TAGS = "tags", _("Tags")
    GROUPS = "groups", _("Customer groups")


class SyncJobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


OPEN_SYNC_JOB = ("queued", "running")


class SyncJob(models.Model):
    """An address-book, tag or group sync run by the worker (they page through WeCom for minutes on a large corp,
    far too long for a request). At most one open (queued or running) job per account and kind: the partial unique
    constraint makes a second click, or two operators at once, find the open job instead of starting another."""

    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=SyncJobKind.choices)
    status = models.CharField(max_length=10, choices=SyncJobStatus.choices, default=SyncJobStatus.QUEUED)
    result = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=255, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "kind"], condition=models.Q(status__in=OPEN_SYNC_JOB),
                                    name="wecom_syncjob_one_open_per_account_kind"),
        ]
        indexes = [models.Index(fields=["account", "kind", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} sync {self.account_id} {self.status}"


# ---------------------------------------------------------------------------------------------------------------
# Mass sends (群发) and moments (朋友圈)


class MassSendKind(models.TextChoices):
    SINGLE = "single", _("To customers")
    GROUP = "group", _("To customer groups")


class MassSendStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class MassSend(models.Model):
    """A mass message (群发): one WeCom add_msg_template per sender, which the sender confirms in the client.

    Targets are an explicit customer list and/or a tag filter and/or a segment's members (customer sends) or customer
    groups (group sends);
    they are resolved to each sender's active relationships when the task is submitted."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=64, blank=True)
    kind = models.CharField(max_length=10, choices=MassSendKind.choices, default=MassSendKind.SINGLE)
    text = models.TextField(blank=True)
    attachments = models.JSONField(default=list, blank=True)
    customer_ids = models.JSONField(default=list, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="+")
    # "any": customers with one of the tags; "all": customers with every one of them (tag-built groups use both).
    tag_match = models.CharField(max_length=3, choices=[("any", "any"), ("all", "all")], default="any")
    groups = models.ManyToManyField(CustomerGroup, blank=True, related_name="+")
    # A segment (人群包) as the audience (tag-built groups by segment). Only its id: the audiences app sits above
    # WeCom, which reaches the members through siyu.customers.queries.segment_member_ids; the name is kept as it was.
    segment_id = models.PositiveIntegerField(null=True, blank=True)
    segment_name = models.CharField(max_length=80, blank=True)
    # Set for a tag-built group (标签建群): the send invites its customers into this group code's groups.
    group_code = models.ForeignKey("GroupCode", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=10, choices=MassSendStatus.choices, default=MassSendStatus.DRAFT)
    excluded_count = models.PositiveIntegerField(default=0)
    recipient_total = models.PositiveIntegerField(default=0)
    sent_count = models.PositiveIntegerField(default=0)
    not_sent_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    over_limit_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["enterprise", "status"])]

    def __str__(self) -> str:
        return self.name or f"mass send #{self.pk}"


class SenderStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    QUEUED = "queued", _("Queued")
    RETRYING = "retrying", _("Retrying")
    WAITING = "waiting", _("Waiting for the staff member to send")
    SENT = "sent", _("Sent by the staff member")
    EMPTY = "empty", _("No recipients")
    FAILED = "failed", _("Failed")
    EXPIRED = "expired", _("Not sent in time")


class MassSendSender(models.Model):
    """One add_msg_template: a sender and (part) one slice of ≤10,000 of their recipients."""

    mass_send = models.ForeignKey(MassSend, on_delete=models.CASCADE, related_name="senders")
    staff = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="+")
    part = models.PositiveSmallIntegerField(default=0)
    userid = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=SenderStatus.choices, default=SenderStatus.DRAFT)
    call = models.ForeignKey(OutboundCall, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    msgid = models.CharField(max_length=64, blank=True, db_index=True)
    errcode = models.IntegerField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    polls = models.PositiveIntegerField(default=0)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mass_send", "staff", "part"], name="uniq_wecom_mass_send_sender")
        ]
        indexes = [models.Index(fields=["status", "next_poll_at"])]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.mass_send_id}:{self.userid or self.staff_id}/{self.part}"


class RecipientStatus(models.TextChoices):
    NOT_SENT = "not_sent", _("Not sent")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    OVER_LIMIT = "over_limit", _("Over the platform limit")


class MassSendRecipient(models.Model):
    """One customer (external_userid) or group (chat_id) of a mass send, with what WeCom says happened to it."""

    mass_send = models.ForeignKey(MassSend, on_delete=models.CASCADE, related_name="recipients")
    sender = models.ForeignKey(MassSendSender, on_delete=models.CASCADE, related_name="recipients")
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    group = models.ForeignKey(CustomerGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    target = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=RecipientStatus.choices, default=RecipientStatus.NOT_SENT)
    reason = models.CharField(max_length=32, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["mass_send", "target"], name="uniq_wecom_mass_recipient")]
        indexes = [models.Index(fields=["sender", "status"]), models.Index(fields=["mass_send", "status"])]

    def __str__(self) -> str:
        return f"{self.mass_send_id}:{self.target} {self.status}"


class MomentStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    QUEUED = "queued", _("Queued")
    RATE_LIMITED = "rate_limited", _("Rate limited, retrying")
    RETRYING = "retrying", _("Retrying")
    RUNNING = "running", _("WeCom is processing")
    DONE = "done", _("Published")
    FAILED = "failed", _("Failed")


class MomentTask(models.Model):
    """A corp moment (企业朋友圈) for staff to publish: add_moment_task, then get_moment_task_result."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    text = models.TextField(blank=True)
    attachments = models.JSONField(default=list, blank=True)
    staff = models.ManyToManyField(Staff, blank=True, related_name="+")
    tags = models.ManyToManyField(Tag, blank=True, related_name="+")
    status = models.CharField(max_length=12, choices=MomentStatus.choices, default=MomentStatus.DRAFT)
    submissions = models.PositiveSmallIntegerField(default=0)
    call = models.ForeignKey(OutboundCall, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    jobid = models.CharField(max_length=64, blank=True)
    moment_id = models.CharField(max_length=64, blank=True)
    errcode = models.IntegerField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)
    invalid_userids = models.JSONField(default=list, blank=True)
    invalid_tag_ids = models.JSONField(default=list, blank=True)
    polls = models.PositiveIntegerField(default=0)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_poll_at"])]

    def __str__(self) -> str:
        return f"moment #{self.pk} {self.status}"


# ---------------------------------------------------------------------------------------------------------------
# Group codes (群活码)


class GroupCodeStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    ACTIVE = "active", _("Active")
    FAILED = "failed", _("Failed")
    DISABLED = "disabled", _("Disabled")


class GroupCode(models.Model):
    """One stable QR over an ordered set of customer groups of one corp: WeCom's join way (加入群聊) lists the open
    groups, and Siyu rolls it to the next group when the current one reaches the code's cap."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=64)
    state = models.CharField(_("state"), max_length=30)
    store = models.ForeignKey(Store, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    cap = models.PositiveSmallIntegerField(_("members per group"))
    config_id = models.CharField(max_length=64, blank=True, db_index=True)
    qr_code = models.URLField(max_length=500, blank=True)
    status = models.CharField(max_length=10, choices=GroupCodeStatus.choices, default=GroupCodeStatus.PENDING)
    current_group = models.ForeignKey(
        CustomerGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    active_chat_ids = models.JSONField(default=list, blank=True)  # what the join way lists now
    rolls = models.PositiveIntegerField(default=0)
    timed = models.BooleanField(default=False)  # a group has hours: the minute sweep re-plans the code
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["account", "state"], name="uniq_wecom_group_code_state")]

    def __str__(self) -> str:
        return self.name


class GroupCodeSlot(models.Model):
    """One group of a code, in the code's order. A group serves at most one code, so a join is the code's."""

    code = models.ForeignKey(GroupCode, on_delete=models.CASCADE, related_name="slots")
    group = models.ForeignKey(CustomerGroup, on_delete=models.CASCADE, related_name="+")
    sort = models.PositiveSmallIntegerField(default=0)
    # The group's own schedule (group_codes.py): its cap (none: the code's) and the hours it takes joiners
    # (schedules.py windows; none: always).
    cap = models.PositiveSmallIntegerField(null=True, blank=True)
    hours = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["sort", "id"]
        constraints = [
            models.UniqueConstraint(fields=["group"], name="uniq_wecom_group_code_slot_group"),
            models.UniqueConstraint(fields=["code", "sort"], name="uniq_wecom_group_code_slot_sort"),
        ]

    def __str__(self) -> str:
        return f"{self.code_id}#{self.sort}:{self.group_id}"


class GroupCodeJoin(models.Model):
    """A member who joined one of the code's groups through its QR: one row per (code, group, member), so a replayed
    or duplicated callback counts nothing twice. left_at is set when the member quits."""

    code = models.ForeignKey(GroupCode, on_delete=models.CASCADE, related_name="joins")
    group = models.ForeignKey(CustomerGroup, on_delete=models.CASCADE, related_name="+")
    member_id = models.CharField(max_length=64)
    joined_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["code", "group", "member_id"], name="uniq_wecom_group_code_join")
        ]

    def __str__(self) -> str:
        return f"{self.code_id}:{self.group_id}:{self.member_id}"


class GroupCodeDay(models.Model):
    """Per-code counters by Shanghai day: landing-page scans, joins and quits."""

    code = models.ForeignKey(GroupCode, on_delete=models.CASCADE, related_name="days")
    day = models.DateField()
    scans = models.PositiveIntegerField(default=0)
    joins = models.PositiveIntegerField(default=0)
    quits = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["code", "day"], name="uniq_wecom_group_code_day")]

    def __str__(self) -> str:
        return f"{self.code_id}@{self.day}"


class GroupCodeScan(models.Model):
    """One visitor's first landing-page open of a code on a day (de-duplicates scans by its unique key)."""

    code = models.ForeignKey(GroupCode, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    visitor = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["code", "day", "visitor"], name="uniq_wecom_group_code_scan")
        ]

    def __str__(self) -> str:
        return f"{self.code_id}@{self.day}:{self.visitor}"


class GroupCodeNotice(models.Model):
    """A staff task: every group of the code is full, please create a group and add it to the code. At most one
    open notice per code (the partial unique key decides, not a check)."""

    code = models.ForeignKey(GroupCode, on_delete=models.CASCADE, related_name="notices")
    staff = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["code"], condition=models.Q(resolved_at__isnull=True), name="uniq_wecom_group_code_open_notice"
            )
        ]

    def __str__(self) -> str:
        return self.message


class GroupRoute(models.Model):
    """Which group code a customer is sent to, by tag or store (first matching row wins; a row with neither is the
    fallback). Owned by a channel code (auto-pull: its welcome message carries the group's link) or by a keyword
    group (the keyword's answer)."""

    channel_code = models.ForeignKey(ChannelCode, null=True, blank=True, on_delete=models.CASCADE,
                                     related_name="group_routes")
    keyword_group = models.ForeignKey("KeywordGroup", null=True, blank=True, on_delete=models.CASCADE,
                                      related_name="routes")
    tag = models.ForeignKey(Tag, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    store = models.ForeignKey(Store, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    group_code = models.ForeignKey(GroupCode, on_delete=models.CASCADE, related_name="+")
    sort = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(channel_code__isnull=False, keyword_group__isnull=True)
                | models.Q(channel_code__isnull=True, keyword_group__isnull=False),
                name="wecom_group_route_one_owner",
            )
        ]

    def __str__(self) -> str:
        return f"route {self.pk} -> {self.group_code_id}"


class KeywordGroup(models.Model):
    """关键词拉群: a keyword sent to the Official Account is answered with the invitation (the group code's landing
    link) of the group chosen by the sender's tags or store."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    oa_account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    keyword = models.CharField(_("keyword"), max_length=64)
    reply_text = models.CharField(max_length=500, blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["oa_account", "keyword"], name="uniq_wecom_keyword_group")]

    def __str__(self) -> str:
        return self.keyword


class GroupTransferStatus(models.TextChoices):
    SUBMITTING = "submitting", _("Submitting")
    DONE = "done", _("Done")


class GroupTransfer(models.Model):
    """Inheritance of a resigned owner's customer groups (groupchat/transfer) to another staff member."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    handover = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="+")
    takeover = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=12, choices=GroupTransferStatus.choices,
                              default=GroupTransferStatus.SUBMITTING)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"group transfer #{self.pk}"


class GroupTransferItemStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DONE = "done", _("Transferred")
    REFUSED = "refused", _("Refused")


class GroupTransferItem(models.Model):
    transfer = models.ForeignKey(GroupTransfer, on_delete=models.CASCADE, related_name="items")
    group = models.ForeignKey(CustomerGroup, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=GroupTransferItemStatus.choices,
                              default=GroupTransferItemStatus.PENDING)
    errcode = models.IntegerField(null=True, blank=True)
    reason = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["transfer", "group"], name="uniq_wecom_group_transfer_item")]

    def __str__(self) -> str:
        return f"{self.transfer_id}:{self.group_id} {self.status}"


# ---------------------------------------------------------------------------------------------------------------
# Group welcome templates (入群欢迎语素材)


class GroupWelcomeStatus(models.TextChoices):
    PENDING = "pending", _("Being pushed to WeCom")
    ACTIVE = "active", _("On WeCom")
    FAILED = "failed", _("Refused by WeCom")
    DELETED = "deleted", _("Deleted")


class GroupWelcome(models.Model):
    """A group welcome template (group_welcome_template): text and at most one attachment (image, link or
    mini-program card) that group owners apply in the WeCom client; WeCom sends it to whoever joins their group.
    `template_id` is recorded once the platform answers the add, so every later push is an edit of that template;
    `version` counts edits and `pushed_version` is the last one WeCom accepted."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=64)
    text = models.TextField(_("text"), blank=True)
    attachment = models.JSONField(default=dict, blank=True)
    notify = models.BooleanField(default=True)
    template_id = models.CharField(max_length=64, blank=True, db_index=True)
    status = models.CharField(max_length=10, choices=GroupWelcomeStatus.choices, default=GroupWelcomeStatus.PENDING)
    version = models.PositiveIntegerField(default=1)
    pushed_version = models.PositiveIntegerField(default=0)
    errcode = models.IntegerField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class GroupWelcomeBinding(models.Model):
    """Which template a group code's groups, or one group, greet joiners with: the owners are asked to apply it.
    A group's own binding wins over its code's."""

    welcome = models.ForeignKey(GroupWelcome, on_delete=models.CASCADE, related_name="bindings")
    group_code = models.OneToOneField(GroupCode, null=True, blank=True, on_delete=models.CASCADE,
                                      related_name="welcome_binding")
    group = models.OneToOneField(CustomerGroup, null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="welcome_binding")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(group_code__isnull=False, group__isnull=True)
                | models.Q(group_code__isnull=True, group__isnull=False),
                name="wecom_group_welcome_binding_one_target",
            )
        ]

    def __str__(self) -> str:
        return f"{self.welcome_id} -> {self.group_code_id or self.group_id}"


# ---------------------------------------------------------------------------------------------------------------
# Group tags: the operators' own labels for groups (快闪群, 门店群, 兴趣群...), separate from customer tags


class GroupTag(models.Model):
    """A label for customer groups. Not a customer tag: customer tags are mirrored to WeCom corp tags and feed
    segments, and WeCom has no tags for groups, so groups get a tag set of their own (Siyu-side only)."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["enterprise", "name"], name="uniq_wecom_group_tag_name")]

    def __str__(self) -> str:
        return self.name


class GroupTagging(models.Model):
    tag = models.ForeignKey(GroupTag, on_delete=models.CASCADE, related_name="taggings")
    group = models.ForeignKey(CustomerGroup, on_delete=models.CASCADE, related_name="taggings")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tag", "group"], name="uniq_wecom_group_tagging")]
        indexes = [models.Index(fields=["group", "tag"])]

    def __str__(self) -> str:
        return f"{self.group_id}:{self.tag_id}"


# ---------------------------------------------------------------------------------------------------------------
# Group SOP (社群SOP): scheduled group messages and owner reminders per group set


class SopRepeat(models.TextChoices):
    ONCE = "once", _("Once")
    DAILY = "daily", _("Every day")
    WEEKLY = "weekly", _("Every week")


class GroupSop(models.Model):
    """A schedule for a set of groups (a group tag's groups, or a group code's): at each occurrence (a Shanghai time
    of day, once, daily or on weekdays) the message goes to the set's groups as a group mass send (their owners
    confirm it in WeCom) and/or each owner gets a WeCom app reminder with the message to post."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(ChannelAccount, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=64)
    group_tag = models.ForeignKey(GroupTag, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    group_code = models.ForeignKey(GroupCode, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(blank=True)
    attachments = models.JSONField(default=list, blank=True)
    send_messages = models.BooleanField(default=True)
    remind_owners = models.BooleanField(default=True)
    repeat = models.CharField(max_length=8, choices=SopRepeat.choices, default=SopRepeat.ONCE)
    time_of_day = models.TimeField()  # Asia/Shanghai
    weekdays = models.JSONField(default=list, blank=True)  # ISO weekdays for weekly
    start_date = models.DateField()  # the day of a once rule; the first day otherwise (Shanghai)
    end_date = models.DateField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(group_tag__isnull=False, group_code__isnull=True)
                | models.Q(group_tag__isnull=True, group_code__isnull=False),
                name="wecom_group_sop_one_set",
            )
        ]

    def __str__(self) -> str:
        return self.name


class SopRunStatus(models.TextChoices):
    DONE = "done", _("Sent to the owners")
    EMPTY = "empty", _("No groups in the set")
    MISSED = "missed", _("Missed (the worker was down)")
    FAILED = "failed", _("Failed")


class GroupSopRun(models.Model):
    """One occurrence of a group SOP, made once (`key` = SOP + occurrence): the groups it went to, the mass sends
    that carry the message (per-group results are their recipients) and the owners reminded."""

    sop = models.ForeignKey(GroupSop, on_delete=models.CASCADE, related_name="runs")
    key = models.CharField(max_length=64, unique=True)
    occurrence = models.DateTimeField()
    status = models.CharField(max_length=8, choices=SopRunStatus.choices)
    group_ids = models.JSONField(default=list, blank=True)
    owner_ids = models.JSONField(default=list, blank=True)
    mass_sends = models.ManyToManyField(MassSend, blank=True, related_name="+")
    error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurrence", "-id"]

    def __str__(self) -> str:
        return self.key
