"""The floor of bench/load.py: the cheapest page a Flask + peewee app can serve. One indexed
query (10 rows), a 10-row Jinja table (compiled once, as render_template does for a template
file), no session, no login; a pooled connection checked out and given back per request as the
portal does (models.open_database). Served by gunicorn exactly like the portal:

    DATABASE_URL=... python -m gunicorn -w 2 -b 127.0.0.1:PORT 'bench.minimal_app:app'
"""

import os

from flask import Flask, render_template
from jinja2 import DictLoader
from peewee import CharField, IntegerField, Model, Proxy
from playhouse.db_url import connect

database = Proxy()

PAGE = """<!doctype html>
<html lang="es"><head><meta charset="utf-8"><title>Página mínima</title></head>
<body><main><h1>Página mínima</h1>
<table><thead><tr><th>Id</th><th>Nombre</th><th>Valor</th></tr></thead><tbody>
{% for item in items %}<tr><td>{{ item.id }}</td><td>{{ item.name }}</td><td>{{ item.value }}</td></tr>{% endfor %}
</tbody></table></main></body></html>"""


class Item(Model):
    group = IntegerField(index=True)
    name = CharField(max_length=80)
    value = IntegerField()

    class Meta:
        database = database
        table_name = "bench_minimal_item"


def prepare(database_url: str, rows: int = 1000) -> None:
    """Create and fill the table (once)."""
    database.initialize(connect(database_url))
    with database.connection_context():
        database.create_tables([Item])
        if not Item.select().exists():
            Item.insert_many([{"group": i % 100, "name": f"ELEMENTO {i}", "value": i} for i in range(rows)]).execute()


def create_app() -> Flask:
    app = Flask(__name__)
    # render_template_string would compile the template on every request (no real page does).
    app.jinja_loader = DictLoader({"page.html": PAGE})
    url = os.environ["DATABASE_URL"]
    scheme, sep, rest = url.partition("://")
    database.initialize(connect(f"{scheme}+pool{sep}{rest}", max_connections=None, stale_timeout=300))

    @app.before_request
    def _connect():
        database.connect(reuse_if_open=True)

    @app.teardown_request
    def _close(_exc):
        if not database.is_closed():
            database.close()

    @app.route("/")
    def index():
        items = list(Item.select().where(Item.group == 7).order_by(Item.id).limit(10))
        return render_template("page.html", items=items)

    return app


if "DATABASE_URL" in os.environ:
    app = create_app()
