"""Tillmesh: an offline-first, peer-replicated point of sale for ERPNext.

The repository keeps its folders at the top (``node/``, ``replication/``, ``ui/``,
``lab/``); this package names them, through links, as ``tillmesh.node``,
``tillmesh.replication``, ``tillmesh.ui`` and ``tillmesh.lab``, so an installed counter
puts one name, ``tillmesh``, into site-packages.
"""
