"""Seeing what a lab does: lookup traces, packet captures and their decoders, pictures of the
topology, and repro bundles.

Takes a running `Lab` (or its files); gives traces, pcaps, graphs and archives.
"""
