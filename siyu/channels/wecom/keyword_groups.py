"""Keyword groups (关键词拉群): a follower sends a keyword to the Official Account and is answered at once with the
invitation (join link) of the group chosen by their tags or store (the routes of auto_pull.py).

A keyword group's word may not clash with an OA keyword reply of the same account (the follower would get two
answers): creating one is refused with `keyword_clash`, and the OA refuses a keyword reply that clashes with a
keyword group the same way (the guard registered below)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from siyu.channels.models import AccountKind, ChannelAccount
from siyu.channels.official_account import services as oa_services
from siyu.channels.official_account.models import KeywordReply, MatchKind
from siyu.channels.wecom import auto_pull
from siyu.channels.wecom.auto_pull import RouteIn
from siyu.channels.wecom.models import GroupRoute, KeywordGroup
from siyu.core import audit
from siyu.core.audit import Actor
from siyu.core.errors import Conflict, NotFound, ValidationFailed
from siyu.customers.models import Identity, IdentityKind
from siyu.org.scope import Scope

DEFAULT_REPLY = "点击链接加入群聊：{link}"


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _oa_rule_clash(account_id: int, word: str) -> KeywordReply | None:
    """An active OA keyword reply that would also answer `word`."""
    wanted = _norm(word)
    for rule in KeywordReply.objects.filter(account_id=account_id, match__in=(MatchKind.EXACT, MatchKind.CONTAINS)):
        rule_word = _norm(rule.keyword)
        if (rule.match == MatchKind.EXACT and rule_word == wanted) or (
            rule.match == MatchKind.CONTAINS and rule_word in wanted
        ):
            return rule
    return None


def _clean_word(account_id: int, keyword: str) -> str:
    word = " ".join(keyword.split())
    if not 1 <= len(word) <= 64:
        raise ValidationFailed(_("keyword is 1-64 characters"), field="keyword", code="keyword_length")
    clash = _oa_rule_clash(account_id, word)
    if clash is not None:
        raise Conflict(_("the Official Account's keyword reply %(keyword)s (%(match)s) answers this keyword")
            % {"keyword": repr(clash.keyword), "match": clash.match},
                       field="keyword", code="keyword_clash")
    return word


def _clean_reply(reply_text: str) -> str:
    if len(reply_text) > 500:
        raise ValidationFailed(_("the reply is at most 500 characters"), field="reply_text",
                               code="reply_length")
    if reply_text and "{link}" not in reply_text:
        raise ValidationFailed(_("the reply must contain {link}"), field="reply_text", code="reply_without_link")
    return reply_text


def _clean_routes(scope: Scope, routes: Sequence[RouteIn]) -> list[RouteIn]:
    if not routes:
        raise ValidationFailed(_("add at least one route to a group code"), field="routes", code="no_routes")
    return auto_pull.clean_routes(scope, routes)


def _put_routes(group: KeywordGroup, routes: Sequence[RouteIn]) -> None:
    GroupRoute.objects.filter(keyword_group=group).delete()
    GroupRoute.objects.bulk_create([
        GroupRoute(keyword_group=group, group_code_id=r.group_code_id, tag_id=r.tag_id, store_id=r.store_id, sort=i)
        for i, r in enumerate(routes)
    ])


def _duplicate(word: str) -> Conflict:
    return Conflict(_("a keyword group for %(word)s exists") % {"word": repr(word)}, field="keyword", code="duplicate")


@transaction.atomic
def create_keyword_group(
    *, scope: Scope, oa_account_id: int, keyword: str, routes: Sequence[RouteIn], reply_text: str = "",
    actor: Actor = None,
) -> KeywordGroup:
    account = ChannelAccount.objects.filter(
        pk=oa_account_id, enterprise_id=scope.enterprise_id, kind=AccountKind.OFFICIAL_ACCOUNT).first()
    if account is None:
        raise NotFound(_("Official Account %(oa_account_id)s not found")
            % {"oa_account_id": oa_account_id}, field="oa_account_id")
    word = _clean_word(account.pk, keyword)
    reply = _clean_reply(reply_text)
    clean = _clean_routes(scope, routes)
    try:
        with transaction.atomic():
            group = KeywordGroup.objects.create(enterprise_id=scope.enterprise_id, oa_account=account, keyword=word,
                                                reply_text=reply, created_by=audit.user_of(actor))
    except IntegrityError as exc:
        raise _duplicate(word) from exc
    _put_routes(group, clean)
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="wecom.keyword_group.create",
                 target_type="keyword_group", target_id=group.pk, summary=word)
    return group


def _locked(scope: Scope, keyword_group_id: int) -> KeywordGroup:
    group = KeywordGroup.objects.select_for_update().filter(
        pk=keyword_group_id, enterprise_id=scope.enterprise_id).first()
    if group is None:
        raise NotFound(_("keyword group %(keyword_group_id)s not found")
            % {"keyword_group_id": keyword_group_id}, field="keyword_group_id")
    return group


@transaction.atomic
def update_keyword_group(
    *, scope: Scope, keyword_group_id: int, keyword: str | None = None, reply_text: str | None = None,
    is_active: bool | None = None, routes: Sequence[RouteIn] | None = None, actor: Actor = None,
) -> KeywordGroup:
    """Change what was given (None: unchanged); routes given replace the old ones in their order."""
    group = _locked(scope, keyword_group_id)
    changed: list[str] = []
    if keyword is not None and " ".join(keyword.split()) != group.keyword:
        group.keyword = _clean_word(group.oa_account_id, keyword)
        changed.append("keyword")
    if reply_text is not None and reply_text != group.reply_text:
        group.reply_text = _clean_reply(reply_text)
        changed.append("reply_text")
    if is_active is not None and is_active != group.is_active:
        group.is_active = is_active
        changed.append("is_active")
    clean = _clean_routes(scope, routes) if routes is not None else None
    if changed:
        try:
            with transaction.atomic():
                group.save(update_fields=changed)
        except IntegrityError as exc:
            raise _duplicate(group.keyword) from exc
    if clean is not None:
        _put_routes(group, clean)
        changed.append("routes")
    if changed:
        audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="wecom.keyword_group.update",
                     target_type="keyword_group", target_id=group.pk, summary=f"{group.keyword}: {', '.join(changed)}")
    return group


@transaction.atomic
def delete_keyword_group(*, scope: Scope, keyword_group_id: int, actor: Actor = None) -> None:
    group = _locked(scope, keyword_group_id)
    word, pk = group.keyword, group.pk
    group.delete()  # its routes go with it (cascade)
    audit.record(enterprise_id=scope.enterprise_id, actor=actor, action="wecom.keyword_group.delete",
                 target_type="keyword_group", target_id=pk, summary=word)


def answer(account: ChannelAccount, openid: str, text: str) -> str | None:
    """The OA's reply to a follower's text when it is a keyword group's word (None: not one of ours)."""
    wanted = _norm(text)
    if not wanted:
        return None
    group = next((g for g in KeywordGroup.objects.filter(oa_account=account, is_active=True)
                  if _norm(g.keyword) == wanted), None)
    if group is None:
        return None
    identity = Identity.objects.filter(enterprise_id=account.enterprise_id, kind=IdentityKind.OA_OPENID,
                                       value=openid).select_related("customer").first()
    customer = identity.customer if identity is not None else None
    routes = list(group.routes.select_related("group_code").order_by("sort", "id"))
    chosen = auto_pull.choose(routes, tag_ids=auto_pull.customer_tag_ids(customer),
                              store_id=customer.home_store_id if customer is not None else None)
    if chosen is None:
        return None
    link = auto_pull.group_link(chosen)
    if not link:
        return None
    return (group.reply_text or DEFAULT_REPLY).replace("{link}", link)


def reserved(account_id: int, match: str, keyword: str) -> bool:
    """The OA's guard: would a keyword reply (match, keyword) answer one of this account's keyword groups?"""
    rule_word = _norm(keyword)
    for group in KeywordGroup.objects.filter(oa_account_id=account_id):
        word = _norm(group.keyword)
        if (match == MatchKind.EXACT and word == rule_word) or (match == MatchKind.CONTAINS and rule_word in word):
            return True
    return False


def install() -> None:
    oa_services.register_text_responder(answer)
    oa_services.register_keyword_guard(reserved)
