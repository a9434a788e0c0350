"""The registry stage."""
