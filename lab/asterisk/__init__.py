"""Stage 2, render: everything Asterisk-specific.

Takes a `Topology`; gives each node's files in memory (`render`), its keys (`keys`), the image
it runs (`images`), members' own configs read and adapted (`conf`, `member`), and the CLI
commands with the parsers of what they print (`probes`).
"""
