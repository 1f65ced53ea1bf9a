"""The test suite; shared helpers and fixtures are in ``tests.support``."""

import pytest

# Helpers in tests.support assert too: rewrite them like test modules so that a failing
# check shows its values (marked before conftest.py imports any of them).
pytest.register_assert_rewrite("tests.support")
