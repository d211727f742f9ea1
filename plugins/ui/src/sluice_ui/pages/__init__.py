"""The UI's routers, one module per page group."""
