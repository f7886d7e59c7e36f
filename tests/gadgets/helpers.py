"""Build a one-gadget circuit in proving mode and report whether its witness satisfies it."""

from zkmargin.constraints import ConstraintSystem


def build(curve, body, **values):
    """Run ``body(cs, *inputs)`` where each keyword becomes a public input; return (cs, result)."""
    cs = ConstraintSystem(curve, has_witness=True)
    inputs = [cs.public(name, value) for name, value in values.items()]
    result = body(cs, *inputs)
    return cs, result


def satisfied(curve, body, **values) -> bool:
    cs, _ = build(curve, body, **values)
    return cs.is_satisfied()
