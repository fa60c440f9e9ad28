"""Estado de cuenta maestra (issue 13): a month of the master account as a one-page PDF, laid out
like a bank statement: the account, the period, the opening balance, the month's movements
grouped by kind (with how many of each) and the closing balance. xhtml2pdf, as the service
order: a page-like document (the long tables of the reports use reportlab, report_pdf.py)."""

import io

from flask import current_app

from models import Product, utcnow
from services.exports import local
from services.reports import Statement, month_label

TEMPLATE = "reports/statement_pdf.html"


def statement_html(product: Product, found: Statement) -> str:
    # The app's Jinja environment (filters) without its context processors, as order_pdf.py.
    template = current_app.jinja_env.get_template(TEMPLATE)
    return template.render(
        product=product, company=product.company, statement=found, month=month_label(found.month, True),
        printed=local(utcnow()),
    )  # fmt: skip


def statement_pdf(product: Product, found: Statement) -> bytes:
    from xhtml2pdf import pisa

    out = io.BytesIO()
    status = pisa.CreatePDF(statement_html(product, found), dest=out, encoding="utf-8")
    if status.err:
        raise RuntimeError(f"xhtml2pdf failed for the statement of product {product.id}")
    return out.getvalue()
