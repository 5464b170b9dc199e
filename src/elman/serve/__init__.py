"""The playground: ``elman serve``, a local web app over loaded models (optional extra
``elman[serve]``: Starlette and uvicorn). Nothing in the core imports it."""
