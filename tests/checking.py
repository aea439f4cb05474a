"""Helpers shared by the tests of the exercise checks (tests/test_check_chNN.py)."""

from __future__ import annotations

import pytest

from scratchcnn.check import ExerciseFailed, ExerciseNotAttempted, check


def passes(exercise_id: str, answer, capsys) -> None:
    """The check accepts ``answer`` and says so."""
    check(exercise_id, answer)
    assert f"Exercise {exercise_id} passed" in capsys.readouterr().out


def stub(*args, **kwargs):
    """A function exercise left as the student copy has it."""
    raise NotImplementedError("Exercise: write me")


def failure(exercise_id: str, answer) -> str:
    """The message of the check's failure; the test fails if the check passes or says "not attempted"."""
    with pytest.raises(ExerciseFailed) as info:
        check(exercise_id, answer)
    assert not isinstance(info.value, ExerciseNotAttempted), str(info.value)
    message = str(info.value)
    assert message.startswith(f"Exercise {exercise_id} ("), message
    assert all(len(line) <= 100 for line in message.split("\n")), message  # wrapped to 100 columns
    return " ".join(message.split())  # the words, whatever the wrapping
