"""Bundled policy data (the content-safety lexicon), loaded with ``yaml.safe_load``."""
