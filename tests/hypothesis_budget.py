"""How many examples a property test tries, by where it runs.

A developer's run (the `dev` profile) draws new random examples every time, so each property
gets its full number of them. CI (`CI=true`, the `ci` profile) is derandomized: it tries the
same examples on every push, so more of them buy little, while the whole suite has to finish
within CI's time limit. There a property tries `CI_SHARE` of its examples, at least `CI_FLOOR`.
"""

from __future__ import annotations

import os

CI_SHARE = 0.4
CI_FLOOR = 10
IN_CI = os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev") == "ci"
DEFAULT_EXAMPLES = 100  # hypothesis's own default, for the properties that name none


def examples(wanted: int) -> int:
    """`wanted` examples on a developer's machine; in CI its share, never fewer than the floor
    (nor more than wanted)."""
    if not IN_CI:
        return wanted
    return min(wanted, max(CI_FLOOR, round(wanted * CI_SHARE)))
