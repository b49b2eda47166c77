from django.urls import path

from siyu.finance import commission_views, views
from siyu.finance.reconciliation import views as reconciliation

app_name = "finance"
urlpatterns = [
    path("", views.trial_balance, name="index"),
    path("statement/", views.statement, name="statement"),
    path("entries/<int:entry_id>/reverse/", views.reverse_entry, name="reverse"),
    path("orders/<int:order_id>/refund/", views.order_refund, name="order_refund"),
    path("wechatpay/callback/<str:mch_id>/", views.wechatpay_notify, name="wechatpay_notify"),
    # reconciliation
    path("reconciliation/", reconciliation.days, name="reconciliation"),
    path("reconciliation/run/", reconciliation.run_day, name="reconciliation_day"),
    path("reconciliation/<int:run_id>/", reconciliation.run_detail, name="reconciliation_run"),
    path("reconciliation/differences/<int:difference_id>/resolve/", reconciliation.resolve,
         name="reconciliation_resolve"),
]

# Commissions and settlement (siyu.finance.commission_views)
urlpatterns += [
    path("commissions/rules/", commission_views.rules, name="commission_rules"),
    path("commissions/rules/<int:commission_rule_id>/", commission_views.rule_edit, name="commission_rule_edit"),
    path("commissions/rules/<int:commission_rule_id>/delete/", commission_views.rule_delete,
         name="commission_rule_delete"),
    path("commissions/statements/", commission_views.statements, name="commission_statements"),
    path("commissions/statements/export/", commission_views.statements_export, name="commission_export"),
    path("commissions/statements/lines/", commission_views.statement_lines, name="commission_lines"),
    path("commissions/statements/lines/export/", commission_views.statement_lines_export,
         name="commission_lines_export"),
    path("commissions/settle/", commission_views.settle, name="commission_settle"),
]
