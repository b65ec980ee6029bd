"""The app's screens and dialogs: thin Qt widgets over :mod:`ui.models`.

Widgets never do I/O: they ask :class:`ui.context.Context` to call the node, and show
what comes back.
"""
