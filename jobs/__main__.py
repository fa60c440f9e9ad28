"""`python -m jobs`: the scheduler as its own process (for gunicorn deployments)."""

from app import create_app
from jobs import run_forever

if __name__ == "__main__":
    run_forever(create_app())
