"""`tunewise serve`: an OpenAI-compatible gateway over base models, adapters and hosted models.

Layout (docs/PLAN.md, "Serving"): `app.py` builds the FastAPI app, `routers/` hold one module per
resource, `upstreams/` the model servers behind one protocol, `routing.py` the sticky bucketing,
`flags.py`/`keys.py`/`requestlog.py` the state kept in the store. Importing this package is cheap.
"""
