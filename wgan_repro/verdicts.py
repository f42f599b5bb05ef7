"""The verdict names every claim row carries and the opening of every rule decided by p: shared by the look
accounting (looks.py) and the decision layer (claims.py, which re-exports them)."""

REPRODUCED, NOT_REPRODUCED, UNRESOLVED = "reproduced", "not reproduced", "not resolved at this scale"
PRIMARY, SECONDARY = "primary", "secondary"  # a claim's family: in the scorecard's Holm family, or another readout
CLOSED_FORM = "closed form, not an experiment"  # an identity we compute exactly: shown, never counted as reproduced
AT_INIT = "present at initialisation, not training's effect"  # the effect is there before training: shown, not counted
NOT_COUNTED = (CLOSED_FORM, AT_INIT)
P_RULE_PREFIX = "reproduced when the difference between the arms has the paper's sign and "  # every rule decided by p

__all__ = ["AT_INIT", "CLOSED_FORM", "NOT_COUNTED", "NOT_REPRODUCED", "PRIMARY", "P_RULE_PREFIX", "REPRODUCED",
           "SECONDARY", "UNRESOLVED"]
