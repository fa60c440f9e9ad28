"""Service-order costs (domain/fees.py, SPEC §7): hand-computed cases, rounding, grouping.

Money is in centavos: 1_000 = $ 10,00; 500_000 = $ 5.000,00.
"""

import dataclasses
import random
from decimal import Decimal
from fractions import Fraction
from types import SimpleNamespace

import pytest

from domain.fees import (
    BatchCost,
    BatchInput,
    FeeSchedule,
    OrderQuote,
    batch_cost,
    plan_orders,
    quote_order,
    round_cents,
)
from domain.layouts import BatchKind


@pytest.fixture(autouse=True)
def clean_db():
    """Pure functions: replaces conftest's clean_db so these tests need no app or database."""
    yield


# The demo products: named card $ 10,00, distribution $ 5.000,00 per batch, recharge
# 1 % (minimum $ 100,00), IVA 19 %, GMF 4 ‰. The issue gives no unnamed price: $ 8,00 here.
DEMO = FeeSchedule(
    card_price_named=1_000,
    card_price_unnamed=800,
    distribution_cost=500_000,
    recharge_rate=Decimal("0.01"),
    recharge_min=10_000,
    iva_rate=Decimal("0.19"),
    gmf_rate=Decimal("0.004"),
)
NO_FEES = FeeSchedule(iva_rate=Decimal("0"), gmf_rate=Decimal("0"))


def emi(number, records):
    return BatchInput(number, "EMI", (), records)


def inn(number, records):
    return BatchInput(number, "INN", (), records)


def afi(number, records):
    return BatchInput(number, "AFI", (), records)


def rec(number, *amounts):
    return BatchInput(number, "REC", amounts)


def half_up(x: Fraction) -> int:
    """Reference rounding on exact fractions (no Decimal involved): floor(x + 1/2), x ≥ 0."""
    return (2 * x.numerator + x.denominator) // (2 * x.denominator)


def assert_consistent(order: OrderQuote):
    """Every sum a person can redo on the screen or the PDF holds to the centavo."""
    for b in order.batches:
        assert b.card_price_total == b.records * b.unit_price
        assert b.commission == b.card_price_total + b.distribution + b.recharge_commission
        assert b.commission_plus_gmf == b.commission + b.gmf
        assert b.amount >= 0
    assert order.commission == sum(b.commission_plus_gmf for b in order.batches)
    assert order.iva_base == sum(b.commission for b in order.batches)
    assert order.commission == order.iva_base + order.gmf
    assert order.iva_base == order.card_price_total + order.distribution + order.recharge_commission
    assert order.iva == half_up(Fraction(order.iva_rate) * order.iva_base)
    assert order.os_total == order.commission + order.iva
    assert order.amount == sum(b.amount for b in order.batches)
    assert order.total_to_pay == order.os_total + order.amount


# ---------------------------------------------------------------- the manual's example


@pytest.mark.parametrize(
    "fees, batch",
    [
        # One named card at $ 10,00, no distribution, no amount: commission 10,00.
        (FeeSchedule(card_price_named=1_000, iva_rate=Decimal("0.12"), gmf_rate=Decimal("0")), emi("1", 1)),
        # One recharge of $ 1.000,00 at 1 % = 10,00 (minimum 5,00 not reached), no GMF.
        (
            FeeSchedule(recharge_rate=Decimal("0.01"), recharge_min=500, iva_rate=Decimal("0.12"), gmf_rate=0),
            rec("1", 100_000),
        ),
    ],
    ids=["EMI", "REC"],
)
def test_manual_example_commission_10_iva_12_percent(fees, batch):
    # Monto comisión 10,00; IVA 12 % × 10,00 = 1,20; Monto OS 10,00 + 1,20 = 11,20.
    order = quote_order([batch], fees)
    assert (order.commission, order.iva, order.os_total) == (1_000, 120, 1_120)
    assert order.iva_rate == Decimal("0.12")
    assert order.total_to_pay == 1_120 + order.amount
    assert_consistent(order)


# ---------------------------------------------------------------- the demo fees, batch by batch


def test_emi_batch_of_three_named_cards():
    # 3 × 10,00 = 30,00 + distribution 5.000,00 = 5.030,00; no amounts → GMF 0.
    # IVA 19 % × 5.030,00 = 955,70; Monto OS 5.030,00 + 955,70 = 5.985,70; Monto 0.
    order = quote_order([emi("L1", 3)], DEMO)
    (b,) = order.batches
    assert b == BatchCost(
        number="L1",
        kind=BatchKind.EMI,
        records=3,
        amount=0,
        card_price_total=3_000,
        unit_price=1_000,
        distribution=500_000,
        recharge_commission=0,
        commission=503_000,
        gmf=0,
        commission_plus_gmf=503_000,
    )
    assert (order.commission, order.iva, order.os_total, order.amount, order.total_to_pay) == (
        503_000,
        95_570,
        598_570,
        0,
        598_570,
    )
    assert order.kind is BatchKind.EMI
    assert_consistent(order)


def test_inn_batch_unnamed_price_plus_distribution():
    # 10 × 8,00 = 80,00 + 5.000,00 = 5.080,00; IVA 19 % = 965,20; Monto OS 6.045,20.
    order = quote_order([inn("I1", 10)], DEMO)
    (b,) = order.batches
    assert (b.unit_price, b.card_price_total, b.distribution, b.commission) == (800, 8_000, 500_000, 508_000)
    assert (order.commission, order.iva, order.os_total, order.total_to_pay) == (508_000, 96_520, 604_520, 604_520)
    assert_consistent(order)


def test_afi_batch_pays_no_card_price_and_no_distribution():
    # Affiliation assigns cards that already exist: nothing to charge.
    order = quote_order([afi("A1", 4)], DEMO)
    (b,) = order.batches
    assert (b.records, b.unit_price, b.card_price_total, b.distribution, b.recharge_commission) == (4, 0, 0, 0, 0)
    assert (order.commission, order.iva, order.os_total, order.amount, order.total_to_pay) == (0, 0, 0, 0, 0)
    assert_consistent(order)


@pytest.mark.parametrize("make", [emi, inn], ids=["EMI", "INN"])
def test_card_batch_without_records_has_no_distribution(make):
    # No card is created, so no batch of cards is distributed.
    (b,) = quote_order([make("X", 0)], DEMO).batches
    assert (b.card_price_total, b.distribution, b.commission) == (0, 0, 0)


def test_rec_batch_below_and_above_the_minimum():
    # 1 % × 5.000,00 = 50,00 → minimum 100,00; 1 % × 150.000,00 = 1.500,00.
    # Recharge commission 1.600,00; Monto 155.000,00; GMF 4 ‰ × 155.000,00 = 620,00.
    # Monto comisión 1.600,00 + 620,00 = 2.220,00; IVA 19 % × 1.600,00 = 304,00 (GMF is not taxed);
    # Monto OS 2.220,00 + 304,00 = 2.524,00; Total a pagar 2.524,00 + 155.000,00 = 157.524,00.
    order = quote_order([rec("R1", 500_000, 15_000_000)], DEMO)
    (b,) = order.batches
    assert (b.records, b.amount, b.unit_price, b.card_price_total, b.distribution) == (2, 15_500_000, 0, 0, 0)
    assert (b.recharge_commission, b.commission, b.gmf, b.commission_plus_gmf) == (160_000, 160_000, 62_000, 222_000)
    assert (order.commission, order.iva_base, order.iva, order.os_total) == (222_000, 160_000, 30_400, 252_400)
    assert (order.amount, order.total_to_pay) == (15_500_000, 15_752_400)
    assert order.kind is BatchKind.REC
    assert_consistent(order)


@pytest.mark.parametrize(
    "amount, commission",
    [
        (500_000, 10_000),  # 1 % × 5.000,00 = 50,00 → minimum 100,00
        (999_999, 10_000),  # 99,99999 → minimum 100,00
        (1_000_000, 10_000),  # exactly the minimum
        (1_000_049, 10_000),  # 100,0049 → 100,00
        (1_000_050, 10_001),  # 100,005 → 100,01 (half-up)
        (15_000_000, 150_000),  # 1 % × 150.000,00 = 1.500,00
        (1, 10_000),  # 0,01 → minimum
        (0, 10_000),  # the minimum is per record, whatever its amount
    ],
)
def test_recharge_commission_per_record(amount, commission):
    assert batch_cost(rec("R", amount), DEMO).recharge_commission == commission


@pytest.mark.parametrize(
    "amount, gmf",
    [
        (15_500_000, 62_000),  # 4 ‰ × 155.000,00 = 620,00
        (12_345_678, 49_383),  # 4 ‰ × 123.456,78 = 493,82712 → 493,83
        (124, 0),  # 0,00496 → 0,00
        (125, 1),  # 0,005 → 0,01 (half-up)
        (375, 2),  # 0,015 → 0,02
        (625, 3),  # 0,025 → 0,03 (banker's rounding would give 0,02)
        (0, 0),
    ],
)
def test_gmf_is_4_per_thousand_of_the_amount(amount, gmf):
    fees = FeeSchedule(gmf_rate=Decimal("0.004"))
    b = batch_cost(rec("R", amount), fees)
    assert (b.amount, b.gmf, b.commission, b.commission_plus_gmf) == (amount, gmf, 0, gmf)


# ---------------------------------------------------------------- rounding


@pytest.mark.parametrize(
    "value, cents",
    [
        (Decimal("0.5"), 1),  # 0,005 pesos → 0,01
        (Decimal("0.4999"), 0),
        (Decimal("1.5"), 2),
        (Decimal("2.5"), 3),  # half-up, not half-even
        (Decimal("28.5"), 29),
        (Decimal("100.0049"), 100),
        (Decimal("0"), 0),
        (Decimal("12345678901234567890.5"), 12345678901234567891),
    ],
)
def test_round_cents_half_up(value, cents):
    result = round_cents(value)
    assert result == cents
    assert type(result) is int


@pytest.mark.parametrize(
    "card_price, iva",
    [
        (50, 10),  # 19 % × 0,50 = 0,095 → 0,10
        (150, 29),  # 0,285 → 0,29 (half-even would give 0,28)
        (250, 48),  # 0,475 → 0,48
        (149, 28),  # 0,2831 → 0,28
        (1_000, 190),
    ],
)
def test_iva_rounds_half_up(card_price, iva):
    fees = FeeSchedule(card_price_named=card_price, iva_rate=Decimal("0.19"), gmf_rate=0)
    order = quote_order([emi("E", 1)], fees)
    assert (order.iva, order.os_total) == (iva, card_price + iva)


@pytest.mark.parametrize(
    "records, amount, commission",
    [
        # 1 % of 0,50 = 0,005 each. Exact: 1.000 × 0,005 = 5,00. Rounding each record first would
        # give 1.000 × 0,01 = 10,00; truncating each, 0,00.
        (1_000, 50, 500),
        # 1 % of 0,40 = 0,004 each. Exact 3 × 0,004 = 0,012 → 0,01 (each rounded: 0,00).
        (3, 40, 1),
        # 1 % of 0,45 = 0,0045 each. Exact 7 × 0,0045 = 0,0315 → 0,03 (each rounded: 0,00).
        (7, 45, 3),
        # 1 % of 1,25 = 0,0125 each. Exact 2 × 0,0125 = 0,025 → 0,03 (each rounded: 0,02).
        (2, 125, 3),
    ],
)
def test_recharge_commission_is_rounded_once_per_batch_not_per_record(records, amount, commission):
    fees = FeeSchedule(recharge_rate=Decimal("0.01"), recharge_min=0, iva_rate=0, gmf_rate=0)
    order = quote_order([rec("R", *[amount] * records)], fees)
    (b,) = order.batches
    assert b.recharge_commission == commission
    assert order.commission == commission
    assert_consistent(order)


def test_every_displayed_sum_holds_when_parts_are_rounded():
    # Recharge commission 0,4 % × 1,00 = 0,004 → 0,00; GMF 0,4 % × 1,00 = 0,004 → 0,00.
    # Their exact sum 0,008 would round to 0,01, but "Monto comisión + GMF" is the sum of the
    # two figures it is made of: 0,00 (documented in domain/fees.py).
    fees = FeeSchedule(recharge_rate=Decimal("0.004"), recharge_min=0, iva_rate=0, gmf_rate=Decimal("0.004"))
    (b,) = quote_order([rec("R", 100)], fees).batches
    assert (b.recharge_commission, b.gmf, b.commission_plus_gmf) == (0, 0, 0)


def test_order_commission_is_the_sum_of_its_batches():
    # Two batches of $ 1,25 each: GMF 4 ‰ = 0,005 → 0,01 per batch. The order's Monto comisión
    # is what its batches show, 0,01 + 0,01 = 0,02 (rounding the exact 0,010 would say 0,01).
    fees = FeeSchedule(gmf_rate=Decimal("0.004"), iva_rate=0)
    order = quote_order([rec("R1", 125), rec("R2", 125)], fees)
    assert [b.commission_plus_gmf for b in order.batches] == [1, 1]
    assert order.commission == 2
    assert_consistent(order)


def test_iva_is_rounded_once_per_order():
    # Two named cards at 0,50 in two batches: commission 0,50 + 0,50 = 1,00, IVA 19 % = 0,19.
    # Rounding IVA per batch would give 0,095 → 0,10 twice = 0,20.
    fees = FeeSchedule(card_price_named=50, iva_rate=Decimal("0.19"), gmf_rate=0)
    (by_type,) = plan_orders([emi("E1", 1), emi("E2", 1)], fees, by="type")
    assert (by_type.commission, by_type.iva, by_type.os_total) == (100, 19, 119)
    by_batch = plan_orders([emi("E1", 1), emi("E2", 1)], fees, by="batch")
    assert [(o.commission, o.iva, o.os_total) for o in by_batch] == [(50, 10, 60), (50, 10, 60)]


def test_exact_with_long_rates_and_large_amounts():
    # 19 significant digits of rate × 14 digits of amount exceed the default 28-digit context.
    rate = Decimal("0.0123456789012345678")
    amounts = [99_999_999_999_999, 12_345_678_901_234, 7]
    fees = FeeSchedule(recharge_rate=rate, recharge_min=0, gmf_rate=rate, iva_rate=rate)
    order = quote_order([rec("R", *amounts)], fees)
    (b,) = order.batches
    exact_recharge = sum(Fraction(rate) * a for a in amounts)
    assert b.recharge_commission == half_up(exact_recharge)
    assert b.gmf == half_up(Fraction(rate) * sum(amounts))
    assert order.iva == half_up(Fraction(rate) * b.commission)
    assert_consistent(order)


def test_no_silent_rounding_in_the_28_digit_default_context():
    # 0,5000100000000000001 × 99.999.999.999.999 = 50.000.999.999.999,4999999999999999999 centavos
    # exactly (33 digits) → 50.000.999.999.999. A 28-digit context would first make it ...,5000
    # and then round it up.
    fees = FeeSchedule(gmf_rate=Decimal("0.5000100000000000001"), iva_rate=0)
    assert batch_cost(rec("R", 99_999_999_999_999), fees).gmf == 50_000_999_999_999


def test_random_orders_match_a_fraction_reference():
    """Against an independent reference in exact fractions, on many random inputs."""
    rng = random.Random(20240607)
    kinds = ["EMI", "INN", "AFI", "REC"]
    for _ in range(300):
        fees = FeeSchedule(
            card_price_named=rng.randrange(0, 2_000_000),
            card_price_unnamed=rng.randrange(0, 2_000_000),
            distribution_cost=rng.randrange(0, 3_000_000),
            recharge_rate=Decimal(rng.randrange(0, 100_000)).scaleb(-rng.randrange(2, 8)),
            recharge_min=rng.randrange(0, 200_000),
            iva_rate=Decimal(rng.randrange(0, 30)).scaleb(-2),
            gmf_rate=Decimal(rng.randrange(0, 10_000)).scaleb(-rng.randrange(3, 7)),
        )
        batches = []
        for n in range(rng.randrange(1, 6)):
            kind = rng.choice(kinds)
            records = rng.randrange(0, 20)
            if kind == "REC":
                batches.append(rec(f"B{n}", *[rng.randrange(0, 10**9) for _ in range(records)]))
            else:
                batches.append(BatchInput(f"B{n}", kind, (), records))
        for by in ("type", "batch"):
            orders = plan_orders(batches, fees, by=by)
            assert [b.number for o in orders for b in o.batches] == [b.number for b in _grouped(batches, by)]
            assert len(orders) == (len(batches) if by == "batch" else len({b.kind for b in batches}))
            for order in orders:
                assert_consistent(order)
                for b in order.batches:
                    _check_batch_against_reference(b, batches, fees)


def _grouped(batches, by):
    if by == "batch":
        return list(batches)
    order = list(dict.fromkeys(b.kind for b in batches))
    return sorted(batches, key=lambda b: order.index(b.kind))


def _check_batch_against_reference(b: BatchCost, batches, fees: FeeSchedule):
    source = next(x for x in batches if x.number == b.number)
    unit = {"EMI": fees.card_price_named, "INN": fees.card_price_unnamed}.get(source.kind, 0)
    distribution = fees.distribution_cost if source.kind in ("EMI", "INN") and source.records else 0
    recharge = Fraction(0)
    if source.kind == "REC":
        recharge = sum(
            (max(Fraction(fees.recharge_rate) * a, Fraction(fees.recharge_min)) for a in source.amounts), Fraction(0)
        )
    exact_commission = source.records * unit + distribution + recharge
    assert b.commission == half_up(exact_commission)
    assert b.gmf == half_up(Fraction(fees.gmf_rate) * sum(source.amounts))
    # Each displayed batch figure is within half a centavo of its exact value; their sum within one.
    assert abs(b.commission_plus_gmf - exact_commission - Fraction(fees.gmf_rate) * sum(source.amounts)) <= 1


# ---------------------------------------------------------------- grouping


MIXED = [
    emi("L1", 3),  # 503.000 (5.030,00)
    rec("L2", 500_000, 15_000_000),  # commission 160.000, GMF 62.000, amount 15.500.000
    emi("L3", 2),  # 2 × 1.000 + 500.000 = 502.000
    afi("L4", 1),  # 0
    rec("L5", 1_000_000),  # commission 10.000 (1 % = minimum), GMF 4.000, amount 1.000.000
]


def test_plan_by_type_keeps_the_first_appearance_order_of_types():
    orders = plan_orders(MIXED, DEMO)  # by type is the default
    assert [o.kind for o in orders] == [BatchKind.EMI, BatchKind.REC, BatchKind.AFI]
    assert [[b.number for b in o.batches] for o in orders] == [["L1", "L3"], ["L2", "L5"], ["L4"]]
    # (Monto comisión, Monto IVA, Monto OS, Monto, Total a pagar) per order:
    # EMI: 503.000 + 502.000 = 1.005.000; IVA 19 % = 190.950; OS 1.195.950.
    # REC: (160.000 + 62.000) + (10.000 + 4.000) = 236.000; IVA 19 % × 170.000 = 32.300;
    #      OS 268.300; Monto 16.500.000; Total 16.768.300.
    # AFI: all 0.
    assert [(o.commission, o.iva, o.os_total, o.amount, o.total_to_pay) for o in orders] == [
        (1_005_000, 190_950, 1_195_950, 0, 1_195_950),
        (236_000, 32_300, 268_300, 16_500_000, 16_768_300),
        (0, 0, 0, 0, 0),
    ]
    for order in orders:
        assert_consistent(order)


def test_plan_by_batch_makes_one_order_per_batch_in_order():
    orders = plan_orders(MIXED, DEMO, by="batch")
    assert [[b.number for b in o.batches] for o in orders] == [["L1"], ["L2"], ["L3"], ["L4"], ["L5"]]
    assert [o.kind for o in orders] == ["EMI", "REC", "EMI", "AFI", "REC"]
    # L3: 502.000, IVA 95.380, OS 597.380. L5: 14.000, IVA 1.900, OS 15.900, total 1.015.900.
    assert [(o.commission, o.iva, o.os_total, o.total_to_pay) for o in orders] == [
        (503_000, 95_570, 598_570, 598_570),
        (222_000, 30_400, 252_400, 15_752_400),
        (502_000, 95_380, 597_380, 597_380),
        (0, 0, 0, 0),
        (14_000, 1_900, 15_900, 1_015_900),
    ]
    for order in orders:
        assert_consistent(order)


def test_grouping_changes_no_batch_figure_nor_commission_nor_amount():
    by_type, by_batch = plan_orders(MIXED, DEMO, by="type"), plan_orders(MIXED, DEMO, by="batch")
    key = lambda b: b.number  # noqa: E731
    assert sorted((b for o in by_type for b in o.batches), key=key) == sorted(
        (b for o in by_batch for b in o.batches), key=key
    )
    for field in ("commission", "amount", "iva_base", "gmf"):
        assert sum(getattr(o, field) for o in by_type) == sum(getattr(o, field) for o in by_batch)


def test_quote_order_of_mixed_types_has_no_kind():
    order = quote_order(MIXED, DEMO)
    assert order.kind is None
    assert len(order.batches) == 5
    # 1.005.000 + 236.000 + 0 = 1.241.000; IVA 19 % × 1.175.000 = 223.250.
    assert (order.commission, order.iva_base, order.iva) == (1_241_000, 1_175_000, 223_250)
    assert (order.os_total, order.amount, order.total_to_pay) == (1_464_250, 16_500_000, 17_964_250)
    assert_consistent(order)


def test_accepts_any_iterable_of_batches():
    assert quote_order(iter(MIXED), DEMO) == quote_order(MIXED, DEMO)
    assert plan_orders((b for b in MIXED), DEMO) == plan_orders(MIXED, DEMO)


# ---------------------------------------------------------------- refused input


@pytest.mark.parametrize("call", [quote_order, plan_orders, lambda b, f: plan_orders(b, f, by="batch")])
@pytest.mark.parametrize("empty", [[], (), iter([])])
def test_empty_input_is_refused(call, empty):
    with pytest.raises(ValueError):
        call(empty, DEMO)


def test_unknown_grouping_is_refused():
    with pytest.raises(ValueError):
        plan_orders(MIXED, DEMO, by="product")


def test_a_batch_twice_is_refused():
    with pytest.raises(ValueError):
        quote_order([emi("L1", 1), emi("L1", 1)], DEMO)


@pytest.mark.parametrize(
    "make",
    [
        lambda: rec("R", 100, -1),
        lambda: BatchInput("E", "EMI", (), -1),
        lambda: BatchInput("R", "REC", (100, 200), 3),  # a recharge needs every record's amount
        lambda: BatchInput("R", "REC", (), 2),
        lambda: BatchInput("E", "EMI", (0, 0), 3),
        lambda: BatchInput("X", "XYZ", (), 1),
    ],
)
def test_bad_batch_is_refused(make):
    with pytest.raises(ValueError):
        make()


@pytest.mark.parametrize(
    "field, value",
    [
        ("card_price_named", -1),
        ("card_price_unnamed", -100),
        ("distribution_cost", -1),
        ("recharge_min", -1),
        ("recharge_rate", Decimal("-0.01")),
        ("iva_rate", Decimal("-0.19")),
        ("gmf_rate", "-0.004"),
        ("gmf_rate", Decimal("NaN")),
        ("iva_rate", Decimal("Infinity")),
        ("iva_rate", "19 %"),
    ],
)
def test_bad_fee_schedule_is_refused(field, value):
    with pytest.raises(ValueError):
        FeeSchedule(**{field: value})


@pytest.mark.parametrize(
    "make",
    [
        lambda: FeeSchedule(iva_rate=0.19),
        lambda: FeeSchedule(gmf_rate=0.004),
        lambda: FeeSchedule(recharge_rate=0.01),
        lambda: FeeSchedule(card_price_named=1000.0),
        lambda: FeeSchedule(recharge_min=Decimal("100")),
        lambda: FeeSchedule(distribution_cost=True),
        lambda: rec("R", 100.0),
        lambda: rec("R", Decimal("100")),
        lambda: BatchInput("E", "EMI", (), 3.0),
        lambda: BatchInput("R", "REC", "100"),
        lambda: round_cents(0.5),
        lambda: round_cents(1),
    ],
)
def test_floats_and_wrong_types_are_refused(make):
    with pytest.raises(TypeError):
        make()


# ---------------------------------------------------------------- types and the product


def _walk(value):
    if dataclasses.is_dataclass(value):
        for f in dataclasses.fields(value):
            yield from _walk(getattr(value, f.name))
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _walk(item)
    else:
        yield value


def test_no_float_anywhere_money_is_int_rates_are_decimal():
    orders = plan_orders(MIXED, DEMO) + plan_orders(MIXED, DEMO, by="batch") + [quote_order(MIXED, DEMO)]
    for order in orders:
        values = list(_walk(order))
        assert not any(isinstance(v, float) for v in values)
        assert type(order.iva_rate) is Decimal
        for name in ("commission", "iva", "os_total", "amount", "total_to_pay", "iva_base", "gmf"):
            assert type(getattr(order, name)) is int
        for b in order.batches:
            for f in dataclasses.fields(BatchCost):
                if f.name not in ("number", "kind"):
                    assert type(getattr(b, f.name)) is int, f.name
    for f in dataclasses.fields(FeeSchedule):
        assert type(getattr(DEMO, f.name)) is (Decimal if f.name.endswith("_rate") else int)


def test_rates_given_as_int_or_text_become_decimal():
    fees = FeeSchedule(iva_rate="0.12", gmf_rate=0, recharge_rate=" 0.01 ")
    assert (fees.iva_rate, fees.gmf_rate, fees.recharge_rate) == (Decimal("0.12"), Decimal(0), Decimal("0.01"))
    assert all(type(r) is Decimal for r in (fees.iva_rate, fees.gmf_rate, fees.recharge_rate))


def test_from_product_reads_the_fee_fields():
    product = SimpleNamespace(
        card_price_named=1_000,
        card_price_unnamed=800,
        distribution_cost=500_000,
        recharge_rate=Decimal("0.01"),
        recharge_min=10_000,
        iva_rate=Decimal("0.19"),
        gmf_rate=Decimal("0.004"),
        affiliation_fee=0,
        replacement_fee=0,
        name="Clásica / Visa",  # other attributes are ignored
    )
    assert FeeSchedule.from_product(product) == DEMO


def test_from_product_on_an_unsaved_model_instance():
    import models

    product = models.Product(
        name="Clásica / Visa",
        card_price_named=1_000,
        card_price_unnamed=800,
        distribution_cost=500_000,
        recharge_rate=Decimal("0.01"),
        recharge_min=10_000,
    )
    assert FeeSchedule.from_product(product) == DEMO  # model defaults: IVA 0.19, GMF 0.004


def test_the_kind_is_a_batch_kind():
    assert emi("E", 1).kind is BatchKind.EMI
    assert BatchInput("E", BatchKind.INN, (), 1).kind is BatchKind.INN
    assert rec("R", 1, 2).records == 2


def test_an_affiliation_costs_the_products_fee_per_card_and_no_distribution():
    fees = FeeSchedule(card_price_unnamed=800, distribution_cost=500_000, affiliation_fee=2_500)
    cost = batch_cost(BatchInput("A", BatchKind.AFI, records=4), fees)
    assert (cost.unit_price, cost.card_price_total, cost.distribution) == (2_500, 10_000, 0)
    free = batch_cost(BatchInput("A", BatchKind.AFI, records=4), FeeSchedule(distribution_cost=500_000))
    assert (free.card_price_total, free.distribution, free.commission) == (0, 0, 0)


def test_an_innominate_request_pays_the_unnamed_price_and_one_distribution():
    cost = batch_cost(
        BatchInput("I", BatchKind.INN, records=10), FeeSchedule(card_price_unnamed=800, distribution_cost=500_000)
    )
    assert (cost.card_price_total, cost.distribution, cost.commission) == (8_000, 500_000, 508_000)


def test_a_replacement_costs_the_products_replacement_fee_and_no_distribution():
    fees = FeeSchedule(card_price_named=1_000, distribution_cost=500_000, replacement_fee=12_000)
    cost = batch_cost(BatchInput("R", BatchKind.REP, records=1), fees)
    assert (cost.unit_price, cost.card_price_total, cost.distribution, cost.commission) == (12_000, 12_000, 0, 12_000)
    free = batch_cost(BatchInput("R", BatchKind.REP, records=1), FeeSchedule(card_price_named=1_000))
    assert (free.card_price_total, free.commission) == (0, 0)
    with pytest.raises(ValueError):
        FeeSchedule(replacement_fee=-1)
