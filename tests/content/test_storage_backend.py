"""The storage switch: local disk by default, S3-compatible storage through django-storages when configured.

No network: botocore signs URLs locally, and its Stubber answers the S3 calls an upload makes, checking the bucket
and the key (prefix + the generated name) of each.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.stub import ANY, Stubber
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import storages
from storages.backends.s3 import S3Storage

from siyu.content import services
from siyu.content.models import MaterialKind
from siyu.core import storage_settings
from siyu.org.scope import scope_for_staff
from tests.conftest import Org
from tests.content import helpers

S3_ENV = {
    "SIYU_STORAGE_BACKEND": "s3", "SIYU_S3_BUCKET": "siyu-media", "SIYU_S3_ENDPOINT_URL": "https://minio.example.test:9000",
    "SIYU_S3_REGION": "cn-east-1", "SIYU_S3_ACCESS_KEY_ID": "AKIDEXAMPLE", "SIYU_S3_SECRET_ACCESS_KEY": "secret",
    "SIYU_S3_PREFIX": "siyu", "SIYU_S3_ADDRESSING_STYLE": "path",
}


def test_local_disk_is_the_default() -> None:
    assert storage_settings.default_storage({}) == {"BACKEND": storage_settings.LOCAL_BACKEND}
    local = storage_settings.default_storage({"SIYU_STORAGE_BACKEND": "local"})
    assert local["BACKEND"] == storage_settings.LOCAL_BACKEND
    # the settings module reads the same function (the test run has no SIYU_STORAGE_BACKEND)
    assert django_settings.STORAGES["default"]["BACKEND"] == storage_settings.LOCAL_BACKEND


def test_s3_options_from_the_environment() -> None:
    config = storage_settings.default_storage(S3_ENV)
    assert config["BACKEND"] == "storages.backends.s3.S3Storage"
    assert config["OPTIONS"] == {
        "bucket_name": "siyu-media", "endpoint_url": "https://minio.example.test:9000", "region_name": "cn-east-1",
        "access_key": "AKIDEXAMPLE", "secret_key": "secret", "location": "siyu", "addressing_style": "path",
        "default_acl": "private", "querystring_auth": True, "file_overwrite": False, "signature_version": "s3v4",
    }
    # django-storages' own AWS_* names are read when ours are unset; the dotted path means the same as "s3"
    legacy = storage_settings.default_storage({"SIYU_STORAGE_BACKEND": "storages.backends.s3.S3Storage",
                                               "AWS_STORAGE_BUCKET_NAME": "old-bucket"})
    assert legacy["OPTIONS"]["bucket_name"] == "old-bucket"
    assert "access_key" not in legacy["OPTIONS"]  # boto3's own credential chain


@pytest.mark.parametrize("env", [
    {"SIYU_STORAGE_BACKEND": "s3"},  # no bucket
    {"SIYU_STORAGE_BACKEND": "s4"},  # unknown name
    {**S3_ENV, "SIYU_S3_ADDRESSING_STYLE": "sideways"},
    {**S3_ENV, "SIYU_S3_SECRET_ACCESS_KEY": ""},  # a key id without its secret
])
def test_bad_configurations_stop_the_start(env: dict[str, str]) -> None:
    with pytest.raises(ImproperlyConfigured):
        storage_settings.default_storage(env)


def test_the_s3_backend_signs_private_urls_locally() -> None:
    storage = storages.create_storage(storage_settings.default_storage(S3_ENV))
    assert isinstance(storage, S3Storage)
    url = storage.url("content/1/2026/12/abc.png")
    parts = urlsplit(url)
    assert parts.netloc == "minio.example.test:9000"
    assert parts.path == "/siyu-media/siyu/content/1/2026/12/abc.png"  # path style, under the prefix
    query = parse_qs(parts.query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Credential"][0].startswith("AKIDEXAMPLE/")
    assert "/cn-east-1/s3/aws4_request" in query["X-Amz-Credential"][0]


@pytest.fixture
def s3_default(settings: Any) -> Iterator[tuple[Stubber, list[dict[str, Any]]]]:
    settings.STORAGES = {**settings.STORAGES, "default": storage_settings.default_storage(S3_ENV)}
    storage = storages["default"]
    assert isinstance(storage, S3Storage)
    client = storage.connection.meta.client  # the S3 client the default storage now uses
    puts: list[dict[str, Any]] = []
    client.meta.events.register("provide-client-params.s3.PutObject", lambda params, **kw: puts.append(dict(params)))
    with Stubber(client) as stub:
        yield stub, puts
        stub.assert_no_pending_responses()


def test_an_uploaded_material_goes_to_the_bucket(org: Org, s3_default: tuple[Stubber, list[dict[str, Any]]]) -> None:
    """An image material through the service, with S3 as the default storage: the file and its thumbnail are
    written to the bucket under the prefix, privately, each after checking its generated name is free."""
    stub, puts = s3_default
    for _ in ("file", "thumbnail"):
        stub.add_client_error("head_object", service_error_code="404", http_status_code=404,
                              expected_params={"Bucket": "siyu-media", "Key": ANY})
        stub.add_response("put_object", {"ETag": '"x"'})
    image = helpers.png()
    material = services.create_material(
        scope=scope_for_staff(org.hq), actor=None,
        data=services.MaterialInput(kind=MaterialKind.IMAGE, title="S3 poster"),
        upload=services.Upload(stream=helpers.upload("poster.png", image), name="poster.png", size=len(image)))
    assert material.file.startswith(f"content/{org.enterprise.pk}/") and material.file.endswith(".png")
    assert material.thumbnail.endswith("-thumb.jpg")
    assert [(p["Bucket"], p["Key"], p["ACL"]) for p in puts] == [
        ("siyu-media", f"siyu/{material.file}", "private"), ("siyu-media", f"siyu/{material.thumbnail}", "private")]
    assert puts[0]["ContentType"] == "image/png"
