"""Locust load tests for the gateway: locustfiles, the image mix, body checks, the runner."""
