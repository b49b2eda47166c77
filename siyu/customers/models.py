from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from siyu.org.models import Enterprise, Staff, Store


class Gender(models.TextChoices):
    UNKNOWN = "unknown", _("Unknown")
    MALE = "male", _("Male")
    FEMALE = "female", _("Female")


class Channel(models.TextChoices):
    WECOM = "wecom", _("WeCom")
    OFFICIAL_ACCOUNT = "official_account", _("Official Account")
    MINIPROGRAM = "miniprogram", _("Mini-program")
    SMS = "sms", _("SMS")
    STORE = "store", _("Store")
    PLATFORM = "platform", _("Public platform")
    API = "api", _("API")
    IMPORT = "import", _("Import")


class Customer(models.Model):
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="customers")
    name = models.CharField(_("name"), max_length=64, blank=True)
    gender = models.CharField(_("gender"), max_length=10, choices=Gender.choices, default=Gender.UNKNOWN)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True, db_index=True)
    region = models.CharField(_("region"), max_length=64, blank=True, help_text="province / city")
    created_source = models.CharField(_("source"), max_length=20, choices=Channel.choices, default=Channel.API)
    home_store = models.ForeignKey(Store, null=True, blank=True, on_delete=models.SET_NULL, related_name="customers")
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    erased_at = models.DateTimeField(_("erased at"), null=True, blank=True, help_text="personal data erased (PIPL)")

    class Meta:
        indexes = [models.Index(fields=["enterprise", "created_at"])]

    def __str__(self) -> str:
        return self.name or f"#{self.pk}"


class IdentityKind(models.TextChoices):
    UNIONID = "unionid", _("WeChat unionid")
    WECOM_EXTERNAL_USERID = "wecom_external_userid", _("WeCom external_userid")
    OA_OPENID = "oa_openid", _("Official Account openid")
    MINIPROGRAM_OPENID = "mp_openid", _("Mini-program openid")
    PHONE = "phone", _("Phone")
    PLATFORM_BUYER_ID = "platform_buyer_id", _("Platform buyer id")
    MEMBER_CARD = "member_card", _("Member card number")


class Identity(models.Model):
    """One way of recognising a customer. Unique per enterprise: the same phone or unionid may be a customer of two
    brands, and a lookup in one brand never sees the other's. `enterprise` is the customer's, kept on the row so the
    unique index answers every lookup; a merge moves identities only within one enterprise."""

    # No single-column index on enterprise: it leads the unique (enterprise, kind, value) index.
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+", db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=32, choices=IdentityKind.choices)
    value = models.CharField(max_length=128)
    account = models.CharField(max_length=64, blank=True, help_text="corp id / appid / platform the value belongs to")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "kind", "value"], name="uniq_identity_enterprise_kind_value")
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class RelationshipStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    DELETED_BY_CUSTOMER = "deleted_by_customer", _("Deleted by customer")
    DELETED_BY_STAFF = "deleted_by_staff", _("Deleted by staff")
    TRANSFERRED = "transferred", _("Transferred")


class Relationship(models.Model):
    """A staff member following a customer (跟进人), and where the customer came from."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="relationships")
    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="relationships")
    added_at = models.DateTimeField()
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.WECOM)
    state = models.CharField(_("source state"), max_length=64, blank=True, help_text="channel code state")
    remark = models.CharField(max_length=120, blank=True)
    status = models.CharField(max_length=24, choices=RelationshipStatus.choices, default=RelationshipStatus.ACTIVE)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    previous_staff = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "staff"], name="uniq_relationship")]
        indexes = [models.Index(fields=["staff", "status"]), models.Index(fields=["state"])]

    def __str__(self) -> str:
        return f"{self.staff_id}→{self.customer_id}"


class TagKind(models.TextChoices):
    MANUAL = "manual", _("Manual")
    RULE = "rule", _("Rule")
    EVENT = "event", _("Event")


class TagGroup(models.Model):
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="tag_groups")
    name = models.CharField(_("name"), max_length=64)
    exclusive = models.BooleanField(_("mutually exclusive"), default=False)
    sort = models.IntegerField(default=0)
    wecom_group_id = models.CharField(max_length=64, blank=True)
    # Bumped by each rename: apps mirroring the name elsewhere key their pushes by it (never by the clock).
    version = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["enterprise", "name"], name="uniq_tag_group_name")]
        ordering = ["sort", "id"]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    group = models.ForeignKey(TagGroup, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(_("name"), max_length=64)
    kind = models.CharField(max_length=10, choices=TagKind.choices, default=TagKind.MANUAL)
    rule = models.JSONField(default=dict, blank=True)
    sort = models.IntegerField(default=0)
    wecom_tag_id = models.CharField(max_length=64, blank=True)
    # Bumped by each rename (see TagGroup.version).
    version = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "name"], name="uniq_tag_name")]
        ordering = ["sort", "id"]

    def __str__(self) -> str:
        return self.name


class CustomerTag(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="customer_tags")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="customer_tags")
    source = models.CharField(max_length=20, choices=TagKind.choices, default=TagKind.MANUAL)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "tag"], name="uniq_customer_tag")]
        indexes = [models.Index(fields=["tag", "customer"])]

    def __str__(self) -> str:
        return f"{self.customer_id}:{self.tag_id}"


class Event(models.Model):
    """The append-only event log: everything that happens to a customer is one row here."""

    # No single-column indexes on these two: the log is the biggest table and every index is paid on each insert.
    # customer is the prefix of (customer, occurred_at); enterprise is the same value on almost every row (a brand
    # per install), so an index on it selects nothing. Queries go through the two composite indexes below.
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+", db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="events", db_index=False)
    name = models.CharField(max_length=64)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    channel = models.CharField(max_length=20, choices=Channel.choices, blank=True)
    # Most events carry no store or staff (about 80% in the demo generator's mix): partial indexes below hold only
    # the rows that do, which is what the ON DELETE SET NULL lookups and "events at this store" need.
    store = models.ForeignKey(Store, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                              db_index=False)
    staff = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                              db_index=False)
    campaign = models.CharField(max_length=64, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=128)

    class Meta:
        # Keys are per enterprise: one brand's key never collides with, nor reveals, another's.
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "idempotency_key"], name="uniq_event_enterprise_key")
        ]
        indexes = [
            models.Index(fields=["customer", "occurred_at"]),
            models.Index(fields=["name", "occurred_at"]),
            models.Index(fields=["store"], condition=models.Q(store__isnull=False), name="event_store_partial"),
            models.Index(fields=["staff"], condition=models.Q(staff__isnull=False), name="event_staff_partial"),
        ]

    def __str__(self) -> str:
        return f"{self.name}@{self.occurred_at:%Y-%m-%d}"


class CustomerMerge(models.Model):
    """The audit row of a merge: what the absorbed customer was, and what moved."""

    survivor = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="merges")
    absorbed_id = models.BigIntegerField()
    absorbed_snapshot = models.JSONField(default=dict)
    moved = models.JSONField(default=dict)
    reason = models.CharField(max_length=64)
    # Set when HQ forced a merge of customers carrying conflicting strong identities: why they are one person.
    force_reason = models.CharField(max_length=255, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"merge {self.absorbed_id}→{self.survivor_id}"


class MemberImportStatus(models.TextChoices):
    UPLOADED = "uploaded", _("Uploaded")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class MemberImport(models.Model):
    """One uploaded member sheet (Excel or CSV) from a brand's previous SCRM or POS member system.

    The file itself is kept on disk (`path`, under MEDIA_ROOT), never in the database: a million-row sheet is
    streamed from there by the dry run and by the job. `checkpoint_row` is the last sheet row whose batch is
    committed; a restarted job skips to it, so a crash never imports a row twice. `file_hash` makes a re-upload
    of the same file return the first import instead of starting another."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    filename = models.CharField(max_length=200, blank=True)
    path = models.CharField(max_length=500)
    file_format = models.CharField(max_length=8, help_text="csv / xlsx")
    encoding = models.CharField(max_length=16, blank=True)
    file_hash = models.CharField(max_length=64)
    header = models.JSONField(default=list)
    mapping = models.JSONField(default=dict, help_text="field -> column header")
    status = models.CharField(max_length=10, choices=MemberImportStatus.choices,
                              default=MemberImportStatus.UPLOADED)
    total_rows = models.PositiveIntegerField(default=0)
    valid_rows = models.PositiveIntegerField(default=0)
    checkpoint_row = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_customers = models.PositiveIntegerField(default=0)
    merged_customers = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    error_message = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "file_hash"], name="uniq_member_import_file"),
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"member import {self.pk}"


class MemberImportError(models.Model):
    """A sheet row the import refused, with the column and the reason: the validation report."""

    member_import = models.ForeignKey(MemberImport, on_delete=models.CASCADE, related_name="row_errors")
    row_number = models.PositiveIntegerField()
    field = models.CharField(max_length=32, blank=True)
    value = models.CharField(max_length=128, blank=True)
    code = models.CharField(max_length=32)
    message = models.CharField(max_length=255)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["member_import", "row_number", "field"], name="uniq_member_import_error"),
        ]
        ordering = ["member_import_id", "row_number"]

    def __str__(self) -> str:
        return f"{self.member_import_id}:{self.row_number} {self.code}"


class ImportedMemberProfile(models.Model):
    """What a previous member system knew that Siyu has no ledger for yet: the points balance and tier (kept as
    imported attributes until the loyalty app exists and opens its ledger from them), lifetime spend and the first
    and last purchase dates (so RFM has a history before any order is imported)."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="imported_profile")
    points_balance = models.BigIntegerField(null=True, blank=True)
    tier = models.CharField(max_length=32, blank=True)
    lifetime_spend_fen = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, default=settings.SIYU_CURRENCY)
    first_purchase_on = models.DateField(null=True, blank=True)
    last_purchase_on = models.DateField(null=True, blank=True)
    store_code = models.CharField(max_length=64, blank=True)
    member_import = models.ForeignKey(MemberImport, null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="+")
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"imported profile of {self.customer_id}"


class MarketingChannel(models.TextChoices):
    """The channels a customer can consent to (or refuse) being marketed on."""

    WECOM = "wecom", _("WeCom (staff and groups)")
    OFFICIAL_ACCOUNT = "official_account", _("Official Account messages")
    SMS = "sms", _("SMS")
    MINI_PROGRAM = "mini_program", _("Mini-program subscribe messages")


class ConsentMethod(models.TextChoices):
    """How a consent record came to be."""

    STOREFRONT = "storefront", _("Storefront form")
    SMS_REPLY = "sms_reply", _("SMS reply")
    PAPER = "paper", _("Paper form in store")
    IMPORT = "import", _("Member import")
    OPERATOR = "operator", _("Recorded by an operator")
    API = "api", _("API")
    ERASURE = "erasure", _("Personal data erased")


class Consent(models.Model):
    """One consent record: a customer granted or withdrew marketing on one channel, when, how and under what text.

    Append-only: the state on a channel is the latest record (by recorded_at, then id); the history is the evidence a
    regulator asks for. Channels without any record follow consent.DEFAULTS.
    """

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+", db_index=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(max_length=20, choices=MarketingChannel.choices)
    granted = models.BooleanField()
    method = models.CharField(max_length=16, choices=ConsentMethod.choices)
    text = models.CharField(max_length=500, blank=True, help_text="the wording the customer saw, or the reason")
    text_version = models.CharField(max_length=32, blank=True)
    evidence = models.JSONField(default=dict, blank=True, help_text="where it was given: ip, user agent, message id")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    recorded_at = models.DateTimeField()
    idempotency_key = models.CharField(max_length=128, blank=True)

    class Meta:
        indexes = [models.Index(fields=["customer", "channel", "-recorded_at"], name="consent_latest")]
        constraints = [
            models.UniqueConstraint(
                fields=["enterprise", "idempotency_key"], condition=~models.Q(idempotency_key=""),
                name="uniq_consent_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}:{self.channel}:{'granted' if self.granted else 'withdrawn'}"


class Erasure(models.Model):
    """A customer's personal data erased at their request: who did it, why, and what each app anonymised."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="erasure")
    reason = models.CharField(max_length=255)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    counts = models.JSONField(default=dict, blank=True)
    erased_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"erasure of {self.customer_id}"
