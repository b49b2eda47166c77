"""The message crypto against the platform's published sample vectors and against an independent SDK (wechatpy).

Vectors are the ones printed in Tencent's official WXBizMsgCrypt samples (the C#/Java/Python `Sample` files and the
Java `WXBizMsgCryptTest`), as mirrored in public repositories; each value below was checked by computing it.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wechatpy.crypto import WeChatCrypto as WechatpyOaCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WechatpyWecomCrypto
from wechatpy.exceptions import InvalidSignatureException

from siyu.channels.common.crypto import (
    RECEIVE_ID_MISMATCH,
    SIGNATURE_MISMATCH,
    CryptoError,
    MessageCrypto,
    signature,
)

# The official WeCom sample (Sample.cs / Sample.py / WXBizMsgCryptTest.testVerifyUrl).
SAMPLE_TOKEN = "QDG6eK"
SAMPLE_AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
SAMPLE_CORP_ID = "wx5823bf96d3bd56c7"
VERIFY_SIGNATURE = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
VERIFY_TIMESTAMP = "1409659589"
VERIFY_NONCE = "263014780"
VERIFY_ECHOSTR = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
VERIFY_PLAIN = "1616140317555161061"
POST_SIGNATURE = "477715d11cdb4164915debcba66cb864d751f3e6"
POST_TIMESTAMP = "1409659813"
POST_NONCE = "1372623149"
POST_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3"
    "TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5g"
    "sijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWr"
    "QUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2u"
    "yPIGHBZZIs2pDBS8R07+qN+E7Q=="
)

# The official Java SDK test (WXBizMsgCryptTest.testAesEncrypt / testAesEncrypt2): a fixed 16-byte random prefix.
OA_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
OA_APP_ID = "wxb11529c136998cb6"
OA_RANDOM = b"aaaabbbbccccdddd"
OA_REPLY = "我是中文abcd123"
OA_REPLY_ENCRYPTED = "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
OA_REPLY2 = (
    "<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName><FromUserName><![CDATA[gh_7f083739789a]]>"
    "</FromUserName><CreateTime>1407743423</CreateTime><MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA["
    "eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId><Title><![CDATA[testCallBackReplyVideo]]>"
    "</Title><Description><![CDATA[testCallBackReplyVideo]]></Description></Video></xml>"
)
OA_REPLY2_ENCRYPTED = (
    "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupqcEcW7ZQweImX9+wLMa0G"
    "aUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7"
    "CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBz"
    "sYjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4Rscu"
    "Q+RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ9Yrf57cExWtn"
    "X8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb"
)


@pytest.fixture
def sample() -> MessageCrypto:
    return MessageCrypto(token=SAMPLE_TOKEN, encoding_aes_key=SAMPLE_AES_KEY, receive_id=SAMPLE_CORP_ID)


def test_url_verification_signature_matches_the_published_one(sample: MessageCrypto) -> None:
    assert sample.sign(VERIFY_TIMESTAMP, VERIFY_NONCE, VERIFY_ECHOSTR) == VERIFY_SIGNATURE


def test_url_verification_echostr_decrypts_to_the_published_plaintext(sample: MessageCrypto) -> None:
    plain = sample.verify_and_decrypt(VERIFY_SIGNATURE, VERIFY_TIMESTAMP, VERIFY_NONCE, VERIFY_ECHOSTR)
    assert plain == VERIFY_PLAIN.encode()


def test_published_post_message_verifies_and_decrypts(sample: MessageCrypto) -> None:
    plain = sample.verify_and_decrypt(POST_SIGNATURE, POST_TIMESTAMP, POST_NONCE, POST_ENCRYPT).decode()
    assert "<ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>" in plain
    assert "<Content><![CDATA[hello]]></Content>" in plain
    assert "<MsgId>4561255354251345929</MsgId>" in plain
    assert "<AgentID>218</AgentID>" in plain


def test_published_post_message_with_a_tampered_signature_is_rejected(sample: MessageCrypto) -> None:
    with pytest.raises(CryptoError) as caught:
        sample.verify_and_decrypt("0" * 40, POST_TIMESTAMP, POST_NONCE, POST_ENCRYPT)
    assert caught.value.code == SIGNATURE_MISMATCH == -40001


def test_published_message_for_another_corp_is_rejected() -> None:
    other = MessageCrypto(token=SAMPLE_TOKEN, encoding_aes_key=SAMPLE_AES_KEY, receive_id="wwsomeoneelse")
    with pytest.raises(CryptoError) as caught:
        other.verify_and_decrypt(POST_SIGNATURE, POST_TIMESTAMP, POST_NONCE, POST_ENCRYPT)
    assert caught.value.code == RECEIVE_ID_MISMATCH == -40005


@pytest.mark.parametrize(("message", "expected"), [(OA_REPLY, OA_REPLY_ENCRYPTED), (OA_REPLY2, OA_REPLY2_ENCRYPTED)])
def test_encryption_with_a_fixed_random_prefix_matches_the_official_java_test(message: str, expected: str) -> None:
    crypto = MessageCrypto(token="pamtest", encoding_aes_key=OA_AES_KEY, receive_id=OA_APP_ID)
    assert crypto.encrypt(message, random16=OA_RANDOM) == expected
    assert crypto.decrypt(expected).decode() == message


def test_signature_is_sha1_of_the_sorted_parts() -> None:
    # sorted: "1409659589" < "263014780" < "P9nA..." < "QDG6eK" (byte order: digits, then upper case)
    import hashlib

    joined = VERIFY_TIMESTAMP + VERIFY_NONCE + VERIFY_ECHOSTR + SAMPLE_TOKEN
    expected = hashlib.sha1(joined.encode()).hexdigest()  # noqa: S324 - the platform's algorithm
    assert signature(SAMPLE_TOKEN, VERIFY_TIMESTAMP, VERIFY_NONCE, VERIFY_ECHOSTR) == expected


# --- cross-checks with wechatpy, an independent implementation -------------------------------------------------


def _wechatpy_envelope_parts(xml: str) -> tuple[str, str]:
    encrypt = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>", xml, re.S)
    sig = re.search(r"<MsgSignature><!\[CDATA\[(.*?)\]\]></MsgSignature>", xml, re.S)
    assert encrypt and sig
    return encrypt.group(1), sig.group(1)


def test_wechatpy_verifies_the_published_echostr_too() -> None:
    theirs = WechatpyWecomCrypto(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_CORP_ID)
    assert theirs.check_signature(VERIFY_SIGNATURE, VERIFY_TIMESTAMP, VERIFY_NONCE, VERIFY_ECHOSTR) == VERIFY_PLAIN


messages = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=0, max_size=300
).map(lambda body: f"<xml><Content><![CDATA[{body}]]></Content></xml>")


@settings(max_examples=60, deadline=None)
@given(message=messages, nonce=st.text(alphabet="0123456789abcdef", min_size=1, max_size=16))
def test_what_wechatpy_encrypts_we_verify_and_decrypt(message: str, nonce: str) -> None:
    theirs = WechatpyWecomCrypto(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_CORP_ID)
    ours = MessageCrypto(token=SAMPLE_TOKEN, encoding_aes_key=SAMPLE_AES_KEY, receive_id=SAMPLE_CORP_ID)
    envelope = theirs.encrypt_message(message, nonce, "1700000000")
    encrypt, sig = _wechatpy_envelope_parts(envelope)
    assert ours.verify_and_decrypt(sig, "1700000000", nonce, encrypt).decode() == message


@settings(max_examples=60, deadline=None)
@given(message=messages, nonce=st.text(alphabet="0123456789abcdef", min_size=1, max_size=16))
def test_what_we_encrypt_wechatpy_verifies_and_decrypts(message: str, nonce: str) -> None:
    theirs = WechatpyWecomCrypto(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_CORP_ID)
    ours = MessageCrypto(token=SAMPLE_TOKEN, encoding_aes_key=SAMPLE_AES_KEY, receive_id=SAMPLE_CORP_ID)
    ciphertext = ours.encrypt(message)
    envelope = (
        f"<xml><ToUserName><![CDATA[{SAMPLE_CORP_ID}]]></ToUserName><Encrypt><![CDATA[{ciphertext}]]></Encrypt></xml>"
    )
    sig = ours.sign("1700000000", nonce, ciphertext)
    assert theirs.decrypt_message(envelope, sig, "1700000000", nonce) == message


def test_our_encrypted_reply_envelope_is_accepted_by_wechatpy() -> None:
    theirs = WechatpyWecomCrypto(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_CORP_ID)
    ours = MessageCrypto(token=SAMPLE_TOKEN, encoding_aes_key=SAMPLE_AES_KEY, receive_id=SAMPLE_CORP_ID)
    reply = "<xml><Content><![CDATA[测试一下中文的情况，消息长度是按字节来算的]]></Content></xml>"
    envelope = ours.encrypted_reply(reply, "1409659813", "1372623149")
    _, sig = _wechatpy_envelope_parts(envelope)
    assert theirs.decrypt_message(envelope, sig, "1409659813", "1372623149") == reply


def test_wechatpy_rejects_our_envelope_when_the_signature_is_for_another_token() -> None:
    theirs = WechatpyWecomCrypto("another-token", SAMPLE_AES_KEY, SAMPLE_CORP_ID)
    ours = MessageCrypto(token=SAMPLE_TOKEN, encoding_aes_key=SAMPLE_AES_KEY, receive_id=SAMPLE_CORP_ID)
    envelope = ours.encrypted_reply("<xml/>", "1409659813", "1372623149")
    _, sig = _wechatpy_envelope_parts(envelope)
    with pytest.raises(InvalidSignatureException):
        theirs.decrypt_message(envelope, sig, "1409659813", "1372623149")


def test_official_account_mode_interoperates_with_wechatpy_both_ways() -> None:
    theirs = WechatpyOaCrypto("pamtest", OA_AES_KEY, OA_APP_ID)
    ours = MessageCrypto(token="pamtest", encoding_aes_key=OA_AES_KEY, receive_id=OA_APP_ID)
    encrypt, sig = _wechatpy_envelope_parts(theirs.encrypt_message(OA_REPLY2, "xxxxxx", "1409304348"))
    assert ours.verify_and_decrypt(sig, "1409304348", "xxxxxx", encrypt).decode() == OA_REPLY2
    envelope = ours.encrypted_reply(OA_REPLY2, "1409304348", "xxxxxx")
    _, sig = _wechatpy_envelope_parts(envelope)
    assert theirs.decrypt_message(envelope, sig, "1409304348", "xxxxxx") == OA_REPLY2


def test_aligned_plaintext_gets_a_whole_32_byte_padding_block(sample: MessageCrypto) -> None:
    import base64

    # 16 random + 4 length + 26 message + 18 corp id = 64 bytes, a multiple of 32: PKCS#7 to 32 adds 32 bytes.
    message = "x" * 26
    raw = base64.b64decode(sample.encrypt(message))
    assert len(raw) == 96
    theirs = WechatpyWecomCrypto(SAMPLE_TOKEN, SAMPLE_AES_KEY, SAMPLE_CORP_ID)
    ciphertext = sample.encrypt(message)
    envelope = f"<xml><Encrypt><![CDATA[{ciphertext}]]></Encrypt></xml>"
    assert theirs.decrypt_message(envelope, sample.sign("1", "2", ciphertext), "1", "2") == message
