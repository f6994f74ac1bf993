"""A one-view Django project for the middleware tests (configured once per process, on first use)."""

from __future__ import annotations

from typing import Any

ROUTE = "/articles/<int:year>/<slug:slug>/"


def article(request: Any, year: int, slug: str) -> Any:
    from django.http import HttpResponse

    return HttpResponse("%d %s" % (year, slug))


def setup() -> None:
    """Configure Django for this module's URLs, with Astrid's route middleware first."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False, ALLOWED_HOSTS=["127.0.0.1", "testserver", "localhost"], ROOT_URLCONF=__name__,
            SECRET_KEY="test-only", MIDDLEWARE=["astrid.integrations.django.route_middleware"],
        )
        django.setup()


def __getattr__(name: str) -> Any:  # Django imports urlpatterns only once it is configured
    if name == "urlpatterns":
        from django.urls import path

        return [path(ROUTE.lstrip("/"), article)]
    raise AttributeError(name)
