"""Sans-IO parsers and formatters for the Nlets legacy text used by iaq-gateway."""
