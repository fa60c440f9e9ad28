"""GET /salud: the health check for a load balancer (public, no session, JSON).

200 when the database answers and every background job has a fresh heartbeat; 503 when the
database is unreachable or a job's heartbeat is stale (services/health.py says when).
"""

from flask import Blueprint, jsonify

from services import health

bp = Blueprint("health", __name__)


@bp.get("/salud")
def check():
    healthy, report = health.health()
    response = jsonify({"status": "ok" if healthy else "error", **report})
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response
