"""Equivalent correct: the scales in an OrderedDict, in another key order (full marks)."""

EXPECTED = {}


def scales_for_target(rates, target=200.0):
    import collections

    return collections.OrderedDict((name, target / rates[name]) for name in sorted(rates))
