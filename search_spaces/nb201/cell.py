"""The NB-201 cell's layout, shared by the space, the supernet and the discrete network.

Four nodes; node ``i`` sums one op applied to each earlier node. ``OPS`` in the
official order (NAS-Bench-201's ``NAS-Bench-201-v1_0-e61699.pth`` strings).
"""

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: (target node, source node) per edge, in official order.
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NUM_NODES = 4
