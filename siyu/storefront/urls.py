"""The H5 mall under /m/<enterprise code>/ (the pay page is finance's, mounted beside these in siyu.urls)."""

from django.urls import path

from siyu.storefront import address_views, deal_views, views

app_name = "mall"

urlpatterns = [
    path("<slug:enterprise>/", views.home, name="home"),
    path("<slug:enterprise>/preview/<str:token>/", views.preview, name="preview"),
    path("<slug:enterprise>/products/", views.product_list, name="products"),
    path("<slug:enterprise>/products/<int:product_id>/", views.product_detail, name="product"),
    path("<slug:enterprise>/cart/", views.cart_page, name="cart"),
    path("<slug:enterprise>/checkout/", views.checkout_page, name="checkout"),
    path("<slug:enterprise>/orders/", views.order_list, name="orders"),
    path("<slug:enterprise>/orders/<int:order_id>/", views.order_detail, name="order"),
    path("<slug:enterprise>/orders/<int:order_id>/cancel/", views.order_cancel, name="order_cancel"),
    path("<slug:enterprise>/orders/<int:order_id>/after-sale/", views.after_sale_page, name="after_sale"),
    path("<slug:enterprise>/coupons/", views.coupon_centre, name="coupons"),
    path("<slug:enterprise>/coupons/<int:template_id>/claim/", views.coupon_claim, name="coupon_claim"),
    path("<slug:enterprise>/presales/", deal_views.presale_list, name="presales"),
    path("<slug:enterprise>/presales/<int:presale_id>/", deal_views.presale_detail, name="presale"),
    path("<slug:enterprise>/group-buys/", deal_views.group_buy_list, name="group_buys"),
    path("<slug:enterprise>/group-buys/<int:group_buy_id>/", deal_views.group_buy_detail, name="group_buy"),
    path("<slug:enterprise>/me/addresses/", address_views.address_book, name="addresses"),
    path("<slug:enterprise>/me/addresses/<int:address_id>/", address_views.address_edit, name="address"),
    path("<slug:enterprise>/me/addresses/<int:address_id>/default/", address_views.address_default,
         name="address_default"),
    path("<slug:enterprise>/me/addresses/<int:address_id>/delete/", address_views.address_delete,
         name="address_delete"),
    path("<slug:enterprise>/login/", views.login, name="login"),
    path("<slug:enterprise>/login/wechat/", views.login_wechat, name="login_wechat"),
    path("<slug:enterprise>/login/wechat/done/", views.login_wechat_done, name="login_wechat_done"),
    path("<slug:enterprise>/login/sms/send/", views.login_sms_send, name="login_sms_send"),
    path("<slug:enterprise>/login/sms/", views.login_sms, name="login_sms"),
    path("<slug:enterprise>/logout/", views.logout, name="logout"),
]
