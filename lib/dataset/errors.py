"""Dataset errors and the counted summary of tolerated input problems.

A user's bad input either stops the load with one `DatasetError` line naming the file and the problem, or is
repaired (box clipped, box dropped, ...) and counted; each dataset then logs its counts once.
"""
import collections
import logging

LOG = logging.getLogger(__name__)


class DatasetError(ValueError):
    """Bad dataset input that cannot be repaired; the message names the file and the problem."""


class ProblemTally:
    """Counts of repaired problems ("dropped {} zero-area boxes") and expected events of one dataset.

    `warn(kind)` counts a problem of the input, `note(kind)` an expected reference behaviour (crowd boxes
    dropped, difficult objects excluded). `report()` logs at most one warning line and one info line.
    `kind` is a phrase with one "{}" where the count goes.
    """

    def __init__(self, name):
        self.name = name
        self.problems = collections.Counter()
        self.notes = collections.Counter()

    def warn(self, kind, count=1):
        self.problems[kind] += count

    def note(self, kind, count=1):
        self.notes[kind] += count

    def report(self, logger=LOG):
        """Log the counts: one WARNING line for problems, one INFO line for notes (nothing when zero)."""
        for counts, level in ((self.problems, logging.WARNING), (self.notes, logging.INFO)):
            parts = _phrases(counts)
            if parts:
                logger.log(level, "%s: %s", self.name, ", ".join(parts))

    def summary(self):
        """Every count, problems then notes, as one phrase ("dropped 3 crowd boxes, ..."); "" when none."""
        return ", ".join(_phrases(self.problems) + _phrases(self.notes))


def _phrases(counts):
    return [kind.format(n) for kind, n in sorted(counts.items()) if n]
