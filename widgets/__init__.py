"""vizlab's notebook panels (ipywidgets), built on the ``vizlab`` engine.

This is the only package of the project that imports ipywidgets. The panels themselves
arrive with the widget issue; ``widgets.panels`` is where they will live.
"""

__all__: list[str] = []
