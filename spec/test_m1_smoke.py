import numpy as np
import pytest

pytestmark = pytest.mark.milestone("M1")


def test_add_forward(impl):
    a = impl.tensor(np.arange(3.0))
    np.testing.assert_array_equal(impl.to_numpy(impl.add(a, a)), np.arange(3.0) * 2)


def test_stack_exists(impl):
    a = impl.tensor(np.arange(3.0))
    impl.stack([a, a])
