"""A target without a max-pool unit (Loihi) refuses a MaxPool2d layer in one line."""

import pytest

from hwsnn.errors import MappingError
from hwsnn.mappings.place import place
from hwsnn.mappings.targets import load_target

from maxpool_nets import maxpool_graph


def test_loihi_refuses_a_max_pool_layer():
    with pytest.raises(MappingError, match=r"^layer 'mp0' \(MaxPool2d\): target 'loihi' has no max-pool "
                                           r"unit .*convert with pool='avg' to place this network$"):
        place(maxpool_graph(0), load_target("loihi"))
