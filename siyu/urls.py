from django.contrib import admin
from django.urls import include, path

from siyu.api.main import api
from siyu.console.views import limit_admin_sign_in
from siyu.content.views import tracked_link
from siyu.finance.mall_views import mall_pay
from siyu.loyalty.mall_views import mall_buy_plan, mall_check_in, member_centre
from siyu.messaging.views import campaign_link
from siyu.ops.metrics import metrics_view
from siyu.referrals import mall_views as referral_pages

limit_admin_sign_in(admin.site)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("metrics", metrics_view, name="metrics"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("channels/", include("siyu.channels.urls")),
    path("oa/", include("siyu.channels.official_account.urls")),
    path("catalog/", include("siyu.catalog.urls")),
    path("promotions/", include("siyu.promotions.urls")),
    path("orders/", include("siyu.orders.urls")),
    path("member-imports/", include("siyu.console.member_import_urls")),
    path("audiences/", include("siyu.audiences.urls")),
    path("analytics/", include("siyu.analytics.urls")),
    path("finance/", include("siyu.finance.urls")),
    path("content/", include("siyu.content.urls")),
    path("l/<str:token>", tracked_link, name="tracked_link"),  # content's tracked links: short, outside the console
    path("loyalty/", include("siyu.loyalty.urls")),
    path("referrals/", include("siyu.referrals.urls")),
    path("journeys/", include("siyu.automation.urls")),
    path("campaigns/", include("siyu.messaging.urls")),
    path("c/<str:token>", campaign_link, name="campaign_link"),  # campaigns' tracked links: public, short
    # The H5 mall (siyu.storefront), its pay page (finance's: the payment path is finance's) and its member centre
    # (loyalty's: the storefront sits below loyalty and never imports it)
    path("m/<slug:enterprise>/orders/<int:order_id>/pay/", mall_pay, name="mall_pay"),
    path("m/<slug:enterprise>/me/", member_centre, name="mall_member"),
    path("m/<slug:enterprise>/me/check-in/", mall_check_in, name="mall_check_in"),
    path("m/<slug:enterprise>/me/plans/<int:plan_id>/buy/", mall_buy_plan, name="mall_buy_plan"),
    path("m/<slug:enterprise>/me/invite/", referral_pages.invitations, name="mall_invitations"),
    path("m/<slug:enterprise>/me/invite/<int:campaign_id>/join/", referral_pages.join, name="mall_join"),
    path("m/<slug:enterprise>/assist/<str:token>/", referral_pages.assist, name="mall_assist"),
    path("m/<slug:enterprise>/assist/<str:token>/help/", referral_pages.help_friend, name="mall_help"),
    path("m/", include("siyu.storefront.urls")),
    path("store-design/", include("siyu.storefront.design_urls")),  # the mall's page designer (console)
    path("setup/", include("siyu.setup.urls")),
    path("exports/", include("siyu.exports.urls")),
    path("org/", include("siyu.console.org_urls")),  # beside the console's org/ overview (its paths do not overlap)
    path("", include("siyu.console.urls")),
]
