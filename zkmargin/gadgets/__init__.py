"""Gadgets: reusable constraint patterns, one family per module.

Every gadget states the bounds it relies on; comparisons work on integers already known to
be below a stated power of two, never on unbounded field elements.
"""
