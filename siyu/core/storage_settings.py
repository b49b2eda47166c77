"""Where uploaded files live, from the environment: the local disk (the default) or S3-compatible object storage
through django-storages' maintained S3 backend (AWS S3, MinIO, Aliyun OSS, Tencent COS, ...).

Read by siyu/settings.py at start-up; a pure function of the environment so the switch is tested without a network.
Nothing else in Siyu changes with the backend: every file goes through Django's storage API and is served through the
console after the scoped lookup, so the bucket stays private (no public ACL, signed URLs only).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

LOCAL_BACKEND = "django.core.files.storage.FileSystemStorage"
S3_BACKEND = "storages.backends.s3.S3Storage"

# SIYU_S3_* variable -> S3Storage option; the AWS_* name django-storages documents is read when ours is unset.
S3_OPTIONS = (
    ("SIYU_S3_BUCKET", "AWS_STORAGE_BUCKET_NAME", "bucket_name"),
    ("SIYU_S3_ENDPOINT_URL", "AWS_S3_ENDPOINT_URL", "endpoint_url"),
    ("SIYU_S3_REGION", "AWS_S3_REGION_NAME", "region_name"),
    ("SIYU_S3_ACCESS_KEY_ID", "AWS_S3_ACCESS_KEY_ID", "access_key"),
    ("SIYU_S3_SECRET_ACCESS_KEY", "AWS_S3_SECRET_ACCESS_KEY", "secret_key"),
    ("SIYU_S3_PREFIX", "AWS_LOCATION", "location"),
    ("SIYU_S3_ADDRESSING_STYLE", "AWS_S3_ADDRESSING_STYLE", "addressing_style"),
)


def default_storage(env: Mapping[str, str]) -> dict[str, Any]:
    """The STORAGES["default"] entry for this environment.

    `SIYU_STORAGE_BACKEND`: empty or `local` (files under SIYU_MEDIA_DIR), `s3` (or django-storages' dotted path) for
    S3-compatible storage configured by the SIYU_S3_* variables, or another storage class's dotted path.
    """
    backend = env.get("SIYU_STORAGE_BACKEND", "").strip()
    if backend in ("", "local", LOCAL_BACKEND):
        return {"BACKEND": LOCAL_BACKEND}
    if backend not in ("s3", S3_BACKEND):
        if "." not in backend:
            raise ImproperlyConfigured(f"SIYU_STORAGE_BACKEND={backend!r}: use local, s3 or a storage class's path")
        return {"BACKEND": backend}
    options: dict[str, Any] = {
        # private objects, read through signed URLs or the console; an upload never replaces another file
        "default_acl": "private", "querystring_auth": True, "file_overwrite": False, "signature_version": "s3v4",
    }
    for ours, theirs, option in S3_OPTIONS:
        value = env.get(ours, "").strip() or env.get(theirs, "").strip()
        if value:
            options[option] = value
    if not options.get("bucket_name"):
        raise ImproperlyConfigured("SIYU_STORAGE_BACKEND=s3 needs SIYU_S3_BUCKET")
    if options.get("addressing_style") not in (None, "path", "virtual", "auto"):
        raise ImproperlyConfigured("SIYU_S3_ADDRESSING_STYLE must be path, virtual or auto")
    if ("access_key" in options) != ("secret_key" in options):
        raise ImproperlyConfigured("set both SIYU_S3_ACCESS_KEY_ID and SIYU_S3_SECRET_ACCESS_KEY, or neither "
                                   "(then boto3's own chain: AWS_ACCESS_KEY_ID, an instance role, ...)")
    return {"BACKEND": S3_BACKEND, "OPTIONS": options}
