"""Commands for a person at a machine: ``doctor`` (is this machine ready?), ``init`` (put kodo-bot on a
repository) and the interactive ``kodo-bot`` with no arguments. Each one reads nothing of argv itself: ``cli``
parses and hands typed values in.
"""
