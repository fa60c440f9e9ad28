"""Demo mode only (`make run`): the e-mail outbox readable in the browser."""

from flask import Blueprint, render_template

from blueprints.pagination import paginate
from models import OutboxMessage

bp = Blueprint("demo", __name__, url_prefix="/demo")


@bp.route("/correos")
def outbox():
    """Correos enviados: every message of the outbox, newest first."""
    page = paginate(OutboxMessage.select().order_by(OutboxMessage.id.desc()))
    return render_template("demo/outbox.html", page=page)
