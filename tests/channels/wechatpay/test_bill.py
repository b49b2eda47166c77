"""The trade-bill parser on hand-written bills: the platform's layout (header, backticked values, summary block),
awkward product names (quoted commas and quotes, an unquoted comma, a trailing backslash), exact yuan to fen, and
bills refused for what they get wrong."""

from __future__ import annotations

import io

import pytest

from siyu.channels.wechatpay.bill import HEADER, SUMMARY, BillError, BillLine, TradeBillReader, fee_milli, fen

MCH = "1900000109"
HEAD = ",".join(HEADER)
SUM_HEAD = ",".join(SUMMARY)


def pay_row(no: str, yuan: str, product: str, fee: str = "0.01000") -> str:
    values = ["2026-11-20 10:00:00", "wx5iyudemomp00001", MCH, "0", "", "4200001", no, "o_buyer", "JSAPI", "SUCCESS",
              "OTHERS", "CNY", yuan, "0.00", "0", "0", "0.00", "0.00", "", "", "{P}", "", fee, "0.60%", yuan, "0.00",
              ""]
    return ",".join("`" + v for v in values).replace("`{P}", product)


def refund_row(no: str, refund_no: str, yuan: str, fee: str) -> str:
    values = ["2026-11-20 12:00:00", "wx5iyudemomp00001", MCH, "0", "", "4200001", no, "o_buyer", "JSAPI", "REFUND",
              "OTHERS", "CNY", "0.00", "0.00", "5000001", refund_no, yuan, "0.00", "ORIGINAL", "SUCCESS", "纸巾", "",
              fee, "0.60%", "0.00", yuan, ""]
    return ",".join("`" + v for v in values)


def read(text: str, newline: str = "\r\n") -> tuple[list[BillLine], TradeBillReader]:
    reader = TradeBillReader(io.StringIO(text.replace("\n", newline), newline=""), mch_id=MCH)
    return list(reader), reader


def bill(*rows: str, summary: str) -> str:
    return "\n".join([HEAD, *rows, SUM_HEAD, summary]) + "\n"


AWKWARD_ROWS = [
    pay_row("SY0001", "19.90", '"`抽纸, 3层 ""柔软"""'),  # quoted: a comma and quotes
    pay_row("SY0002", "0.07", "`ends with a backslash\\"),  # a trailing backslash, unquoted
    pay_row("SY0003", "1234567.89", "`逗号,没有引号"),  # an unquoted comma: glued back
    pay_row("SY0004", "100", '"`a,b\\"'),  # quoted, ending with a backslash before the closing quote
    refund_row("SY0001", "R0001", "5.00", "-0.03000"),
]


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_awkward_product_names_and_exact_amounts(newline: str) -> None:
    text = bill(*AWKWARD_ROWS, summary="`5,`1234687.86,`5.00,`0.00,`0.01000,`1234687.86,`5.00")
    rows, reader = read(text, newline)
    by_no = {(r[3], r[5]): r for r in rows}
    assert [r[17] for r in rows] == ['抽纸, 3层 "柔软"', "ends with a backslash\\", "逗号,没有引号", "a,b\\", "纸巾"]
    assert by_no[("SY0001", "")][14] == 1990 and by_no[("SY0002", "")][14] == 7
    assert by_no[("SY0003", "")][14] == 123456789 and by_no[("SY0004", "")][14] == 10000
    refund = by_no[("SY0001", "R0001")]
    assert (refund[1], refund[8], refund[9], refund[12], refund[15], refund[16]) == (
        "R", "SUCCESS", "CNY", 500, 500, -3000)
    assert reader.summary is not None and reader.summary.order_fen == 123468786 and reader.summary.count == 5
    assert reader.summary.fee_milli == 4 * 1000 - 3000


def test_a_byte_order_mark_and_a_trailing_blank_line_are_fine() -> None:
    text = "\ufeff" + bill(pay_row("SY0001", "1.00", "`x"), summary="`1,`1.00,`0.00,`0.00,`0.01000,`1.00,`0.00") + "\n"
    rows, _reader = read(text)
    assert len(rows) == 1


@pytest.mark.parametrize(("text", "value"), [("0.07", 7), ("19.9", 1990), ("100", 10000), ("-0.27", -27),
                                             ("9999999999999.99", 999999999999999), ("0.10", 10)])
def test_yuan_to_fen_is_exact(text: str, value: int) -> None:
    assert fen(text) == value


@pytest.mark.parametrize("text", ["1.234", "1e3", "", ".5", "1.", "١٢.٣٤", "+1.00", "1,00", "0x10", " 1.00", "NaN"])
def test_what_is_not_an_amount_is_refused(text: str) -> None:
    with pytest.raises(BillError) as caught:
        fen(text)
    assert caught.value.code == "bad_amount"


def test_fee_has_five_decimals() -> None:
    assert fee_milli("0.32000") == 32000 and fee_milli("-0.00001") == -1 and fee_milli("7.79") == 779000


@pytest.mark.parametrize(("summary", "label"), [
    ("`2,`1.00,`0.00,`0.00,`0.01000,`1.00,`0.00", "总交易单数"),
    ("`1,`1.00,`0.00,`0.00,`0.01000,`1.01,`0.00", "订单总金额"),
    ("`1,`1.00,`0.00,`0.00,`0.02000,`1.00,`0.00", "手续费总金额"),
    ("`1,`1.00,`0.01,`0.00,`0.01000,`1.00,`0.00", "退款总金额"),
])
def test_rows_that_do_not_add_up_to_the_summary_are_refused(summary: str, label: str) -> None:
    with pytest.raises(BillError) as caught:
        read(bill(pay_row("SY0001", "1.00", "`x"), summary=summary))
    assert caught.value.code == "summary_mismatch" and label in caught.value.message


@pytest.mark.parametrize(("text", "code"), [
    ("交易时间,商户号\n", "bad_header"),
    (HEAD + "\n" + pay_row("SY0001", "1.00", "`x") + "\n", "no_summary"),
    (bill(pay_row("SY0001", "1.00", "`x").replace("`SY0001", "SY0001"),
          summary="`1,`1.00,`0.00,`0.00,`0.01000,`1.00,`0.00"), "bad_row"),
    (bill(pay_row("SY0001", "1.00", "`x") + ",`extra", summary="`1,`1.00,`0.00,`0.00,`0.01000,`1.00,`0.00"),
     "bad_row"),
    (bill(pay_row("SY0001", "1.001", "`x"), summary="`1,`1.00,`0.00,`0.00,`0.01000,`1.00,`0.00"), "bad_amount"),
    (bill(pay_row("SY0001", "1.00", "`x").replace(MCH, "1234567890"),
          summary="`1,`1.00,`0.00,`0.00,`0.01000,`1.00,`0.00"), "wrong_merchant"),
    (bill(pay_row("SY0001", "1.00", "`x"), summary="`1,`1.00"), "no_summary"),
    (bill(pay_row("SY0001", "1.00", "`x"), summary="`1,`1.00,`0.00,`0.00,`0.01000,`1.00,`0.00") + "`more\n",
     "bad_row"),
])
def test_malformed_bills_are_refused_with_a_code(text: str, code: str) -> None:
    with pytest.raises(BillError) as caught:
        read(text)
    assert caught.value.code == code
