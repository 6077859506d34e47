"""Coverage-guided fuzz targets (atheris) for the frame decoder, the parsers and the Nlets XML
readers: `make fuzz`."""
