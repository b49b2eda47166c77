from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Enterprise(models.Model):
    name = models.CharField(_("name"), max_length=120)
    code = models.SlugField(max_length=64, unique=True)
    wecom_corp_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Region(models.Model):
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="regions")
    name = models.CharField(_("name"), max_length=120)
    code = models.SlugField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["enterprise", "code"], name="uniq_region_code")]
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class OpeningState(models.TextChoices):
    PREPARING = "preparing", _("Preparing to open")
    OPEN = "open", _("Open")
    SUSPENDED = "suspended", _("Temporarily closed")
    CLOSED = "closed", _("Closed for good")


class Store(models.Model):
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="stores")
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="stores")
    name = models.CharField(_("name"), max_length=120)
    code = models.SlugField(max_length=64)
    city = models.CharField(_("city"), max_length=64, blank=True)
    address = models.CharField(_("address"), max_length=255, blank=True)
    # is_active follows opening_state (False only when closed for good): the older reads keep working.
    is_active = models.BooleanField(default=True)
    opening_state = models.CharField(
        _("opening state"), max_length=16, choices=OpeningState.choices, default=OpeningState.OPEN
    )
    opened_on = models.DateField(_("opened on"), null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["enterprise", "code"], name="uniq_store_code")]
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    HQ_ADMIN = "hq_admin", _("HQ admin")
    REGION_MANAGER = "region_manager", _("Region manager")
    STORE_MANAGER = "store_manager", _("Store manager")
    STORE_STAFF = "store_staff", _("Store staff")


class Staff(models.Model):
    """A member of the brand's staff; usually also a WeCom member (wecom_userid)."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="staff")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="staff"
    )
    name = models.CharField(_("name"), max_length=64)
    wecom_userid = models.CharField(_("WeCom userid"), max_length=64, blank=True)
    mobile = models.CharField(_("mobile"), max_length=20, blank=True)
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.STORE_STAFF)
    region = models.ForeignKey(Region, null=True, blank=True, on_delete=models.PROTECT, related_name="staff")
    store = models.ForeignKey(Store, null=True, blank=True, on_delete=models.PROTECT, related_name="staff")
    is_active = models.BooleanField(default=True)
    left_at = models.DateTimeField(null=True, blank=True)
    # The WeCom department the last directory sync saw the member in (main department); a change re-applies the
    # department's mapping to the member, an unchanged one keeps what HQ set by hand.
    wecom_department_id = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["enterprise", "wecom_userid"],
                condition=~models.Q(wecom_userid=""),
                name="uniq_staff_wecom_userid",
            )
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class DepartmentLink(models.Model):
    """A WeCom department of one corp account and where its members belong in the organisation.

    Kept across syncs: the operator maps a department once, and every later sync places the department's new members
    (and members who move into it) in that store or region. A department mapped to neither inherits its nearest
    mapped ancestor's place."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="department_links")
    account_id = models.PositiveBigIntegerField()  # the WeCom ChannelAccount (channels imports org, not the reverse)
    department_id = models.PositiveBigIntegerField()
    parent_id = models.PositiveBigIntegerField(default=0)
    name = models.CharField(_("name"), max_length=255)
    region = models.ForeignKey(Region, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    store = models.ForeignKey(Store, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    member_count = models.PositiveIntegerField(default=0)
    seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "account_id", "department_id"], name="uniq_department_link"),
            models.CheckConstraint(
                condition=models.Q(region__isnull=True) | models.Q(store__isnull=True), name="department_one_place"
            ),
        ]
        ordering = ["account_id", "parent_id", "department_id"]

    def __str__(self) -> str:
        return self.name


class ApiToken(models.Model):
    """A token for integrations; it acts with its staff member's scope. Only the SHA-256 of the secret is stored."""

    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=120)
    prefix = models.CharField(max_length=12, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class LoginFailure(models.Model):
    """One failed sign-in (console or admin), counted per username and per client address to rate-limit guessing.

    Kept in the database so that every web process counts the same failures; rows older than the window no longer
    count and are deleted by the periodic job `org.purge_login_failures`."""

    username = models.CharField(max_length=150)  # as typed, case-folded and stripped: it may name nobody
    ip = models.GenericIPAddressField()
    at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["username", "at"], name="org_loginfail_user_at"),
            models.Index(fields=["ip", "at"], name="org_loginfail_ip_at"),
            models.Index(fields=["at"], name="org_loginfail_at"),
        ]

    def __str__(self) -> str:
        return f"{self.username} from {self.ip} at {self.at:%Y-%m-%d %H:%M:%S}"


class OrgSheet(models.Model):
    """An uploaded organisation sheet (regions, stores, staff): previewed with a per-row report, then applied.

    The bytes are kept so that what is applied is exactly what was previewed; applying twice changes nothing the
    second time (rows match by region/store code and WeCom userid)."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="org_sheets")
    filename = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    content = models.BinaryField()
    report = models.JSONField(default=dict)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    applied = models.JSONField(default=dict)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.filename
