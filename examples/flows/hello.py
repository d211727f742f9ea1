"""A first flow: says hello, and logs where it runs."""

from __future__ import annotations

import platform

from sluice import flow, get_run_logger


@flow(name="hello")
def hello(name: str = "world") -> str:
    """Say hello to ``name``."""
    logger = get_run_logger()
    message = f"Hello, {name}!"
    logger.info(message)
    logger.info("Running on %s with Python %s", platform.node(), platform.python_version())
    return message
