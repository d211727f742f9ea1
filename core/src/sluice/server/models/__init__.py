"""Service-layer functions shared by the API routes and the background services (no HTTP here)."""
