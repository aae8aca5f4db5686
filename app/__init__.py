"""The avloc Gradio demo (``app/app.py``); not part of the ``avloc`` package."""
