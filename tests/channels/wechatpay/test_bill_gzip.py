"""GZIP trade-bill downloads against the simulator (which compresses with its own code): the bill arrives
decompressed, its SHA1 is checked over the decompressed bill (the platform's rule), and a wrong hash, a truncated or
corrupt GZIP file, bytes after its end and a file that inflates past the size limit are all refused."""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from datetime import datetime, timedelta

import pytest

from simulator import wechatpay as sim
from simulator.state import current
from siyu.channels.wechatpay.client import BillBadGzip, BillHashMismatch, PayClient, PayError, _inflate
from siyu.core.timeutil import SHANGHAI
from tests.channels.wechatpay.conftest import PaySim

DAY = (datetime.now(SHANGHAI) - timedelta(days=2)).date()


def _plant(p: PaySim) -> bytes:
    """Two payments and a refund on DAY; the plain bill as the simulator writes it (what we must end up with)."""
    platform = current().wechatpay
    noon = datetime(DAY.year, DAY.month, DAY.day, 12, tzinfo=SHANGHAI)
    platform.plant_trade(p.merchant.mch_id, "SYGZIP000001", 12345, at=noon, description='名称, 带 "引号"\\')
    platform.plant_trade(p.merchant.mch_id, "SYGZIP000002", 99, at=noon + timedelta(hours=1))
    platform.plant_refund(p.merchant.mch_id, "SYGZIP000001", "RGZIP0000001", 345, at=noon + timedelta(hours=2))
    return platform.trade_bill(p.merchant.mch_id, DAY.isoformat())


def test_a_gzip_bill_is_decompressed_and_its_sha1_checked_over_the_plain_bill(pay_sim: PaySim) -> None:
    plain = _plant(pay_sim)
    client = PayClient(pay_sim.credentials)
    ref = client.trade_bill(DAY, gzip=True)
    assert ref.gzip and ref.hash_value == hashlib.sha1(plain).hexdigest()  # noqa: S324
    out = io.BytesIO()
    done = client.download_bill(ref, out)
    assert out.getvalue() == plain and done.size == len(plain) and done.sha1 == ref.hash_value
    assert plain.count(b"\r\n") == 6  # header, 3 rows, summary header and row


def test_a_gzip_bill_whose_hash_does_not_match_is_refused(pay_sim: PaySim) -> None:
    _plant(pay_sim)
    current().wechatpay.bill_tweaks[(pay_sim.merchant.mch_id, DAY.isoformat())] = sim.BillTweaks(wrong_hash=True)
    client = PayClient(pay_sim.credentials)
    with pytest.raises(BillHashMismatch):
        client.download_bill(client.trade_bill(DAY, gzip=True), io.BytesIO())


def test_a_truncated_gzip_bill_is_refused(pay_sim: PaySim) -> None:
    _plant(pay_sim)
    current().wechatpay.bill_tweaks[(pay_sim.merchant.mch_id, DAY.isoformat())] = sim.BillTweaks(broken_gzip=True)
    client = PayClient(pay_sim.credentials)
    with pytest.raises(BillBadGzip) as caught:
        client.download_bill(client.trade_bill(DAY, gzip=True), io.BytesIO())
    assert caught.value.platform_code == "BILL_BAD_GZIP"


def test_a_gzip_bill_that_inflates_past_the_limit_stops_there(pay_sim: PaySim) -> None:
    plain = _plant(pay_sim)
    client = PayClient(pay_sim.credentials)
    with pytest.raises(PayError) as caught:
        client.download_bill(client.trade_bill(DAY, gzip=True), io.BytesIO(), max_bytes=len(plain) - 1)
    assert caught.value.platform_code == "BILL_TOO_LARGE"


def test_an_unknown_tar_type_is_refused_by_the_platform(pay_sim: PaySim) -> None:
    _plant(pay_sim)
    with pytest.raises(PayError) as caught:
        PayClient(pay_sim.credentials).call("GET", f"/v3/bill/tradebill?bill_date={DAY.isoformat()}&tar_type=ZIP")
    assert caught.value.platform_code == "PARAM_ERROR"


def test_inflating_refuses_what_is_not_one_gzip_stream() -> None:
    packed = gzip.compress(b"a" * 5000)
    with pytest.raises(BillBadGzip):
        _inflate(zlib.decompressobj(wbits=16 + zlib.MAX_WBITS), b"PK\x03\x04 not gzip", 10**6)
    with pytest.raises(BillBadGzip):  # a second stream (or garbage) after the first one's end
        _inflate(zlib.decompressobj(wbits=16 + zlib.MAX_WBITS), packed + b"junk", 10**6)
    whole = _inflate(zlib.decompressobj(wbits=16 + zlib.MAX_WBITS), packed, 10**6)
    assert b"".join(whole) == b"a" * 5000
    # a bomb: 10 MB of zeros inflates no further than the room given (+ one chunk at most)
    bomb = gzip.compress(bytes(10 * 1024 * 1024))
    pieces = _inflate(zlib.decompressobj(wbits=16 + zlib.MAX_WBITS), bomb, 1000)
    assert 1000 < sum(len(x) for x in pieces) <= 1024 * 1024
