"""A second floor for bench/bench_load.py: the portal itself (create_app: its session, login,
permission check, hooks and security headers) with one more route, /productos/<id>/piso, that
renders the product layout (header, menu, company selector) around an empty page: what every
product page pays before its own queries and table. Served by gunicorn beside `make serve`, on
the same database and SECRET_KEY, so the portal's session cookie is valid here too.

    DATABASE_URL=... SECRET_KEY=... python -m gunicorn -w N -b 127.0.0.1:PORT 'bench.session_floor:app'
"""

from jinja2 import ChoiceLoader, DictLoader

from app import create_app
from blueprints.helpers import page_or_fragment, product_view

PAGE = '{% extends "base.html" %}{% block content %}<h1>Piso</h1>{% endblock %}'


def build():
    app = create_app()
    app.jinja_loader = ChoiceLoader([DictLoader({"bench/piso.html": PAGE}), app.jinja_loader])

    @product_view()
    def floor(product):
        return page_or_fragment("bench/piso.html", "bench/piso.html")

    app.add_url_rule("/productos/<int:product_id>/piso", "bench_floor", floor)
    return app


app = build()
