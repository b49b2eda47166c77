"""Journeys (SOP automation): a journey, its immutable versions, the customers inside (enrollments), their durable
timers, the step log (one row per node a customer went through) and the staff tasks journeys create.

Uniqueness carries the correctness: an enrollment per (journey, entry key) (the re-entry rule's period), one active
enrollment per (journey, customer) unless the rule is `always`, one timer per (enrollment, node, attempt), one step per
(enrollment, node) (its key is also the idempotency key of the points, coupon or task the node grants).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from siyu.customers.models import Customer
from siyu.org.models import Enterprise, Staff, Store


class JourneyStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    LIVE = "live", _("Live")
    PAUSED = "paused", _("Paused")
    ARCHIVED = "archived", _("Archived")


class Journey(models.Model):
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("name"), max_length=64)
    status = models.CharField(_("status"), max_length=10, choices=JourneyStatus.choices, default=JourneyStatus.DRAFT)
    current_version = models.ForeignKey("JourneyVersion", null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["enterprise", "status"])]

    def __str__(self) -> str:
        return self.name


class JourneyVersion(models.Model):
    """One definition of a journey, never changed once written: editing makes the next version; customers inside
    finish on the version they entered. `entry_event` and `goal_event` are copied out of the definition for the
    scan's joins."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    entry_event = models.CharField(max_length=64, blank=True)
    entry_tag_id = models.BigIntegerField(null=True, blank=True)
    entry_segment_id = models.BigIntegerField(null=True, blank=True)
    goal_event = models.CharField(max_length=64, blank=True)
    reentry = models.CharField(max_length=16, default="not_while_inside")
    reentry_days = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["journey", "number"], name="uniq_journey_version")]

    def __str__(self) -> str:
        return f"{self.journey_id} v{self.number}"


class EnrollmentStatus(models.TextChoices):
    ACTIVE = "active", _("Inside")
    COMPLETED = "completed", _("Completed")
    GOAL = "goal", _("Reached the goal")
    EXITED = "exited", _("Exited")


class Enrollment(models.Model):
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+", db_index=False)
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="enrollments", db_index=False)
    version = models.ForeignKey(JourneyVersion, on_delete=models.CASCADE, related_name="enrollments")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    entry_key = models.CharField(max_length=64)
    exclusive = models.BooleanField(default=True, help_text="one active enrollment per customer (not `always`)")
    entry_event_id = models.BigIntegerField(null=True, blank=True)
    current_node = models.CharField(max_length=24, blank=True)
    waiting_event = models.CharField(max_length=64, blank=True)
    waiting_property = models.CharField(max_length=40, blank=True)
    waiting_value = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=EnrollmentStatus.choices, default=EnrollmentStatus.ACTIVE)
    entered_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["journey", "entry_key"], name="uniq_enrollment_entry"),
            models.UniqueConstraint(fields=["journey", "customer"], condition=Q(status="active", exclusive=True),
                                    name="uniq_enrollment_active"),
        ]
        indexes = [models.Index(fields=["journey", "status", "current_node"]),
                   models.Index(fields=["customer", "status"]),
                   models.Index(fields=["waiting_event", "status"])]

    def __str__(self) -> str:
        return f"{self.journey_id}:{self.customer_id}"


class TimerStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    CLAIMED = "claimed", _("Claimed")
    DONE = "done", _("Done")


class TimerKind(models.TextChoices):
    ENTRY = "entry", _("Entered")
    STEP = "step", _("Wait over")
    EVENT = "event", _("Event arrived")
    TIMEOUT = "timeout", _("Timed out")
    NEXT = "next", _("Next step")


class Timer(models.Model):
    """Durable work: run `node` of the enrollment at `due_at`. Claimed by a conditional UPDATE (several workers take
    disjoint timers); a claim older than the lease is taken back, so a worker killed mid-way loses nothing.
    `attempt` keeps the kinds apart: 0 a wait's end or a timeout, 1 an awaited event, 2 the entry, 3 `next` (the
    batch runner parked the enrollment before a per-customer action, to run it in its own transaction)."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="timers")
    node = models.CharField(max_length=24)
    attempt = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=8, choices=TimerKind.choices, default=TimerKind.STEP)
    due_at = models.DateTimeField()
    status = models.CharField(max_length=8, choices=TimerStatus.choices, default=TimerStatus.PENDING)
    claimed_by = models.CharField(max_length=64, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["enrollment", "node", "attempt"], name="uniq_journey_timer")]
        indexes = [models.Index(fields=["status", "due_at"])]

    def __str__(self) -> str:
        return f"{self.enrollment_id}:{self.node}#{self.attempt}"


class Step(models.Model):
    """A node a customer went through, with what happened (`outcome`: done, yes/no at a branch, event/timeout at a
    wait-for-event, skipped or failed with its `code`). `key` = `journey:<enrollment>:<node>`."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+", db_index=False)
    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="steps")
    journey_id_copy = models.BigIntegerField(db_index=False, help_text="the journey, for per-node counts")
    node = models.CharField(max_length=24)
    kind = models.CharField(max_length=12)
    outcome = models.CharField(max_length=12)
    code = models.CharField(max_length=64, blank=True)
    key = models.CharField(max_length=80)
    at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["enterprise", "key"], name="uniq_journey_step_key")]
        indexes = [models.Index(fields=["journey_id_copy", "node"])]

    def __str__(self) -> str:
        return self.key


class ScanCursor(models.Model):
    """How far the journey scan has read the event log (per enterprise); its row lock makes workers take turns."""

    enterprise = models.OneToOneField(Enterprise, on_delete=models.CASCADE, related_name="+")
    last_event_id = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.enterprise_id}@{self.last_event_id}"


class SegmentSnapshot(models.Model):
    """The members of a segment as a journey with a segment entry last saw them: who is new (or gone) is the set
    difference between the segment now and these rows."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="+", db_index=False)
    segment_id = models.BigIntegerField()
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["journey", "segment_id", "customer"],
                                               name="uniq_journey_segment_snapshot")]

    def __str__(self) -> str:
        return f"{self.journey_id}:{self.segment_id}:{self.customer_id}"


class TaskStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("task status", "Open")
    DONE = "done", _("Done")


class TaskKind(models.TextChoices):
    JOURNEY = "journey", _("Journey follow-up")
    SEND_MATERIAL = "send_material", _("Send material to customers")
    POST_MOMENT = "post_moment", _("Post a moment")
    INVITE_GROUP = "invite_group", _("Invite customers to a group")
    CALL = "call", _("Call customers")


class AssignmentTarget(models.TextChoices):
    REGION = "region", _("Regions")
    STORE = "store", _("Stores")
    STAFF = "staff", _("Staff")


class TaskAssignment(models.Model):
    """HQ's instruction to regions, stores or staff, with a deadline: fanned out into one StaffTask per active staff
    member it reaches (key `assign:<assignment>:<staff>`). A `send_material` assignment with a WeCom account and a tag
    also submits one mass send with those staff as senders (their own customers carrying the tag); each staff
    member's confirmation in the WeCom client marks their task done."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(_("kind"), max_length=16, choices=TaskKind.choices)
    title = models.CharField(_("title"), max_length=120)
    instructions = models.TextField(_("instructions"), max_length=2000, blank=True)
    target = models.CharField(_("assigned to"), max_length=8, choices=AssignmentTarget.choices)
    target_ids = models.JSONField(default=list)
    tag_id = models.BigIntegerField(null=True, blank=True, help_text="the customers: the staff's own with this tag")
    account_id = models.BigIntegerField(null=True, blank=True, help_text="the WeCom account of the mass send")
    mass_send_id = models.BigIntegerField(null=True, blank=True)
    due_at = models.DateTimeField(_("deadline"))
    task_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["enterprise", "-created_at"])]

    def __str__(self) -> str:
        return self.title


class StaffTask(models.Model):
    """Work for a staff member: about one customer (a journey action creates one for the customer's owning staff) or
    HQ's assignment (no customer). A task linked to a mass send (`mass_send_id`) is done when the staff member
    confirms that send in WeCom."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+", db_index=False)
    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="+")
    store = models.ForeignKey(Store, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    assignment = models.ForeignKey(TaskAssignment, null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="tasks")
    kind = models.CharField(_("kind"), max_length=16, choices=TaskKind.choices, default=TaskKind.JOURNEY)
    title = models.CharField(_("title"), max_length=120)
    key = models.CharField(max_length=80)
    status = models.CharField(max_length=6, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    due_at = models.DateTimeField()
    created_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(_("note"), max_length=500, blank=True)
    mass_send_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["enterprise", "key"], name="uniq_staff_task_key")]
        indexes = [models.Index(fields=["staff", "status"]), models.Index(fields=["store", "status"]),
                   models.Index(fields=["status", "mass_send_id"])]

    def __str__(self) -> str:
        return self.title


class TaskReminder(models.Model):
    """A reminder sent to a task's staff member, at most one per task per Shanghai day (the unique key); the WeCom
    app message that carries it is keyed by the reminders it announces."""

    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="+", db_index=False)
    task = models.ForeignKey(StaffTask, on_delete=models.CASCADE, related_name="reminders")
    day = models.DateField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "day"], name="uniq_task_reminder_day")]

    def __str__(self) -> str:
        return f"{self.task_id}@{self.day}"
