"""What IT runs: the ``tillmesh`` command, the daemon, making and joining a store, config.

    cli           ``tillmesh init | run | demo | status | users | rebuild | invite | join
                  | peers | revoke | seal | ui | erpnext | exceptions | api``
    daemon        ``tillmesh run``: store, API server, replication, forwarder, printer
    provisioning  init (a new store), join (a new counter), status, rebuild
    seal          ``tillmesh seal``: the secrets sealed to the machine or a passphrase
    doctor        ``tillmesh doctor``: every check a line, with its fix (pure verdicts)
    logs          log lines plain or for journald, a repeating problem said with its count
    backup        ``tillmesh backup | restore``: a counter back on a new machine
    archiving     ``tillmesh archive run | status | verify | export``: the checkpoint
                  forward, old events out
    config        ``tillmesh.toml``: every setting with its default
    const         timeouts, ports and limits of the command and the daemon, with units

The top layer: may import everything in ``tillmesh.node``. ``tillmesh.lab`` (demo data,
the ERPNext simulator) and ``tillmesh.ui`` are imported only inside the commands that
need them (``demo``, ``init --demo``, ``ui``).
"""
