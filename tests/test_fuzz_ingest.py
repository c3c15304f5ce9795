"""Property-based fuzzing of every reader (issue 14): generated Markdown, HTML, reST, text, PDF, BEIR lines, archives
(tar in three formats and three compressions, zip, gzip; members named ``../``, absolute, links, devices, lying
sizes, damaged bytes) and file names (bytes that are not UTF-8, links, fifos).

For every input: no exception but kenning's own (a Skipped or an InputError naming the file), a bounded time, and the
secret kept next to the input folder never read. The inputs come from ``tests/fuzz_inputs.py``; ``bench/fuzz.py``
runs the same check on thousands of them.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from .fuzz_inputs import READERS, run_input

SECONDS = 15.0  # per input; generous for two shared cores (the bench reports the real distribution)
EXAMPLES = 60


@pytest.mark.parametrize("reader", sorted(READERS))
def test_reader_survives_generated_input(reader: str) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,  # the time bound is asserted below, on the reading alone (not on writing the input)
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(files=READERS[reader])
    def check(files) -> None:
        outcome = run_input(files)
        assert outcome.error is None, outcome.error
        assert not outcome.leaked, "read the secret outside the input folder"
        assert outcome.seconds < SECONDS, f"took {outcome.seconds:.1f} s"

    check()
