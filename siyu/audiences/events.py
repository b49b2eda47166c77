"""Event types the audiences write to the customer's log (registered on app start).

Keys: `segment_entered:<membership id>`, `segment_left:<membership id>`, `lifecycle_changed:<run id>:<customer>`
(or `lifecycle_changed:live:<customer>:<stage>:<minute>` for changes between runs), `tag_rule:<rule>:<customer>:...`.
"""

from __future__ import annotations

from pydantic import Field

from siyu.customers.events import EventProperties, register


class SegmentChanged(EventProperties):
    segment_id: int = Field(ge=1)
    segment: str = Field(default="", max_length=80)


class LifecycleChanged(EventProperties):
    from_stage: str = Field(default="", max_length=12)
    to_stage: str = Field(max_length=12)


class OptChanged(EventProperties):
    channel: str = Field(default="", max_length=20)
    reason: str = Field(default="", max_length=120)


register("segment_entered", SegmentChanged)
register("segment_left", SegmentChanged)
register("lifecycle_changed", LifecycleChanged)
register("opted_out", OptChanged)
register("opted_in", OptChanged)
