"""How a counter joins the store, proves who it is, and keeps in step with the others.

    const      timeouts and limits of invites, the join and the replication loop
    keys       this counter's CurveZMQ keypair on disk
    invite     one-time join codes (issued by an admin, used once store-wide), full and
               short (typed; it names the inviting counter's key)
    join       the join handshake: find the inviting counter of a short code, enrol with
               it, take its snapshot
    trust      which events of peers this counter stores and relays (the gate)
    replicate  the daemon's wiring of ``tillmesh.replication`` to the event log
    standing   where this counter stands: active, revoked, paused or cut off, and why
    release    this counter's release, protocol and store schema, and whether the store's
               allowed releases let it sell

May import ``tillmesh.replication``, ``tillmesh.node.store``, ``projections`` and
``domain``; ``replicate`` also reads the ``Node`` the daemon runs (``api``).
"""
