"""Set-based generation of customers, identities, relationships, tags and events as numpy columns.

Everything is a pure function of the seed: per-customer attributes are drawn once for the whole population (a few
arrays), and the per-row work (names, identity strings, events) is drawn per fixed-size customer chunk from a
generator seeded by (seed, purpose, chunk), so a chunk's rows do not depend on how many chunks run or in what order.
Times are UTC epoch seconds; "days" are Asia/Shanghai calendar days of the 365 days before `until`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from siyu.core.timeutil import SHANGHAI
from siyu.seed import vocab
from siyu.seed.columns import NULL, Batch, Codes, Const, Days, IntArray, Ints, Keys, Stamps, Texts
from siyu.seed.org import OrgPlan

CUSTOMER_CHUNK = 50_000  # customers per generation chunk; fixed so that output does not depend on sizes
DAYS = 365
DAY = 86_400

SOURCES = ["wecom", "official_account", "miniprogram", "store"]
SOURCE_WEIGHTS = [0.62, 0.16, 0.14, 0.08]
GENDERS = ["unknown", "male", "female"]
RELATIONSHIP_STATUSES = ["active", "deleted_by_customer"]
REMARKS = ["", "", "", "", "", "老客户", "VIP", "宝妈", "敏感肌", "学生党", "上班族"]
PHONE_PREFIXES = [
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152", "153", "155", "156",
    "157", "158", "159", "166", "173", "175", "176", "177", "178", "180", "181", "182", "183", "184", "185", "186",
    "187", "188", "189", "191", "198", "199",
]
PHONE_SLOTS = 8  # up to 8 seeded enterprises in one database get disjoint phone sets (one slot each)
_PHONE_MULT = 61_803_399  # coprime with 10**8: suffixes are a bijection of the sequence number
_PHONE_ADD = 27_182_818
IDENTITY_KINDS = ["unionid", "wecom_external_userid", "oa_openid", "mp_openid", "phone"]
CHANNELS = ["", "wecom", "official_account", "miniprogram", "store"]
TAG_SOURCES = ["manual", "rule", "event"]
WEEKDAY_WEIGHT = [0.92, 0.9, 0.94, 0.98, 1.08, 1.32, 1.26]  # Monday .. Sunday
HOUR_WEIGHT = [
    0.6, 0.3, 0.15, 0.1, 0.1, 0.15, 0.4, 1.0, 1.8, 2.2, 2.4, 2.8, 3.4, 3.0, 2.4, 2.2, 2.3, 2.5, 2.8, 3.4, 4.2, 4.6, 4.0,
    2.2,
]


def _mix64(values: npt.NDArray[np.uint64], salt: int) -> npt.NDArray[np.uint64]:
    """splitmix64: a well-spread 64-bit hash of each value, for identifiers that look random but never repeat."""
    with np.errstate(over="ignore"):
        z = values + np.uint64((salt * 0x9E3779B97F4A7C15) % 2**64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


# ---------------------------------------------------------------------------------------------------------------
# Calendar


@dataclass(frozen=True)
class Calendar:
    """365 Shanghai days ending the day before `until`, weighted by weekday, shopping festivals and growth."""

    first_day: date
    start: int  # UTC epoch of local midnight of day 0
    cdf: npt.NDArray[np.float64]  # len DAYS + 1, activity weight
    growth_cdf: npt.NDArray[np.float64]  # new customers: activity weight times a growth trend
    campaign: IntArray  # per day: index into campaign_labels
    campaign_labels: list[str]
    hour_p: npt.NDArray[np.float64]

    @property
    def end(self) -> int:
        return self.start + DAYS * DAY

    @classmethod
    def ending(cls, until: date) -> Calendar:
        first = until - timedelta(days=DAYS)
        labels = ["", *(code for _m, _a, _b, code in vocab.CAMPAIGN_WINDOWS)]
        weight = np.empty(DAYS)
        campaign = np.zeros(DAYS, dtype=np.int64)
        for d in range(DAYS):
            day = first + timedelta(days=d)
            w = WEEKDAY_WEIGHT[day.weekday()]
            for k, (month, lo, hi, _code) in enumerate(vocab.CAMPAIGN_WINDOWS, start=1):
                if day.month == month and lo <= day.day <= hi:
                    w *= 3.0 if day.day == hi else 1.6
                    campaign[d] = k
            weight[d] = w
        growth = weight * np.linspace(0.55, 1.45, DAYS)
        start = int(datetime.combine(first, time.min, tzinfo=SHANGHAI).timestamp())
        hours = np.asarray(HOUR_WEIGHT)
        return cls(first, start, _cdf(weight), _cdf(growth), campaign, labels, hours / hours.sum())

    def days_between(self, rng: np.random.Generator, lo: IntArray, hi: IntArray, *, growth: bool = False) -> IntArray:
        """A day in [lo, hi] for each pair, drawn by the calendar's weights (inverse CDF, all at once)."""
        cdf = self.growth_cdf if growth else self.cdf
        u = cdf[lo] + rng.random(len(lo)) * (cdf[hi + 1] - cdf[lo])
        day = np.searchsorted(cdf, u, side="right") - 1
        return np.clip(day, lo, hi).astype(np.int64)

    def moments(self, rng: np.random.Generator, days: IntArray) -> IntArray:
        """An instant on each local day, at an hour drawn from the daily profile."""
        hours = rng.choice(24, size=len(days), p=self.hour_p)
        return self.start + days * DAY + hours * 3600 + rng.integers(0, 3600, len(days))

    def day_of(self, moments: IntArray) -> IntArray:
        return np.clip((moments - self.start) // DAY, 0, DAYS - 1)


def _cdf(weight: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.concatenate([[0.0], np.cumsum(weight / weight.sum())])


# ---------------------------------------------------------------------------------------------------------------
# Event vocabulary: every property payload is one of a few hundred JSON texts, built once.


def _props(values: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(v) for v in values]  # as Django's JSONField writes it (ensure_ascii, default separators)


@dataclass(frozen=True)
class EventVocabulary:
    names: list[str]
    channel: IntArray  # per type: index into CHANNELS (customer_created uses the customer's source)
    behaviour: IntArray  # the behavioural types
    behaviour_p: npt.NDArray[np.float64]
    offset: IntArray  # per type: first payload in `properties`
    size: IntArray  # per type: payload count
    properties: list[str]
    states: list[str]

    def code(self, name: str) -> int:
        return self.names.index(name)

    @classmethod
    def build(cls, org: OrgPlan, product_ids: Sequence[int] = ()) -> EventVocabulary:
        """`product_ids`: the enterprise's catalog, which product views point at (without one, synthetic ids)."""
        products = list(product_ids) or list(range(1, vocab.PRODUCT_COUNT + 1))
        states = ["", *(f"store_qr_{c}" for c in org.store_codes), *(s for s, _t in vocab.CAMPAIGN_STATES)]
        chats = [f"wr{c.replace('-', '')}{k:02d}" for c in org.store_codes for k in range(3)]
        payloads: list[tuple[str, str, list[dict[str, Any]], float]] = [
            ("customer_created", "", [{}], 0),
            ("wecom_contact_added", "wecom",
             [{"state": s, "welcome_sent": w} for s in states for w in (False, True)], 0),
            ("oa_followed", "official_account", [{"scene": s} for s in vocab.OA_SCENES], 0),
            ("wecom_contact_deleted", "wecom", [{"by": "customer"}], 0),
            ("page_viewed", "miniprogram", [{"path": p, "title": t} for p, t in vocab.PAGES], 30),
            ("product_viewed", "miniprogram",
             [{"product_id": i, "sku_id": None} for i in products], 22),
            ("message_received", "wecom", [{"kind": "text", "text": t} for t in vocab.MESSAGES_FROM_CUSTOMER], 12),
            ("message_sent", "wecom", [{"kind": "text", "text": t} for t in vocab.MESSAGES_FROM_STAFF], 12),
            ("check_in", "miniprogram", [{"streak": s} for s in range(1, 31)], 8),
            ("group_joined", "wecom", [{"chat_id": c} for c in chats], 4),
            ("group_left", "wecom", [{"chat_id": c} for c in chats], 1),
            ("oa_scanned", "official_account", [{"scene": s} for s in vocab.OA_SCENES], 3),
        ]
        names = [p[0] for p in payloads]
        sizes = np.asarray([len(p[2]) for p in payloads], dtype=np.int64)
        weights = np.asarray([p[3] for p in payloads], dtype=np.float64)
        behaviour = np.flatnonzero(weights > 0)
        return cls(
            names=names,
            channel=np.asarray([CHANNELS.index(p[1]) for p in payloads], dtype=np.int64),
            behaviour=behaviour.astype(np.int64),
            behaviour_p=weights[behaviour] / weights[behaviour].sum(),
            offset=np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64),
            size=sizes,
            properties=[text for p in payloads for text in _props(p[2])],
            states=states,
        )


# ---------------------------------------------------------------------------------------------------------------
# The population, one chunk of customers at a time.


@dataclass(frozen=True)
class Plan:
    """How a run of `size` customers and `events` events splits into fixed-size customer chunks.

    Nothing here grows with the size: a chunk's customers are drawn from a generator seeded by (seed, chunk) and its
    share of the events is an integer split fixed by its bounds, so a chunk can be drawn again (once per table
    written) and memory stays that of one chunk whatever the run's size."""

    size: int
    events: int
    seed: int
    first_id: int
    phone_slot: int = 0

    def chunks(self) -> list[tuple[int, int, int]]:
        starts = range(0, self.size, CUSTOMER_CHUNK)
        return [(i, lo, min(lo + CUSTOMER_CHUNK, self.size)) for i, lo in enumerate(starts)]

    def events_before(self, lo: int) -> int:
        """Events of the customers before `lo` (each chunk's share is proportional to its customers)."""
        return self.events * lo // self.size

    def phone_stride(self) -> int:
        """A multiplier coprime with the size: i -> (i * stride + offset) mod size shuffles phone numbers over the
        customers without a permutation array."""
        for candidate in (1_000_003, 998_244_353, 1_000_000_007, 2_147_483_647):
            if np.gcd(candidate, self.size) == 1:
                return candidate % max(self.size, 1) or 1
        return 1  # unreachable: the last candidate is prime and larger than any size asked for

    def population(self, org: OrgPlan, cal: Calendar, chunk: int, lo: int, hi: int) -> Population:
        return draw_chunk(self, org, cal, chunk, lo, hi)


@dataclass
class Population:
    """The customers [lo, hi) of a run: one draw of every per-customer attribute, arrays indexed from 0."""

    lo: int
    size: int
    first_id: int  # the run's first customer id: customer lo + i has id first_id + lo + i
    store: IntArray
    source: IntArray
    created: IntArray
    created_day: IntArray
    gender: IntArray
    birthday: IntArray
    phone_seq: IntArray  # NULL: no phone
    region: IntArray  # index into org.store_places
    rel_staff: IntArray  # NULL: no WeCom relationship
    rel_added: IntArray
    rel_state: IntArray
    rel_welcome: npt.NDArray[np.bool_]
    rel_remark: IntArray
    rel_deleted: IntArray  # NULL: still active
    rel2_staff: IntArray  # the store manager as a second follower, or NULL
    rel2_added: IntArray
    follow: IntArray  # OA follow instant, or NULL
    follow_scene: IntArray
    unionid: npt.NDArray[np.bool_]
    mp: npt.NDArray[np.bool_]
    level: IntArray
    lifecycle: IntArray
    origin: IntArray  # index into the 来源渠道 tags
    interests: IntArray  # how many 兴趣偏好 tags (0-3)
    events: IntArray  # events per customer (sums to the chunk's share of the requested total)
    structural: IntArray  # lifecycle events per customer (created, added, followed, deleted)

    @property
    def ids(self) -> IntArray:
        return self.first_id + self.lo + np.arange(self.size, dtype=np.int64)

    def identity_count(self) -> int:
        return int(self.unionid.sum() + (self.rel_staff != NULL).sum() + (self.follow != NULL).sum() + self.mp.sum()
                   + (self.phone_seq != NULL).sum())

    def relationship_count(self) -> int:
        return int((self.rel_staff != NULL).sum() + (self.rel2_staff != NULL).sum())

    def tag_count(self) -> int:
        return 3 * self.size + int(self.interests.sum())


def _later(rng: np.random.Generator, cal: Calendar, after: IntArray, latest: int) -> IntArray:
    """An instant at least ten minutes after each of `after`, no later than `latest` (callers leave room)."""
    days = cal.days_between(rng, cal.day_of(after), np.full(len(after), DAYS - 1))
    return np.minimum(np.maximum(cal.moments(rng, days), after + 600), latest)


def _pick_staff(rng: np.random.Generator, org: OrgPlan, store: IntArray) -> IntArray:
    """A follower from the customer's home store: a store staff member mostly, the manager sometimes."""
    count = org.store_staff_count[store]
    member = 1 + (rng.random(len(store)) * (count - 1)).astype(np.int64)
    member = np.where(rng.random(len(store)) < 0.15, 0, member)
    return org.store_staff[store, member]


def _state_codes(rng: np.random.Generator, org: OrgPlan, store: IntArray) -> IntArray:
    """Channel-code states: the store's own QR mostly, then campaign codes, some with no state."""
    n, stores = len(store), len(org.store_codes)
    # 0: no state, 1: the store's QR code, 2..: the campaign states in vocab order
    kind = rng.choice(2 + len(vocab.CAMPAIGN_STATES), size=n, p=[0.1, 0.5, 0.2, 0.1, 0.07, 0.03])
    return np.where(kind == 0, 0, np.where(kind == 1, 1 + store, 1 + stores + kind - 2))


def _origin(pop_source: IntArray, state: IntArray, org: OrgPlan) -> IntArray:
    """The 来源渠道 tag: from the channel-code state when there is one, else from the customer's first channel."""
    stores = len(org.store_codes)
    by_source = np.asarray([0, 5, 6, 0])  # wecom → 门店扫码, OA → 公众号, mini-program → 小程序, store → 门店扫码
    by_state = np.where(state > stores, state - stores, 0)  # campaign states map onto tags 1..4
    return np.where(by_state > 0, by_state, by_source[pop_source])


def draw_chunk(plan: Plan, org: OrgPlan, cal: Calendar, chunk: int, lo: int, hi: int) -> Population:
    """Customers [lo, hi) of the run: a pure function of (plan, chunk), whatever else the run draws."""
    size = hi - lo
    # The stores' weights are the run's (seeded by the run alone), the customers' draws are the chunk's.
    stores = len(org.store_ids)
    store_w = np.random.default_rng([plan.seed, 1]).uniform(0.5, 1.5, stores)
    rng = np.random.default_rng([plan.seed, 1, chunk])
    store = rng.choice(stores, size=size, p=store_w / store_w.sum())
    source = rng.choice(len(SOURCES), size=size, p=SOURCE_WEIGHTS)
    created_day = cal.days_between(rng, np.zeros(size, np.int64), np.full(size, DAYS - 1), growth=True)
    created = np.minimum(cal.moments(rng, created_day), cal.end - 4 * 3600)
    gender = rng.choice(3, size=size, p=[0.04, 0.38, 0.58])
    age_days = (np.clip(rng.normal(32, 9, size), 18, 65) * 365.25).astype(np.int64)
    until_days = (cal.end // DAY) - 1
    birthday = np.where(rng.random(size) < 0.8, until_days - age_days, NULL)
    index = lo + np.arange(size, dtype=np.int64)
    shuffled = (index * plan.phone_stride() + plan.seed) % plan.size  # a bijection of [0, run size)
    phone_seq = np.where(rng.random(size) < 0.92, shuffled * PHONE_SLOTS + plan.phone_slot, NULL)
    region = np.where(rng.random(size) < 0.85, store, rng.integers(0, stores, size))

    has_rel = (source == 0) | (rng.random(size) < 0.25)
    rel_added = np.where(source == 0, created, _later(rng, cal, created, cal.end - 3 * 3600))
    rel_staff = np.where(has_rel, _pick_staff(rng, org, store), NULL)
    rel_state = _state_codes(rng, org, store)
    rel_deleted = np.where(has_rel & (rng.random(size) < 0.07), _later(rng, cal, rel_added, cal.end - 60), NULL)
    manager = org.store_staff[store, 0]
    has_rel2 = has_rel & (rel_staff != manager) & (rng.random(size) < 0.08)
    rel2_added = _later(rng, cal, rel_added, cal.end - 60)

    follows = (source == 1) | (rng.random(size) < 0.35)
    follow = np.where(follows, np.where(source == 1, created, _later(rng, cal, created, cal.end - 60)), NULL)
    follow_scene = rng.integers(0, len(vocab.OA_SCENES), size)
    structural = 1 + has_rel + has_rel2 + follows + (rel_deleted != NULL)
    activity = rng.lognormal(0.0, 0.9, size) * ((DAYS - created_day) / DAYS + 0.05)
    events = plan.events_before(hi) - plan.events_before(lo)
    total_structural = int(structural.sum())
    if events >= total_structural:
        counts = structural + rng.multinomial(events - total_structural, activity / activity.sum())
    else:
        counts = rng.multinomial(events, structural / total_structural)
    # Membership level by activity rank within the chunk (a chunk is a random sample of the whole run).
    rank = np.argsort(np.argsort(-counts, kind="stable"), kind="stable") / max(size, 1)
    level = np.select([rank < 0.03, rank < 0.15, rank < 0.40], [3, 2, 1], 0)
    recent = created_day >= DAYS - 30
    lifecycle = np.where(recent, 0, 1 + rng.choice(4, size=size, p=[0.38, 0.3, 0.18, 0.14]))
    return Population(
        lo=lo, size=size, first_id=plan.first_id, store=store, source=source, created=created,
        created_day=created_day, gender=gender, birthday=birthday, phone_seq=phone_seq, region=region,
        rel_staff=rel_staff, rel_added=np.where(has_rel, rel_added, NULL), rel_state=rel_state,
        rel_welcome=rng.random(size) < 0.9, rel_remark=rng.integers(0, len(REMARKS), size), rel_deleted=rel_deleted,
        rel2_staff=np.where(has_rel2, manager, NULL), rel2_added=np.where(has_rel2, rel2_added, NULL),
        follow=follow, follow_scene=follow_scene,
        unionid=(source != 3) | (rng.random(size) < 0.5), mp=(source == 2) | (rng.random(size) < 0.3),
        level=level, lifecycle=lifecycle, origin=_origin(source, np.where(has_rel, rel_state, 0), org),
        interests=rng.choice(4, size=size, p=[0.4, 0.35, 0.2, 0.05]),
        events=counts.astype(np.int64), structural=structural.astype(np.int64),
    )


# ---------------------------------------------------------------------------------------------------------------
# Rows, chunk by chunk.


def phones(seq: IntArray) -> list[str]:
    """Distinct mobile numbers 1[3-9]xxxxxxxxx, one per distinct sequence number (a bijection)."""
    count = len(PHONE_PREFIXES)
    suffix = ((seq // count) * _PHONE_MULT + _PHONE_ADD) % 100_000_000
    prefixes = [PHONE_PREFIXES[i] for i in (seq % count).tolist()]
    return [f"{p}{s:08d}" for p, s in zip(prefixes, suffix.tolist(), strict=True)]


def customer_batch(table: str, pop: Population, org: OrgPlan, chunk: int, lo: int, hi: int, seed: int) -> Batch:
    rng = np.random.default_rng([seed, 2, chunk])
    n = hi - lo
    surnames = np.asarray([s for s, _w in vocab.SURNAMES], dtype=object)
    weights = np.asarray([w for _s, w in vocab.SURNAMES], dtype=np.float64)
    given = np.asarray([*vocab.GIVEN_FEMALE, *vocab.GIVEN_MALE, ""], dtype=object)
    female, male = len(vocab.GIVEN_FEMALE), len(vocab.GIVEN_MALE)
    is_male = pop.gender == 1
    first = np.where(is_male, female + rng.integers(0, male, n), rng.integers(0, female, n))
    second = np.where(is_male, female + rng.integers(0, male, n), rng.integers(0, female, n))
    second = np.where(rng.random(n) < 0.3, len(given) - 1, second)
    names = surnames[rng.choice(len(surnames), size=n, p=weights / weights.sum())] + given[first] + given[second]
    seq = pop.phone_seq
    phone_text = np.full(n, "", dtype=object)
    has_phone = seq != NULL
    phone_text[has_phone] = phones(seq[has_phone])
    return Batch(table, {
        "id": Ints(pop.ids),
        "enterprise_id": Const(org.enterprise_id),
        "name": Texts(names.tolist()),
        "gender": Codes(pop.gender, GENDERS),
        "birthday": Days(pop.birthday),
        "phone": Texts(phone_text.tolist()),
        "region": Codes(pop.region, org.store_places),
        "created_source": Codes(pop.source, SOURCES),
        "home_store_id": Ints(org.store_ids[pop.store]),
        "merged_into_id": Const(None),
        "created_at": Stamps(pop.created),
        "updated_at": Stamps(pop.created),
        "erased_at": Const(None),
    })


def _ids(pop: Population, lo: int, hi: int) -> IntArray:
    return pop.ids


def identity_batch(table: str, pop: Population, org: OrgPlan, chunk: int, lo: int, hi: int, seed: int) -> Batch:
    ids = _ids(pop, lo, hi)
    number = np.arange(lo, hi, dtype=np.uint64)
    tag = f"{org.enterprise_id:04x}"[-4:]
    kinds = [
        (0, pop.unionid, pop.created, "oU", 11),
        (1, pop.rel_staff != NULL, pop.rel_added, "wm", 12),
        (2, pop.follow != NULL, pop.follow, "oO", 13),
        (3, pop.mp, pop.created, "oM", 14),
    ]
    cust, kind, value, account, when = [], [], [], [], []
    accounts = ["", org.wecom_corp_id, org.oa_app_id, org.mp_app_id]  # by kind code
    for code, mask, moment, prefix, salt in kinds:
        mix = _mix64(number[mask], seed * 31 + salt).tolist()
        serial = number[mask].tolist()
        # enterprise tag and serial first: unique by construction, and each kind's unique-index inserts append
        value += [f"{prefix}{tag}{s:07x}{m & 0xFFFFFFFFFFFFFFF:015x}" for m, s in zip(mix, serial, strict=True)]
        cust.append(ids[mask])
        kind.append(np.full(int(mask.sum()), code))
        account.append(np.full(int(mask.sum()), code))
        when.append(moment[mask])
    has_phone = pop.phone_seq != NULL
    value += phones(pop.phone_seq[has_phone])
    cust.append(ids[has_phone])
    kind.append(np.full(int(has_phone.sum()), 4))
    account.append(np.zeros(int(has_phone.sum()), dtype=np.int64))
    when.append(pop.created[has_phone])
    return Batch(table, {
        "enterprise_id": Const(org.enterprise_id),
        "customer_id": Ints(np.concatenate(cust)),
        "kind": Codes(np.concatenate(kind), IDENTITY_KINDS),
        "value": Texts(value),
        "account": Codes(np.concatenate(account), accounts),
        "created_at": Stamps(np.concatenate(when)),
    })


def relationship_batch(
    table: str, pop: Population, org: OrgPlan, voc: EventVocabulary, lo: int, hi: int
) -> Batch:
    ids = _ids(pop, lo, hi)
    first = pop.rel_staff != NULL
    second = pop.rel2_staff != NULL
    deleted = pop.rel_deleted
    return Batch(table, {
        "customer_id": Ints(np.concatenate([ids[first], ids[second]])),
        "staff_id": Ints(np.concatenate([pop.rel_staff[first], pop.rel2_staff[second]])),
        "added_at": Stamps(np.concatenate([pop.rel_added[first], pop.rel2_added[second]])),
        "channel": Const("wecom"),
        "state": Codes(np.concatenate([pop.rel_state[first], np.zeros(int(second.sum()), np.int64)]),
                       voc.states),
        "remark": Codes(np.concatenate([pop.rel_remark[first], np.zeros(int(second.sum()), np.int64)]),
                        REMARKS),
        "status": Codes(np.concatenate([(deleted[first] != NULL).astype(np.int64),
                                        np.zeros(int(second.sum()), np.int64)]), RELATIONSHIP_STATUSES),
        "status_changed_at": Stamps(np.concatenate([deleted[first], np.full(int(second.sum()), NULL)])),
        "previous_staff_id": Const(None),
    })


def tag_batch(
    table: str, pop: Population, org: OrgPlan, cal: Calendar, chunk: int, lo: int, hi: int, seed: int
) -> Batch:
    rng = np.random.default_rng([seed, 3, chunk])
    ids, n = _ids(pop, lo, hi), hi - lo
    groups = [np.asarray(org.tag_ids[name], dtype=np.int64) for name, *_rest in vocab.TAG_GROUPS]
    level, interests, origin, lifecycle = groups
    picks = pop.interests
    order = np.argsort(rng.random((n, len(interests))), axis=1)
    chosen = np.arange(len(interests))[None, :] < picks[:, None]
    interest_customer = np.repeat(ids, picks)
    interest_tag = interests[order[chosen]]
    created = pop.created
    tagged_at = np.minimum(created + rng.integers(60, 3 * DAY, n), cal.end - 60)
    customer = np.concatenate([ids, interest_customer, ids, ids])
    return Batch(table, {
        "customer_id": Ints(customer),
        "tag_id": Ints(np.concatenate([level[pop.level], interest_tag, origin[pop.origin],
                                       lifecycle[pop.lifecycle]])),
        "source": Codes(np.concatenate([np.full(n, 1), np.zeros(len(interest_tag), np.int64), np.full(n, 2),
                                        np.full(n, 1)]), TAG_SOURCES),
        "added_by_id": Const(None),
        "created_at": Stamps(np.concatenate([tagged_at, np.repeat(tagged_at, picks), created, tagged_at])),
    })


@dataclass(frozen=True)
class _Slots:
    """Each customer's lifecycle events as (type, instant, staff) in slot order, compacted to the left."""

    kind: IntArray
    when: IntArray
    staff: IntArray
    payload: IntArray


def _slots(pop: Population, voc: EventVocabulary, lo: int, hi: int) -> _Slots:
    n = hi - lo
    rel = pop.rel_staff
    added_payload = voc.offset[voc.code("wecom_contact_added")] + pop.rel_state * 2 + pop.rel_welcome
    columns = [
        (np.ones(n, bool), voc.code("customer_created"), pop.created, np.full(n, NULL), np.zeros(n, np.int64)),
        (rel != NULL, voc.code("wecom_contact_added"), pop.rel_added, rel, added_payload),
        (pop.rel2_staff != NULL, voc.code("wecom_contact_added"), pop.rel2_added,
         pop.rel2_staff, np.full(n, voc.offset[voc.code("wecom_contact_added")])),
        (pop.follow != NULL, voc.code("oa_followed"), pop.follow, np.full(n, NULL),
         voc.offset[voc.code("oa_followed")] + pop.follow_scene),
        (pop.rel_deleted != NULL, voc.code("wecom_contact_deleted"), pop.rel_deleted, rel,
         np.full(n, voc.offset[voc.code("wecom_contact_deleted")])),
    ]
    present = np.stack([c[0] for c in columns], axis=1)
    order = np.argsort(~present, axis=1, kind="stable")

    def stack(values: list[IntArray]) -> IntArray:
        return np.take_along_axis(np.stack(values, axis=1), order, axis=1)

    kinds = [np.where(c[0], c[1], -1) for c in columns]
    return _Slots(stack(kinds), stack([c[2] for c in columns]), stack([c[3] for c in columns]),
                  stack([c[4] for c in columns]))


@dataclass(frozen=True)
class _Drawn:
    kind: IntArray
    when: IntArray
    staff: IntArray
    payload: IntArray


def _behaviour(rng: np.random.Generator, pop: Population, org: OrgPlan, voc: EventVocabulary, cal: Calendar,
               customer: IntArray) -> _Drawn:
    """Browsing, messages, check-ins and groups for the customers listed (indexes in the chunk, one per event)."""
    e = len(customer)
    kind = voc.behaviour[rng.choice(len(voc.behaviour), size=e, p=voc.behaviour_p)]
    messages = np.isin(kind, [voc.code("message_received"), voc.code("message_sent")])
    rel = pop.rel_staff[customer]
    kind = np.where(messages & (rel == NULL), voc.code("page_viewed"), kind)
    messages &= rel != NULL
    not_before = np.where(messages, pop.rel_added[customer], pop.created[customer])
    deleted = pop.rel_deleted[customer]
    not_after = np.where(messages & (deleted != NULL), deleted, cal.end - 60)
    days = cal.days_between(rng, cal.day_of(not_before), cal.day_of(not_after))
    when = np.clip(cal.moments(rng, days), not_before + 60, not_after - 1)
    payload = voc.offset[kind] + (rng.random(e) * voc.size[kind]).astype(np.int64)
    groups = np.isin(kind, [voc.code("group_joined"), voc.code("group_left")])
    payload = np.where(groups, voc.offset[kind] + pop.store[customer] * 3 + rng.integers(0, 3, e), payload)
    checkin = kind == voc.code("check_in")
    streak = np.minimum(rng.geometric(0.25, e), 30) - 1
    payload = np.where(checkin, voc.offset[kind] + streak, payload)
    return _Drawn(kind, when, np.where(messages, rel, NULL), payload)


def event_batch(table: str, pop: Population, org: OrgPlan, voc: EventVocabulary, cal: Calendar, *,
                chunk: int, lo: int, hi: int, seed: int, first_number: int, key_prefix: str) -> Batch:
    rng = np.random.default_rng([seed, 4, chunk])
    counts = pop.events
    total = int(counts.sum())
    local = np.repeat(np.arange(hi - lo), counts)
    rank = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    slots = _slots(pop, voc, lo, hi)
    structural = rank < pop.structural[local]
    slot = np.minimum(rank, slots.kind.shape[1] - 1)
    drawn = _behaviour(rng, pop, org, voc, cal, local)
    kind = np.where(structural, slots.kind[local, slot], drawn.kind)
    when = np.where(structural, slots.when[local, slot], drawn.when)
    staff = np.where(structural, slots.staff[local, slot], drawn.staff)
    payload = np.where(structural, slots.payload[local, slot], drawn.payload)
    customer = local
    order = np.lexsort((when, customer))
    kind, when, staff, payload, customer = kind[order], when[order], staff[order], payload[order], customer[order]
    store_kinds = [voc.code(k) for k in ("customer_created", "wecom_contact_added", "check_in", "group_joined",
                                         "group_left")]
    store = np.where(np.isin(kind, store_kinds), org.store_ids[pop.store[customer]], NULL)
    channel = np.where(kind == voc.code("customer_created"), CHANNELS.index("wecom") + pop.source[customer],
                       voc.channel[kind])
    browsing = np.isin(kind, [voc.code("page_viewed"), voc.code("product_viewed")])
    campaign = np.where(browsing, cal.campaign[cal.day_of(when)], 0)
    return Batch(table, {
        "enterprise_id": Const(org.enterprise_id),
        "customer_id": Ints(pop.first_id + pop.lo + customer),
        "name": Codes(kind, voc.names),
        "occurred_at": Stamps(when),
        "received_at": Stamps(when + rng.integers(0, 5, total)),
        "channel": Codes(channel, CHANNELS),
        "store_id": Ints(store),
        "staff_id": Ints(staff),
        "campaign": Codes(campaign, cal.campaign_labels),
        "properties": Codes(payload, voc.properties),
        "idempotency_key": Keys(key_prefix, first_number + np.arange(total, dtype=np.int64)),
    })
