"""Factories for test data. Tests state expected values by hand; factories only build the rows."""

from __future__ import annotations

import factory
from django.contrib.auth.models import User
from django.utils import timezone

from siyu.customers.models import Customer, Relationship, Tag, TagGroup
from siyu.org.models import Enterprise, Region, Role, Staff, Store


class EnterpriseFactory(factory.django.DjangoModelFactory[Enterprise]):
    class Meta:
        model = Enterprise
        django_get_or_create = ("code",)

    name = "Test Brand"
    code = "test-brand"
    wecom_corp_id = "wwtestcorp0001"


class RegionFactory(factory.django.DjangoModelFactory[Region]):
    class Meta:
        model = Region

    enterprise = factory.SubFactory(EnterpriseFactory)
    name = factory.Sequence(lambda n: f"Region {n}")
    code = factory.Sequence(lambda n: f"r{n}")


class StoreFactory(factory.django.DjangoModelFactory[Store]):
    class Meta:
        model = Store

    enterprise = factory.SelfAttribute("region.enterprise")
    region = factory.SubFactory(RegionFactory)
    name = factory.Sequence(lambda n: f"Store {n}")
    code = factory.Sequence(lambda n: f"s{n}")
    city = "Shanghai"


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests-1")


class StaffFactory(factory.django.DjangoModelFactory[Staff]):
    class Meta:
        model = Staff

    enterprise = factory.SubFactory(EnterpriseFactory)
    name = factory.Sequence(lambda n: f"Staff {n}")
    wecom_userid = factory.Sequence(lambda n: f"staff{n}")
    role = Role.STORE_STAFF
    store = None
    region = None


class CustomerFactory(factory.django.DjangoModelFactory[Customer]):
    class Meta:
        model = Customer

    enterprise = factory.SubFactory(EnterpriseFactory)
    name = factory.Sequence(lambda n: f"Customer {n}")
    created_at = factory.LazyFunction(timezone.now)


class TagGroupFactory(factory.django.DjangoModelFactory[TagGroup]):
    class Meta:
        model = TagGroup

    enterprise = factory.SubFactory(EnterpriseFactory)
    name = factory.Sequence(lambda n: f"Group {n}")


class TagFactory(factory.django.DjangoModelFactory[Tag]):
    class Meta:
        model = Tag

    group = factory.SubFactory(TagGroupFactory)
    name = factory.Sequence(lambda n: f"Tag {n}")


class RelationshipFactory(factory.django.DjangoModelFactory[Relationship]):
    class Meta:
        model = Relationship

    customer = factory.SubFactory(CustomerFactory)
    staff = factory.SubFactory(StaffFactory)
    added_at = factory.LazyFunction(timezone.now)
