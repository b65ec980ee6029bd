"""A store over separate hosts, and the faults it survives (issue 16).

    lan     hosts in Linux network namespaces on a bridge of their own; cuts and loss
    store   three counters and the ERPNext simulator on those hosts, a seeded schedule
            of faults beside a workload, and the checker
    __main__  the long form: several seeds, two faults at once

May import ``tillmesh`` (the demo store's checker among it) and ``tests``.
"""
