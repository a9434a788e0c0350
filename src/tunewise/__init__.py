"""tunewise: a safe path from 'the model doesn't do what we want' to a fine-tuned model in production.

Importing this package is cheap: torch, transformers, presidio and boto3 are imported only by the
functions that need them.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
