"""Stand-ins and demo material: never imported by a counter at run time.

    erpnext_simulator/  an ERPNext 15 on 127.0.0.1 that behaves like the real one where it
                        matters (tests, ``tillmesh demo``, benchmarks)
    demo_data           the demo store's catalog, taxes and users
    demo_node           a throw-away demo counter process (screenshots, UI benchmark)
    demo_store          ``tillmesh demo --counters N``: a store of N counters, its day, the report
    processes           ``tillmesh`` commands and ``tillmesh run`` processes on loopback
    screenshots         PNGs of the app's main screens against a demo counter

May import anything of ``tillmesh``; nothing in ``tillmesh.node`` or ``tillmesh.ui``
imports this package except the ``demo``, ``init --demo`` and ``ui --screenshots``
commands, inside the command.
"""
