"""The asyncio side of iaq-gateway: server, sessions, journal, delivery, CLI."""
