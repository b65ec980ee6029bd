"""The PySide6 cashier and supervisor app, a client of the node's local API only.

    const       timings, sizes, limits and colours, with units and reasons (no Qt)
    models/     Qt-free view-models (cart, payment, drawer count, session, status)
    bridge      the one place that calls the node: worker threads, results as signals
    context     what screens share: calls, the session, the one error sink
    screens/    the widgets: login, sell, payment, returns, shifts, store status, admin
    shell       the main window: banners, navigation, F-keys, idle lock
    app         ``tillmesh ui``

May import, of the node, only ``tillmesh.node.api.client`` and ``tillmesh.node.errors``
(a test checks it); screenshots and demo tooling live in ``tillmesh.lab``. Importing this
package loads no Qt (``tillmesh.ui.models`` is used without it).
"""
