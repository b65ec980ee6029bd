"""How a counter joins the store, proves who it is, and keeps in step with the others.

    const      timeouts and limits of invites, the join and the replication loop
    keys       this counter's CurveZMQ keypair on disk
    invite     one-time join codes (issued by an admin, used once store-wide)
    join       the join handshake: enrol with the inviting counter, take its snapshot
    trust      which events of peers this counter stores and relays (the gate)
    replicate  the daemon's wiring of ``tillmesh.replication`` to the event log
    standing   where this counter stands: active, revoked, paused or cut off, and why

May import ``tillmesh.replication``, ``tillmesh.node.store``, ``projections`` and
``domain``; ``replicate`` also reads the ``Node`` the daemon runs (``api``).
"""
