"""The playground: ``elman serve``, a local web app over loaded models (optional extra
``elman[serve]``: Starlette and uvicorn). Nothing in the core imports it.

    app.py   the JSON API and the page's routes, over the models it serves
    static/  the page: index.html, its script and style
"""
