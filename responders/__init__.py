"""Services and the plugin interface they come in through (base.py, registry.py): the LESC
and NCIC IVF (lesc/), and forwarding to lines (forward.py)."""
