"""Stage 5, run: the pipeline that brings a lab up, and the running lab.

Takes a topology (file or model); gives a `Lab` whose nodes are booted and whose trust edges
are usable, with probes (lookup, call, status), faults and tear-down.
"""
