"""Interactive panels (ipywidgets ``VBox`` subclasses). None are defined yet."""

__all__: list[str] = []
