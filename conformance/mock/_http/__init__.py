"""Serving the mock: uvicorn in a background thread, with the mock's own HTTP/1.1 protocol."""
