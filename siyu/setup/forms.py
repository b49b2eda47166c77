"""The set-up forms. They only shape input: every rule (formats, lengths, PEM parsing, once-only) is the services',
whose field errors are put back on the field they name."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from siyu.channels.models import AccountKind, AccountType, CallbackMode
from siyu.core.errors import DomainError

SECRET_HELP = _("Stored encrypted and never shown again. Leave empty to keep the stored one.")


class SecretInput(forms.PasswordInput):
    """Never renders a value back (render_value=False), whatever the form was given."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(attrs={"autocomplete": "new-password", "spellcheck": "false", **attrs}, render_value=False)


class SecretArea(forms.Textarea):
    """A PEM key pasted once: the page after saving never puts it back."""

    def format_value(self, value: Any) -> None:
        return None


def put_error(form: forms.Form, exc: DomainError) -> None:
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, exc.message)


class FirstRunForm(forms.Form):
    enterprise_name = forms.CharField(label=_("Brand / enterprise name"), max_length=120)
    enterprise_code = forms.CharField(label=_("Short code"), max_length=64, required=False,
                                      help_text=_("Lowercase letters, digits and dashes; from the name when empty."))
    admin_name = forms.CharField(label=_("Your name"), max_length=64, required=False)
    admin_username = forms.CharField(label=_("Administrator username"), max_length=150)
    admin_password = forms.CharField(label=_("Password"), widget=SecretInput(), max_length=128)
    admin_password2 = forms.CharField(label=_("Password (again)"), widget=SecretInput(), max_length=128)

    def __init__(self, *args: Any, token_required: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if token_required:
            self.fields["setup_token"] = forms.CharField(
                label=_("Set-up token"), widget=SecretInput(), max_length=200,
                help_text=_("The value of SIYU_SETUP_TOKEN on the server."))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("admin_password") and data.get("admin_password") != data.get("admin_password2"):
            self.add_error("admin_password2", _("The two passwords differ."))
        return data


class AccountForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=64)
    app_id = forms.CharField(label=_("Corp id / appid"), max_length=64)
    agent_id = forms.CharField(label=_("Agent id (AgentId)"), max_length=10, required=False)
    account_type = forms.ChoiceField(label=_("Account type"), choices=[("", "—"), *AccountType.choices],
                                     required=False)
    secret = forms.CharField(label=_("Secret"), widget=SecretInput(), max_length=128, required=False,
                             help_text=SECRET_HELP)
    token = forms.CharField(label=_("Callback Token"), widget=SecretInput(), max_length=32, required=False,
                            help_text=SECRET_HELP)
    encoding_aes_key = forms.CharField(label=_("EncodingAESKey"), widget=SecretInput(), max_length=43,
                                       required=False, help_text=SECRET_HELP)
    callback_mode = forms.ChoiceField(label=_("Message encryption (消息加解密方式)"),
                                      choices=[("", "—"), *CallbackMode.choices], required=False)
    base_url = forms.CharField(label=_("API base URL"), max_length=255, required=False,
                               help_text=_("Empty: the platform's own. The demo points this at the simulator."))
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, kind: str, editing: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        self._fit_kind(kind)
        if editing:
            self.fields["app_id"].disabled = True
            if "agent_id" in self.fields:
                self.fields["agent_id"].disabled = True
            return
        if kind == AccountKind.WECOM:
            self.fields["app_id"].label = _("Corp id (CorpID)")
        for name in ("secret", "token", "encoding_aes_key"):
            if name in self.fields:
                self.fields[name].help_text = _("Stored encrypted and never shown again.")
        for name in ("token", "encoding_aes_key"):
            if name in self.fields:
                # a new account's generated values are shown, to be copied into the platform before saving;
                # once saved they are write-only like the secret
                self.fields[name].widget = forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false",
                                                                  "class": "mono"})

    def _fit_kind(self, kind: str) -> None:
        if kind != AccountKind.WECOM:
            del self.fields["agent_id"]
        if kind != AccountKind.OFFICIAL_ACCOUNT:
            del self.fields["account_type"]
            del self.fields["callback_mode"]
        else:
            self.fields["account_type"].required = True
        if kind == AccountKind.MINIPROGRAM:
            del self.fields["token"]
            del self.fields["encoding_aes_key"]


class MerchantForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=64)
    mch_id = forms.CharField(label=_("Merchant id (商户号)"), max_length=12)
    app_id = forms.CharField(label=_("Paying appid (mini-program / Official Account)"), max_length=64)
    merchant_serial_no = forms.CharField(label=_("Merchant API certificate serial"), max_length=64)
    private_key = forms.CharField(label=_("Merchant API private key (apiclient_key.pem)"), required=False,
                                  widget=SecretArea(attrs={"rows": 4, "class": "mono", "spellcheck": "false"}),
                                  max_length=16_384, help_text=SECRET_HELP)
    apiv3_key = forms.CharField(label=_("APIv3 key"), widget=SecretInput(), max_length=32, required=False,
                                help_text=SECRET_HELP)
    platform_public_key = forms.CharField(
        label=_("WeChat Pay platform public key or certificate (PEM)"), required=False, max_length=16_384,
        widget=forms.Textarea(attrs={"rows": 4, "class": "mono", "spellcheck": "false"}),
        help_text=_("Public. Leave empty to keep the stored one."))
    platform_key_id = forms.CharField(label=_("Platform key id (PUB_KEY_ID_...) or certificate serial"),
                                      max_length=64, required=False,
                                      help_text=_("Read from the certificate when you paste one."))
    base_url = forms.CharField(label=_("API base URL"), max_length=255, required=False)
    notify_url = forms.CharField(label=_("Notify URL sent with payments"), max_length=255, required=False)
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)

    def __init__(self, *args: Any, editing: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            self.fields["mch_id"].disabled = True
        else:
            for name in ("private_key", "apiv3_key"):
                self.fields[name].help_text = _("Stored encrypted and never shown again.")
