"""The demo's channel credentials, shared by the simulator (playing the platform, top-level `simulator/`) and the
demo seed (Siyu's side). The product owns them; the simulator imports them, never the other way.

Not secrets: they only ever talk to the local simulator. A real deployment enters its own in the console.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoApp:
    app_id: str
    agent_id: str
    secret: str
    token: str
    encoding_aes_key: str


WECOM = DemoApp(
    app_id="ww5iyudemo0000001",
    agent_id="1000002",
    secret="siyu-demo-wecom-contact-secret-0001",  # noqa: S106
    token="siyuDemoWecomToken",  # noqa: S106
    encoding_aes_key="c2l5dWRlbW93ZWNvbWVuY29kaW5nYWVza2V5MDAwMDE",
)

OFFICIAL_ACCOUNT = DemoApp(
    app_id="wx5iyudemo000001",
    agent_id="",
    secret="siyu-demo-oa-app-secret-000000001",  # noqa: S106
    token="siyuDemoOaToken",  # noqa: S106
    encoding_aes_key="c2l5dWRlbW9vZmZpY2lhbGFjY291bnRhZXNrZXkwMDE",
)

MINIPROGRAM = DemoApp(
    app_id="wx5iyudemomp00001",
    agent_id="",
    secret="siyu-demo-miniprogram-secret-0001",  # noqa: S106
    token="",
    encoding_aes_key="",
)


@dataclass(frozen=True)
class DemoPayMerchant:
    """The demo's WeChat Pay merchant: Siyu holds the merchant key, the simulator the platform key. Both private keys
    are here because both sides are local demo software; a real merchant's keys are entered in the console."""

    mch_id: str
    app_id: str
    merchant_serial_no: str
    apiv3_key: str
    platform_key_id: str
    merchant_private_key: str
    platform_private_key: str


PAY_MERCHANT = DemoPayMerchant(
    mch_id="1900000109",
    app_id=MINIPROGRAM.app_id,
    merchant_serial_no="5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
    apiv3_key="siyuDemoPayApiV3Key0000000000001",  # noqa: S106
    platform_key_id="PUB_KEY_ID_0119000001092026120600000000000001",
    merchant_private_key=(
        "-----BEGIN PRIVATE KEY-----\n"
        "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDgIQGW8vXuT8i5\n"
        "9haEr6Vu6p4dMBFB7pc1nIFZBLv37dZy2uprRvdqRN2SEXNOaxnRCI9JFKE4yhBQ\n"
        "VuX58yJtxd6xh6hlapp06ZS9pOp+rlg5f6V5DHliwEEFmG5RrMSD7hXD14lcjhlE\n"
        "MlHQACHAkKuy5Y/Jg+/EkQNU8fo/JNiIzFoPyHB/BeFVgifddZxfmy4v7B5a/0wh\n"
        "h6ML1aIJwIn6sDAjIwSsnG/CS49jofCwVDYxB6aKjQsQgURqF2JFIwTJ1oDlPjJy\n"
        "bj3o7GNvktS6QhnQMsGqSmMuaDeXRTTEye3p9mnTIr6ZZYoeo5o168nE5UG5T0Uw\n"
        "2wWIPY2XAgMBAAECggEACQjA4/vBIVetSJ78bgwXyAPEVyWD3JDTHtcYePpxionX\n"
        "YLklmn4Oz7Ac75wCdiu9AP8Dqjd0VDIDkal0YFcw5mnZEyDbudLKjQyJRqeqHWxw\n"
        "+Uha5tPeOgvJKII/bXgK/SJmADHk7d/QcZOcVp0Fae9VlxgdFqCvKSY16ID5zFJg\n"
        "Nm/CrVKkW8MB5AI91osdNG4cNyXjHppwwQToPCWacxPoBe0mHwlR+Y+aOPsgz3Uk\n"
        "1cZl/5M8sJSD/MZFpcAuw/ZMJzeMIX6xPCb3vHTPEG3QMg6/qqJZRSyE22Dy75h9\n"
        "u6Sxufurc6CsI20Wa7NLNDs/roTMLNNgenZIWI5uUQKBgQD+NtqCpdZwvidjc91U\n"
        "MjNDVs12usvmT/WcLjKFk9pIIVdZ2SfO71P4sMkQ0jeS7ltFFBC6p4rRKw5q15Ev\n"
        "7gqd4Yv3yaIo6JDAywPAiyulMAEoxO69vpVWb6EVm+wxACQR00rKqQcVT+ln4L3y\n"
        "pOOG4oBo7FG+nq+vpWtl6ZKU/wKBgQDhtA0Pznke0mgJ4V9j/JHvIBA67/avEFiJ\n"
        "RZN3nuPftG7133TtxDEmQeYxLDlpvxesdUikA9w6+7D2mrnFNhDqnx46HD1zolf2\n"
        "6xIetco42MsT9CLFRjwZhFUN4YQab6VzCpY7D0/GzbPKCGu3kqax2X84fW+Ock3s\n"
        "6DuichyPaQKBgQDAotSGeCC9onq6lEw9xyStfJOJyxdD2Yem6CMEsfuQ+SL2ROYz\n"
        "m4woQd67TnEqeFDVUdUzfE5nHpd4Qw4UIfANn6KvDC5DjahTUAPx3gQe0vet6z12\n"
        "r3r+2uxYMaWTpCWxFEnytI9XiQy32MhXnLeFuRHRcHKpXhqHoXR2775SBQKBgAqL\n"
        "lQimBvavsfi0NPbA+DiJ8Pgv+gCX7OsM+yTdoZv0HDMUq6voPLui3JRzkoMkUIDY\n"
        "QfqXy5Rd6hi7he525jdwE8N3Sk+6yA1bUk9pAvfA+UwHXhCFhY1Tp32sibWKfdpw\n"
        "JjDAOGP7fGj2F8JN8cfhd5Y2Fh47rPRirVabqkXxAoGBAMlzitfL11/cTXlmS5wF\n"
        "PSnTDiyU1UTESN+yklg2S3l07uq0DXGJDV3Mhz0bFbAMpU65c9HSGXmuQCHUE7Yp\n"
        "hv8JvKmqWCE6Oas7gMHBoctBk3rOYgw+RqaihjgvBN2zUr2/uAZJ3eRdEvCuxttd\n"
        "YjVuce7F7ZMUI6JLbLMeR59F\n"
        "-----END PRIVATE KEY-----\n"
    ),
    platform_private_key=(
        "-----BEGIN PRIVATE KEY-----\n"
        "MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQCWX7yTh4+us3sl\n"
        "dSpLyUYKASQW7kDZBmu8CrtiTeHR6g/F0dyq7iENdJw/pV7IssyYOnBlZX0SjCne\n"
        "nw+Vk3RCf6SovWmChKXxxTikGgE6WXNjVK+gtG/y5ZB9+HfOUz+O5Y51AoM+W2oI\n"
        "dp1+5HlYPjbKUO7c60PABhGsAQh0B4mHsTZtZ+g8/S5wcp4s/HkS6OIaumTHGAzu\n"
        "kE9bYO8Fbtw9159qfbUjVZnMQytp7cQRWdZBeYHllmE8jnt0VMgsQDlcKFZqAHcy\n"
        "ClQX6sgDH5jSL1tcoj36Hlc9hG8TFaUqambAiLKgpd61hwkn+CRhqPa20bmSoWZh\n"
        "cVQXmVEhAgMBAAECggEANlMH0VRb+AUnK/UT/qUMBHk9DHuuObk0Go7V+0GfnzIr\n"
        "2I9kZOv6TN4fxG59u4u8lhImoLr1YEn6pk5YVvUaPxvV5I/pGhnJyXoyaDZs0yOV\n"
        "qADkIe6NsvZ0KM4mmgdBIuKTgHoT5+cme0A+zaTEobh4Gsb6RB1KMIkAwV7uKtww\n"
        "MyxmXdRH31Kw2PkOTYzI/hYLSASYu+TO3P/bTypbFdth/+Q8KiGOnMJrroUdAbl0\n"
        "mvioqXYRWtOk+W+fIrc+5g4xc0oxZu9ME8xwDuhBl2zsowCeMOT8AE7Tvqn9T0bb\n"
        "GlyYKpbuzl1bGoTnT2iTo3Sj0NypLS4IXzgl8Ia9sQKBgQDQQjOtYgLrj+9uGGM3\n"
        "tK6/M7VnzzNyQwbM3SuWJDgEqPK7Tg7kUztrRkYzdOuTmFQyCw+yoZ7gzfrcIw+l\n"
        "JYZ62Gx3UWpth1XVpWzXwI5Z57+hHgKCciU9ll8x5tzqP5V5+w5oIundqkcsy+K8\n"
        "SO0p5AWlgi1zR6jXy7Ki8lPb4wKBgQC42IknMArVoAHxLXAStW0vWkJiZf9vaw1I\n"
        "3xteArjfSW2OBbsxWwORM64Ju0kb9jTboeQzmq19DgnPm82MBXhuqNiQauRD9XkT\n"
        "nFpRtAsoLJrJpIxU5iD/d6eS4EJFBJaXCehbyUUdesIRoKKB2Y0hMx0/lh+PUrio\n"
        "vOycjRC2KwKBgQDK20F1KNxJUknZxt2WXGQ/EIIqXRTyvsE3+lPDiwIZ3+uYcV9m\n"
        "HoDpbGljJAd4HFAe8tFWocGdnmY12d0ac2P78yYsT1zI1aPRWLKdsg23G1t4+D9f\n"
        "iwolZHzTodocPtU+HUMaQq/k4EE2LF9uIecJ//dUEWpuOSYJFXyq5jqzGwKBgQCI\n"
        "LD0d+W6B4daMbgTaQ32kHMI66xk6Y4rt3C61GxxGojlrHx3ARmRiW8gisy4wwzg9\n"
        "dQ5AVfro3aasowLR3FXUb97axWRUDEqd/9kpx5FQj0uYsPgQs1gr22I/+aXYYoDt\n"
        "1AaxV5zrErxVcBlHv5UQmC874MRvOWmAJW3KBsIA8QKBgQCZMuiH60YwXDvirSvC\n"
        "YTVKco4xH4MBPEO4+kmQRi1zq9g0kg2r74Ilg8Etw1UXtZOY+EvJV6BMuFAbyEe9\n"
        "bhAS8sawOFTvYeQDv4dHhtAMG8Dv+rkgEoVgDOsKPN1HQvuZ7sn5XbVX/iirQFM6\n"
        "pvsCNugwyH8zN1Oc9tfQQyma2A==\n"
        "-----END PRIVATE KEY-----\n"
    ),
)


# The demo SMS provider's callback secret (receipts and replies are signed with it; siyu.channels.sms.wire). Siyu reads
# SIYU_SMS_CALLBACK_SECRET, whose default is this value.
SMS_CALLBACK_SECRET = "siyu-demo-sms-callback-secret-0001"  # noqa: S105
