"""Responder pipelines: the services the gateway answers itself (LESC, help, forwarding)."""
