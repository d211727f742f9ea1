"""The API routers, one module per resource, all mounted under ``/api`` by ``create_app``."""
