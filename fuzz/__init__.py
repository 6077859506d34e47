"""Coverage-guided fuzz targets (atheris) for the frame decoder and the parsers: `make fuzz`."""
