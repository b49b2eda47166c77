from django.urls import path

from siyu.content import views

app_name = "content"
urlpatterns = [
    path("", views.material_list, name="index"),
    path("folders/", views.folder_create, name="folders"),
    path("materials/new/", views.material_new, name="material_new"),
    path("materials/<int:material_id>/", views.material_detail, name="material"),
    path("materials/<int:material_id>/<str:which>/", views.material_file, name="material_file"),
    path("scripts/", views.script_list, name="scripts"),
    path("scripts/new/", views.script_edit, name="script_new"),
    path("scripts/<int:script_id>/", views.script_edit, name="script"),
    path("moments/", views.moments, name="moments"),
    path("moments/<int:plan_id>/", views.moment_detail, name="moment"),
    path("moments/<int:plan_id>/cancel/", views.moment_cancel, name="moment_cancel"),
    path("moments/<int:plan_id>/refresh/", views.moment_refresh, name="moment_refresh"),
    path("ugc/", views.ugc_list, name="ugc"),
    path("ugc/<int:submission_id>/", views.ugc_review, name="ugc_review"),
    path("ugc/<int:submission_id>/photo/", views.ugc_photo, name="ugc_photo"),
    path("personas/", views.persona_list, name="personas"),
    path("personas/export/", views.persona_export, name="persona_export"),
    path("personas/<int:staff_id>/", views.persona_edit, name="persona"),
    path("personas/<int:staff_id>/avatar/", views.persona_avatar, name="persona_avatar"),
    path("sidebar/", views.sidebar_page, name="sidebar"),
    path("sidebar/oauth/<int:account_id>/", views.sidebar_sign_in, name="sidebar_sign_in"),
    path("sidebar/oauth/callback/", views.sidebar_sign_in_callback, name="sidebar_sign_in_callback"),
    path("sidebar/contact/", views.sidebar_contact, name="sidebar_contact"),
    path("sidebar/contact/<int:customer_id>/tags/", views.sidebar_tags, name="sidebar_tags"),
    path("sidebar/replies/", views.sidebar_replies, name="sidebar_replies"),
    path("sidebar/media/<int:material_id>/", views.sidebar_media, name="sidebar_media"),
]
