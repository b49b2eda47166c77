"""Content: the material library (素材), scripts (话术) and the log of their use.

HQ builds the library; every staff role of the enterprise reads it (stores use what HQ makes). Files live in Django's
default storage under generated names (`content/<enterprise>/<yyyy>/<mm>/<uuid>.<ext>`): the name a person uploaded
is kept only as a label, so it never reaches a path.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from siyu.catalog.models import Product
from siyu.org.models import Enterprise, Staff


class MaterialKind(models.TextChoices):
    TEXT = "text", _("Text")
    IMAGE = "image", _("Image")
    POSTER = "poster", _("Poster")
    VIDEO = "video", _("Video")
    LINK = "link", _("Link")
    MINIPROGRAM = "miniprogram", _("Mini-program card")
    FILE = "file", _("File")


class Stage(models.TextChoices):
    """The lifecycle stage a piece of content is written for (blank: any stage)."""

    ANY = "", _("Any stage")
    NEW = "new", _("New")
    ACTIVE = "active", _("Active")
    SILENT = "silent", _("Silent")
    AT_RISK = "at_risk", _("At risk")
    CHURNED = "churned", _("Churned")


class Scenario(models.TextChoices):
    GREETING = "greeting", _("Greeting")
    PRODUCT = "product", _("Product introduction")
    OBJECTION = "objection", _("Objection handling")
    AFTER_SALE = "after_sale", _("After-sale")
    REPURCHASE = "repurchase", _("Repurchase")
    EVENT = "event", _("Event invitation")
    OTHER = "other", _("Other")


class Folder(models.Model):
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["enterprise", "name"], name="uniq_content_folder_name")]
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Material(models.Model):
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    folder = models.ForeignKey(Folder, null=True, blank=True, on_delete=models.SET_NULL, related_name="materials")
    kind = models.CharField(_("kind"), max_length=16, choices=MaterialKind.choices)
    title = models.CharField(_("title"), max_length=120)
    text = models.TextField(_("text or description"), blank=True)
    # An uploaded file (image, poster, video, file; a link's or card's cover), checked by its content.
    file = models.CharField(max_length=255, blank=True, help_text="storage name")
    file_name = models.CharField(max_length=120, blank=True, help_text="the uploaded name, cleaned; a label only")
    content_type = models.CharField(max_length=100, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    thumbnail = models.CharField(max_length=255, blank=True, help_text="storage name")
    url = models.URLField(_("link"), max_length=500, blank=True)
    mp_appid = models.CharField(_("mini-program appid"), max_length=64, blank=True)
    mp_page = models.CharField(_("mini-program page"), max_length=255, blank=True)
    stage = models.CharField(_("lifecycle stage"), max_length=16, choices=Stage.choices, blank=True, default="")
    scenario = models.CharField(_("scenario"), max_length=16, choices=Scenario.choices, blank=True, default="")
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    archived = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["enterprise", "kind", "-id"])]
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.title


class Script(models.Model):
    """A reusable reply or selling script: structured steps (hook → value → proof → call to action) with variables
    such as {customer_name}; `body` is the steps' text joined, for search."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    title = models.CharField(_("title"), max_length=120)
    scenario = models.CharField(_("scenario"), max_length=16, choices=Scenario.choices, default=Scenario.OTHER)
    steps = models.JSONField(default=list)
    body = models.TextField(blank=True)
    fallbacks = models.JSONField(default=dict, blank=True, help_text="variable -> text used when it has no value")
    material = models.ForeignKey(Material, null=True, blank=True, on_delete=models.SET_NULL, related_name="scripts")
    stage = models.CharField(_("lifecycle stage"), max_length=16, choices=Stage.choices, blank=True, default="")
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    archived = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["enterprise", "scenario"])]
        ordering = ["scenario", "title", "id"]

    def __str__(self) -> str:
        return self.title


class UseKind(models.TextChoices):
    SENT = "sent", _("Sent")
    CLICKED = "clicked", _("Clicked")
    CONVERTED = "converted", _("Converted")


class ContentUse(models.Model):
    """One use of a material or script (sent from the sidebar, clicked, converted): the usage statistics are counts
    of these rows. `key` makes a repeat of the same use (a double tap, a retried request) count once."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    material = models.ForeignKey(Material, null=True, blank=True, on_delete=models.CASCADE, related_name="uses")
    script = models.ForeignKey(Script, null=True, blank=True, on_delete=models.CASCADE, related_name="uses")
    kind = models.CharField(max_length=16, choices=UseKind.choices, default=UseKind.SENT)
    staff = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    customer_id = models.BigIntegerField(null=True, blank=True)
    key = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["enterprise", "key"], name="uniq_content_use_key"),
            models.CheckConstraint(condition=Q(material__isnull=False) | Q(script__isnull=False),
                                   name="content_use_names_something"),
        ]
        indexes = [models.Index(fields=["material", "kind"]), models.Index(fields=["script", "kind"])]

    def __str__(self) -> str:
        return f"{self.kind}:{self.material_id or self.script_id}"


class PlanStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    UPLOADING = "uploading", _("Uploading its media")
    CREATED = "created", _("Handed to WeCom")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class MomentPlan(models.Model):
    """A moment post on the calendar: HQ-wide (every member publishes it) or for one store's staff. When it falls due
    the scheduler hands it to WeCom as a moment task (channels.wecom), exactly once (`moment_task` is set in the
    same transaction that creates the task); completion per staff is the task's."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    planned_at = models.DateTimeField(_("publish at"))
    text = models.TextField(_("text"))
    store = models.ForeignKey("org.Store", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=12, choices=PlanStatus.choices, default=PlanStatus.PLANNED)
    moment_task = models.OneToOneField("wecom.MomentTask", null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="+")
    error = models.CharField(max_length=255, blank=True)
    # Materials the post carries (ids, in order): ≤9 images/posters, or one video, or one link (WeCom's rule).
    attachments = models.JSONField(default=list, blank=True)
    # When due, each attachment is uploaded through WeCom's outbox first: [{"material_id", "call_id"}], then the
    # moment task is created with the media_ids.
    uploads = models.JSONField(default=list, blank=True)
    engagement_at = models.DateTimeField(null=True, blank=True, help_text="last read of posts, comments and likes")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["status", "planned_at"])]
        ordering = ["planned_at", "id"]

    def __str__(self) -> str:
        return f"{self.planned_at:%Y-%m-%d %H:%M} {self.text[:20]}"


class MomentPost(models.Model):
    """One member's copy of a calendar moment, as WeCom last reported it (posted or not yet)."""

    plan = models.ForeignKey(MomentPlan, on_delete=models.CASCADE, related_name="posts")
    userid = models.CharField(max_length=64)
    staff = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    published = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["plan", "userid"], name="uniq_content_moment_post")]

    def __str__(self) -> str:
        return f"{self.plan_id}:{self.userid}"


class ReactionKind(models.TextChoices):
    COMMENT = "comment", _("Comment")
    LIKE = "like", _("Like")


class MomentReaction(models.Model):
    """A comment or like WeCom reported on a member's copy of a calendar moment (by a customer: external_userid;
    by a colleague: by_userid). Unique per reaction, so reading the same list again adds nothing."""

    plan = models.ForeignKey(MomentPlan, on_delete=models.CASCADE, related_name="reactions")
    userid = models.CharField(max_length=64, help_text="the member whose post it is on")
    kind = models.CharField(max_length=8, choices=ReactionKind.choices)
    external_userid = models.CharField(max_length=64, blank=True)
    by_userid = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(
            fields=["plan", "userid", "kind", "external_userid", "by_userid", "created_at"],
            name="uniq_content_moment_reaction")]

    def __str__(self) -> str:
        return f"{self.kind} on {self.plan_id}:{self.userid}"


class SubmissionKind(models.TextChoices):
    REVIEW = "review", _("Review")
    PHOTO = "photo", _("Photo")
    STORY = "story", _("Story")


class SubmissionStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for review")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class Submission(models.Model):
    """A customer's own content (UGC) sent from the mall: reviewed by an operator; an approved one enters the library
    as a material and earns its submitter a reward once (`reward_key`, unique, handed to the reward hooks)."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=SubmissionKind.choices)
    text = models.TextField(blank=True)
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    file = models.CharField(max_length=255, blank=True)
    thumbnail = models.CharField(max_length=255, blank=True)
    file_name = models.CharField(max_length=120, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=SubmissionStatus.choices, default=SubmissionStatus.PENDING)
    reason = models.CharField(max_length=200, blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    material = models.OneToOneField(Material, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reward_key = models.CharField(max_length=64, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["enterprise", "reward_key"], name="uniq_ugc_reward_key")]
        indexes = [models.Index(fields=["enterprise", "status", "-id"])]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"


class PersonaType(models.TextChoices):
    EXPERT = "expert", _("Expert")
    SHOP_OWNER = "shop_owner", _("Shop owner")
    STYLIST = "stylist", _("Stylist")
    CONSULTANT = "consultant", _("Consultant")
    OTHER = "other", _("Other")


class StaffPersona(models.Model):
    """How a staff account presents itself to customers (a person, not a cold official account): nickname, avatar,
    signature and persona type. HQ audits the checklist (all four set) across stores."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    staff = models.OneToOneField(Staff, on_delete=models.CASCADE, related_name="+")
    nickname = models.CharField(_("nickname"), max_length=32, blank=True)
    avatar = models.CharField(max_length=255, blank=True, help_text="storage name of the avatar thumbnail")
    signature = models.CharField(_("signature"), max_length=60, blank=True)
    persona_type = models.CharField(_("persona type"), max_length=16, choices=PersonaType.choices, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.nickname or f"staff {self.staff_id}"
