from django.urls import path

from siyu.promotions import views

app_name = "promotions"
urlpatterns = [
    path("", views.index, name="index"),
    path("shipping/", views.shipping, name="shipping"),
    path("coupons/", views.coupon_list, name="coupons"),
    path("coupons/new/", views.coupon_edit, name="coupon_new"),
    path("coupons/<int:template_id>/", views.coupon_edit, name="coupon_edit"),
    path("coupons/<int:template_id>/issue/", views.coupon_issue, name="coupon_issue"),
    path("coupons/<int:template_id>/issue-tags/", views.coupon_issue_tags, name="coupon_issue_tags"),
    path("coupons/batches/<int:batch_id>/", views.coupon_batch, name="coupon_batch"),
    path("full-reductions/", views.reduction_list, name="reductions"),
    path("full-reductions/new/", views.reduction_edit, name="reduction_new"),
    path("full-reductions/<int:reduction_id>/", views.reduction_edit, name="reduction_edit"),
    path("flash-sales/", views.flash_list, name="flash_sales"),
    path("flash-sales/new/", views.flash_edit, name="flash_new"),
    path("flash-sales/<int:flash_sale_id>/", views.flash_edit, name="flash_edit"),
    path("group-buys/", views.group_list, name="group_buys"),
    path("group-buys/new/", views.group_edit, name="group_new"),
    path("group-buys/<int:group_buy_id>/", views.group_edit, name="group_edit"),
]
