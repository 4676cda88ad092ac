"""The edgec version (in generated-file banners, manifests and cache keys)."""

__version__ = "0.1.0"
