"""``python -m gateway`` runs the ``iaqgw`` command line."""

from gateway.cli import main

main()
