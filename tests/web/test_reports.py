"""Reportes through the views: the catalog, each report's page with its criteria in the URL, its
figures against the ledger and the orders, the Spanish errors of wrong criteria, the exports
(Excel and PDF, read back), permissions and another company's data never appearing."""

import io
import re
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

import ledger
from models import Card, ExportJob, LedgerPosting, MasterOperation, User, utcnow
from services import master, reports
from services.reports import local_today
from tests import batchfiles
from tests.conftest import login, post
from tests.factories import PASSWORD, make_company, make_product, make_user
from tests.jobs.test_process_orders import issue_cards, make_order, pay, rec_records

HX = {"HX-Request": "true"}


@pytest.fixture
def world(db, app):
    company = make_company("JAHC TEST", nit=batchfiles.COMPANY_NIT, branches=batchfiles.BRANCHES, balance=10**12)
    product = make_product(company, transfer_fee=5_500, inquiry_fee=6_000)
    make_user("auditor", perms={product: "reports.view"})
    make_user("ordenes", perms={product: "order.view"})
    issue_cards(product, 3)
    cards = list(Card.select().where(Card.product == product).order_by(Card.id))
    with app.app_context():
        user = make_user("tesorero", perms={product: "all"})
        master.fund_without_code(user, product, 100_000_000, "Fondeo de prueba")
        master.run(
            user, product, MasterOperation.CREDIT, [(cards[0], 2_000_000), (cards[1], 500_000)], "abonos0001", PASSWORD
        )
        master.run(user, product, MasterOperation.DEBIT, [(cards[0], 300_000)], "cargos0001", PASSWORD)
    other = make_company("OTRA SAS", nit="800111222", balance=10**12)
    other_product = make_product(other, "Oro / Visa")
    make_user("ajeno", perms={other_product: "all"})
    return {"product": product, "cards": cards, "user": user, "other": other_product}


def url(world, slug="", **args):
    base = f"/productos/{world['product'].id}/reportes"
    path = f"{base}/{slug}" if slug else f"{base}/catalogo"
    return path + ("?" + "&".join(f"{k}={v}" for k, v in args.items()) if args else "")


def text(response):
    return response.get_data(as_text=True)


def cells(html, table_id="report-table"):
    """The body rows of the result table, as lists of cell texts."""
    body = html.split(f'id="{table_id}"', 1)[1].split("</tbody>", 1)[0].split("<tbody>", 1)[1]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in rows]


def totals(html):
    block = html.split('id="report-totals"', 1)[1].split("</dl>", 1)[0]
    return dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", block))


# ---------------------------------------------------------------- catalog and access


def test_the_catalog_lists_every_report_and_the_menu_leads_to_it(client, world):
    login(client, "auditor")
    html = text(client.get(url(world)))
    for report in reports.catalog():
        assert f">{report.title}</option>" in html
        assert url(world, report.slug) in html
    assert "Catálogo de reportes" in html and "Mis descargas" in html
    chosen = client.get(url(world, reporte="saldo-al-cierre"))
    assert chosen.status_code == 302 and chosen.headers["Location"].endswith(url(world, "saldo-al-cierre"))
    assert client.get(url(world, reporte="no-existe")).status_code == 404


@pytest.mark.parametrize("slug", [r.slug for r in reports.catalog()])
def test_every_report_needs_reports_view_and_opens_with_defaults(client, world, slug):
    login(client, "ordenes")
    assert client.get(url(world, slug)).status_code == 403
    post(client, "/salir")
    login(client, "ajeno")
    assert client.get(url(world, slug)).status_code == 404  # another company's product: never said to exist
    post(client, "/salir")
    login(client, "auditor")
    response = client.get(url(world, slug))
    assert response.status_code == 200, text(response)[:400]
    html = text(response)
    assert "Criterios de búsqueda" in html and ">Buscar</button>" in html and ">Exportar Excel</button>" in html
    fragment = client.get(url(world, slug), headers=HX)
    assert fragment.status_code == 200 and "<html" not in text(fragment) and 'id="report-table"' in text(fragment)


# ---------------------------------------------------------------- Cuenta maestra


def test_the_master_account_report_lists_the_ledger_lines_with_their_balance(client, world):
    login(client, "auditor")
    html = text(client.get(url(world, "cuenta-maestra")))
    rows = cells(html)
    account = ledger.master_account(world["product"])
    postings = list(LedgerPosting.select().where(LedgerPosting.account == account.id).order_by(LedgerPosting.id))
    assert len(rows) == len(postings) == 7  # fund, 2 credits + 2 commissions, 1 debit + 1 commission
    for row, posting in zip(rows, postings, strict=True):
        shown = row[3] or row[4]
        assert (
            shown == ("-" if posting.amount < 0 else "") + f"$ {abs(posting.amount) // 100:,}".replace(",", ".") + ",00"
        )
        assert row[5].replace("$ ", "").replace(".", "").replace(",", "") == str(posting.balance_after)
    assert rows[-1][5] == "$ 977.835,00"  # 1.000.000 − 20.000 − 5.000 + 3.000 − 3 × 55 of commissions
    found = totals(html)
    assert found["Saldo inicial"] == "$ 0,00" and found["Saldo final"] == "$ 977.835,00"
    assert found["Total abonos"] == "$ 1.003.000,00" and found["Total cargos"] == "-$ 25.165,00"


def test_the_master_account_report_filters_cargo_and_abono_and_searches(client, world):
    login(client, "auditor")
    cargo = cells(text(client.get(url(world, "cuenta-maestra", tipo="cargo"))))
    assert len(cargo) == 5 and all(r[3] and not r[4] for r in cargo)
    abono = cells(text(client.get(url(world, "cuenta-maestra", tipo="abono"))))
    assert len(abono) == 2 and all(r[4] and not r[3] for r in abono)
    found = cells(text(client.get(url(world, "cuenta-maestra", q="comisi"))))
    assert len(found) == 3 and all("comisión" in r[1] for r in found)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"periodo": "rango", "fecha_inicial": "01/01/2026", "fecha_final": "30/06/2026"}, "no puede superar 3 meses"),
        (
            {"periodo": "rango", "fecha_inicial": "31/02/2026", "fecha_final": "01/03/2026"},
            "no existe en el calendario",
        ),
        ({"periodo": "rango"}, "Indica la fecha inicial y la fecha final"),
        ({"periodo": "siempre"}, "Selecciona Trimestre, Semestre o Rango de fechas"),
        ({"tipo": "robo"}, "Selecciona Cargo, Abono o Todos"),
        ({"vista": "consolidado", "anio": "1999"}, "Selecciona un año entre"),
    ],
)
def test_wrong_criteria_answer_in_spanish(client, world, args, message):
    login(client, "auditor")
    response = client.get(url(world, "cuenta-maestra", **args))
    assert response.status_code == 200 and message in text(response)
    fragment = client.get(url(world, "cuenta-maestra", **args), headers=HX)
    assert fragment.status_code == 200 and message in text(fragment) and "<html" not in text(fragment)


def test_the_annual_consolidation_ties_to_the_ledger(client, world):
    login(client, "auditor")
    year = local_today().year
    html = text(client.get(url(world, "cuenta-maestra", vista="consolidado", anio=year)))
    rows = cells(html)
    month = local_today().month
    assert len(rows) == month
    assert rows[-1][1:] == ["-$ 25.165,00", "$ 1.003.000,00", "$ 977.835,00"]
    assert all(r[1:] == ["$ 0,00", "$ 0,00", "$ 0,00"] for r in rows[:-1])
    assert "<svg" in html and "Cargos y abonos por mes" in html


# ---------------------------------------------------------------- Estado de cuenta maestra


def test_the_statement_groups_the_month_and_its_pdf_is_one_page(client, world):
    login(client, "auditor")
    month = local_today().strftime("%m/%Y")
    html = text(client.get(url(world, "estado-de-cuenta-maestra", mes=month)))
    rows = {r[0]: r[1:] for r in cells(html)}
    assert rows["Saldo inicial"] == ["", "$ 0,00"]
    assert rows["Recargas de la cuenta maestra"] == ["1", "$ 1.000.000,00"]
    assert rows["Abonos a tarjetas"] == ["2", "-$ 25.000,00"]
    assert rows["Cargos a tarjetas"] == ["1", "$ 3.000,00"]
    assert rows["Comisiones"] == ["3", "-$ 165,00"]
    assert rows["Saldo final"] == ["", "$ 977.835,00"]
    response = client.get(url(world, "estado-de-cuenta-maestra/pdf", mes=month))
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    pdf = PdfReader(io.BytesIO(response.data))
    assert len(pdf.pages) == 1
    content = pdf.pages[0].extract_text()
    for expected in ("ESTADO DE CUENTA MAESTRA", "JAHC TEST", "Saldo inicial", "Abonos a tarjetas", "$ 977.835,00"):
        assert expected in content
    wrong = client.get(url(world, "estado-de-cuenta-maestra", mes="13/2026"))
    assert wrong.status_code == 200 and "MM/AAAA" in text(wrong)


# ---------------------------------------------------------------- cards, recharges, batches


def test_cards_issued_per_month_open_their_cards(client, world):
    login(client, "auditor")
    html = text(client.get(url(world, "tarjetas-emitidas")))
    rows = cells(html)
    assert rows[-1][1:] == ["3", "0", "0", "3"]
    assert "<svg" in html and "Tarjetas emitidas por mes" in html
    link = re.search(r'href="([^"]*clase=nominadas[^"]*)"', html).group(1).replace("&amp;", "&")
    cards_html = text(client.get(link))
    listed = cells(cards_html)
    assert {r[2] for r in listed} == {c.masked_pan for c in world["cards"]}
    assert all(r[5] == "Activa" and r[1] for r in listed)


def test_recharges_are_the_processed_rec_records_of_three_months(client, world, app):
    product = world["product"]
    pay(product, 3 * 1_500_000)
    make_order(product, ("REC", rec_records(3, amount="15000.00")))
    from services import processing

    assert processing.process_paid_orders() == 1
    login(client, "auditor")
    html = text(client.get(url(world, "recargas-realizadas")))
    rows = cells(html)
    assert len(rows) == 3 and rows[-1][1:] == ["3", "$ 45.000,00"] and rows[0][1:] == ["0", "$ 0,00"]
    assert totals(html) == {"Total recargas": "3", "Monto total": "$ 45.000,00"}


def test_batch_status_lists_the_batches_of_the_period(client, world):
    login(client, "auditor")
    rows = cells(text(client.get(url(world, "estado-de-lotes"))))
    assert len(rows) == 1 and rows[0][0] == "Emisión nominada (Id persona)" and rows[0][2] == "Procesado"
    assert rows[0][3] and rows[0][5] == "3"


# ---------------------------------------------------------------- cardholders and closing balances


def test_cardholders_show_the_last_known_balance(client, world):
    login(client, "auditor")
    rows = cells(text(client.get(url(world, "tarjetahabientes"))))
    assert len(rows) == 3
    by_card = {r[1]: r for r in rows}
    first = by_card[world["cards"][0].masked_pan]
    assert first[4] == "$ 17.000,00" and first[5]


def test_the_closing_balance_at_a_past_date_is_computed_from_the_postings(client, world):
    cards = world["cards"]
    account = ledger.card_account(cards[0])
    # Move the first card's postings three days back, then credit it again today.
    Card.update(created_at=cards[0].created_at - timedelta(days=3)).where(Card.product == world["product"]).execute()
    for posting in LedgerPosting.select().where(LedgerPosting.account == account.id):
        LedgerPosting.update(created_at=posting.created_at - timedelta(days=3)).where(
            LedgerPosting.id == posting.id
        ).execute()
    master.run(world["user"], world["product"], MasterOperation.CREDIT, [(cards[0], 100_000)], "abonos0002", PASSWORD)
    reports.forget_sums()
    login(client, "auditor")
    day = (local_today() - timedelta(days=2)).strftime("%d/%m/%Y")
    html = text(client.get(url(world, "saldo-al-cierre", fecha=day)))
    by_card = {r[0]: r for r in cells(html)}
    assert by_card[cards[0].masked_pan][3] == "$ 17.000,00"  # 20.000 − 3.000, not today's 18.000
    assert by_card[cards[1].masked_pan][3] == "$ 0,00"  # its credit is today
    assert totals(html)["Saldo total en tarjetas"] == "$ 17.000,00"
    today = text(client.get(url(world, "saldo-al-cierre", fecha=local_today().strftime("%d/%m/%Y"))))
    assert totals(today)["Saldo total en tarjetas"] == "$ 23.000,00"  # 18.000 + 5.000, the cards' balances now
    assert sum(ledger.balance(ledger.card_account(c)) for c in cards) == 2_300_000
    future = client.get(url(world, "saldo-al-cierre", fecha="01/01/2099"))
    assert future.status_code == 200 and "no puede ser posterior a hoy" in text(future)


# ---------------------------------------------------------------- replacements and users


def test_replacements_list_old_and_new_card_with_the_reason(client, world, app):
    from services import cards as card_service

    old, new = world["cards"][2], world["cards"][1]
    with app.test_request_context():
        card_service.change_state(world["user"], world["product"], [old.id], "robo", PASSWORD)
    Card.update(
        replaced_by=new.id, replaced_reason="BLOQUEO_ROBO", status="REEMPLAZADA", status_changed_at=utcnow()
    ).where(Card.id == old.id).execute()
    login(client, "auditor")
    rows = cells(text(client.get(url(world, "reposiciones"))))
    assert rows == [[rows[0][0], old.masked_pan, new.masked_pan, rows[0][3], rows[0][4], "Robo"]]


def test_user_activity_opens_a_users_actions(client, world):
    login(client, "auditor")
    html = text(client.get(url(world, "actividad-por-usuario")))
    users = {r[0]: r for r in cells(html)}
    assert {"auditor", "ordenes", "tesorero"} <= set(users) and "ajeno" not in users
    tesorero = User.get(User.username == "tesorero")
    actions = cells(text(client.get(url(world, "actividad-por-usuario", usuario=tesorero.id))))
    assert any(r[1] == "Cuenta maestra" and r[2] == "Operación con tarjetas" for r in actions)
    ajeno = User.get(User.username == "ajeno")
    refused = client.get(url(world, "actividad-por-usuario", usuario=ajeno.id))
    assert refused.status_code == 200 and "no pertenece a la empresa" in text(refused)


# ---------------------------------------------------------------- exports


def test_excel_export_of_the_whole_report_reads_back_typed(client, world):
    login(client, "auditor")
    response = post(
        client, f"/productos/{world['product'].id}/exportaciones/reporte-cuenta-maestra", {"formato": "xlsx"}
    )
    assert response.status_code == 200 and "spreadsheetml" in response.mimetype
    sheet = load_workbook(io.BytesIO(response.data)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    header = values.index(["Fecha", "Descripción", "Ref.", "Cargo", "Abono", "Saldo"])
    lines = [r for r in values[header + 1 :] if r[0] is not None and r[2] is not None]
    assert len(lines) == 7 and lines[-1][5] == 977_835 and lines[0][4] == 1_000_000
    assert any(r[0] == "Saldo final" and r[1] == "$ 977.835,00" for r in values)
    assert values[0][0] == "Cuenta maestra" and "JAHC TEST" in values[1][0]


def test_pdf_export_has_the_title_block_the_table_the_totals_and_the_chart(client, world):
    login(client, "auditor")
    year = local_today().year
    response = post(
        client, f"/productos/{world['product'].id}/exportaciones/reporte-tarjetas-emitidas",
        {"formato": "pdf", "anio": str(year)},
    )  # fmt: skip
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    content = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)
    for expected in ("Tarjetas emitidas", "JAHC TEST", f"año {year}", "Nominadas", "Tarjetas emitidas por mes"):
        assert expected in content


def test_a_large_report_export_runs_in_the_background_for_its_user_only(client, world, app, monkeypatch):
    monkeypatch.setitem(app.config, "EXPORT_INLINE_ROWS", 3)
    login(client, "auditor")
    product = world["product"]
    response = post(client, f"/productos/{product.id}/exportaciones/reporte-cuenta-maestra", {"formato": "pdf"})
    assert response.status_code == 303
    job = ExportJob.get()
    assert (job.format, job.kind, job.total) == ("pdf", "reporte-cuenta-maestra", 7)
    from services import exports

    with app.app_context():
        assert exports.run_waiting() == 1
    downloads = text(client.get(f"/productos/{product.id}/exportaciones"))
    assert "Cuenta maestra" in downloads and "PDF" in downloads and "Descargar" in downloads
    pdf = client.get(f"/productos/{product.id}/exportaciones/{job.id}/descargar")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert "Saldo final" in "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    post(client, "/salir")
    make_user("colega", perms={product: "reports.view"})
    login(client, "colega")
    assert client.get(f"/productos/{product.id}/exportaciones/{job.id}/descargar").status_code == 404
    assert "Cuenta maestra" not in text(client.get(f"/productos/{product.id}/exportaciones")).split("<tbody>")[1]


@pytest.mark.parametrize("slug", ["cuenta-maestra", "tarjetahabientes", "saldo-al-cierre", "estado-de-lotes"])
def test_a_report_page_runs_the_same_queries_for_few_or_many_rows(client, world, assert_query_count, slug):
    """No query per row: the page with 3 cards and 7 ledger lines runs as many statements as the
    page with 13 cards and more lines (both fill their 10 rows or more)."""
    login(client, "auditor")
    client.get(url(world, slug))  # the kept sums, the session: what a second visit does not repeat
    with assert_query_count(30) as few:
        assert client.get(url(world, slug)).status_code == 200
    issue_cards(world["product"], 10, start=50)
    cards = list(Card.select().where(Card.product == world["product"]).order_by(Card.id))
    master.run(
        world["user"],
        world["product"],
        MasterOperation.CREDIT,
        [(c, 10_000) for c in cards[3:]],
        "abonos0003",
        PASSWORD,
    )
    reports.forget_sums()
    client.get(url(world, slug))
    with assert_query_count(30) as many:
        assert client.get(url(world, slug)).status_code == 200
    assert len(few) == len(many), (few, many)


def test_the_kept_sums_grow_with_the_horizon_and_are_never_summed_again(world, monkeypatch):
    """The part of a range before the horizon is summed once, then extended by the lines between
    the old horizon and the new one; every answer equals a fresh sum of the whole range."""
    account = ledger.master_account(world["product"])
    postings = list(LedgerPosting.select().where(LedgerPosting.account == account.id).order_by(LedgerPosting.id))
    low, high = postings[0].created_at - timedelta(days=1), postings[-1].created_at + timedelta(days=1)
    middle = postings[3].created_at
    asked, real = [], reports._sum_range

    def counting(account_id, start, end, kind):
        asked.append((start, end))
        return real(account_id, start, end, kind)

    monkeypatch.setattr(reports, "_sum_range", counting)
    reports.forget_sums()
    whole = real(account.id, low, high, "")
    for horizon in (middle, postings[-1].created_at + timedelta(seconds=1)):
        monkeypatch.setattr(reports, "_horizon", lambda h=horizon: h)
        assert reports._line_sums(account, low, high, "") == whole
    first, second = middle, postings[-1].created_at + timedelta(seconds=1)
    assert asked == [(low, first), (first, high), (first, second), (second, high)]
    assert whole.lines == 7 and whole.first_id == postings[0].id and whole.last_id == postings[-1].id


def test_an_export_reads_its_rows_in_chunks(world, monkeypatch):
    monkeypatch.setattr(reports, "EXPORT_CHUNK", 2)
    table = reports.get("cuenta-maestra").build(world["product"], {})
    lines = list(table.all_rows())
    assert [r[5] for r in lines] == [
        p.balance_after
        for p in LedgerPosting.select()
        .where(LedgerPosting.account == ledger.master_account(world["product"]).id)
        .order_by(LedgerPosting.id)
    ]


def test_the_master_account_pages_by_cursor_forward_and_back(client, world):
    product, card = world["product"], world["cards"][0]
    for n in range(10):  # 20 more lines (credit + fee): 27 in all, 3 pages
        master.run(world["user"], product, MasterOperation.CREDIT, [(card, 1_000)], f"paginas{n:04d}", PASSWORD)
    reports.forget_sums()
    account = ledger.master_account(product)
    balances = [
        f"$ {p.balance_after // 100:,}".replace(",", ".") + f",{p.balance_after % 100:02d}"
        for p in LedgerPosting.select().where(LedgerPosting.account == account.id).order_by(LedgerPosting.id)
    ]
    login(client, "auditor")
    first = text(client.get(url(world, "cuenta-maestra")))
    assert [r[5] for r in cells(first)] == balances[:10]
    link = re.search(r'href="([^"]*despues=[^"]*pagina=2[^"]*)"', first).group(1).replace("&amp;", "&")
    second = text(client.get(link))
    assert [r[5] for r in cells(second)] == balances[10:20]
    last = re.search(r'href="([^"]*ultima=1[^"]*)"', first).group(1).replace("&amp;", "&")
    third = text(client.get(last))
    assert [r[5] for r in cells(third)] == balances[20:]
    back = re.search(r'href="([^"]*antes=[^"]*pagina=2[^"]*)"', third).group(1).replace("&amp;", "&")
    assert [r[5] for r in cells(text(client.get(back)))] == balances[10:20]  # back by the «antes» cursor
