"""Configuration: the seed's orchestrator-config.yaml as settings, and (issue 8) Prefect Blocks.

``settings`` parses the config file format into plain pydantic settings that the ecosystem
packages accept; Block classes wrap the same settings for storage in Prefect.
"""
