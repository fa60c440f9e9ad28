"""GET /salud: public JSON for a load balancer; 503 when the database is unreachable or a
job's heartbeat is stale (older than max(60 s, 3 × its interval))."""

from datetime import timedelta

import peewee

import models
from models import JobHeartbeat, utcnow


def beat(name, interval, age_seconds):
    JobHeartbeat.create(name=name, interval_seconds=interval, beat_at=utcnow() - timedelta(seconds=age_seconds))


def test_fresh_heartbeats_answer_200_without_a_session(client):
    beat("validate_batches", 1, 5)
    beat("cleanup", 3600, 3000)  # stale only after 3 hours
    response = client.get("/salud")
    assert response.status_code == 200 and response.is_json
    body = response.get_json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert set(body["jobs"]) == {"validate_batches", "cleanup"}
    assert 4 <= body["jobs"]["validate_batches"]["age_seconds"] <= 10
    assert body["jobs"]["cleanup"]["stale"] is False
    assert "Set-Cookie" not in response.headers


def test_a_stale_heartbeat_answers_503(client):
    beat("validate_batches", 1, 5)
    beat("process_orders", 2, 61)  # max(60 s, 3 × 2 s)
    response = client.get("/salud")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "error" and body["jobs"]["process_orders"]["stale"] is True
    assert body["jobs"]["validate_batches"]["stale"] is False


def test_no_job_ever_ran_answers_503(client):
    assert client.get("/salud").status_code == 503


def test_an_unreachable_database_answers_503(client, monkeypatch):
    beat("validate_batches", 1, 1)

    def down(*args, **kwargs):
        raise peewee.OperationalError("could not connect to server")

    monkeypatch.setattr(models.db.obj, "execute_sql", down)
    response = client.get("/salud")
    monkeypatch.undo()
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"
