"""The S5 cell's layout (ops and edges), shared by the space and the network."""

OPS = ("none", "skip_connect", "sep_conv_3x3")
#: (target node, input name) per edge, in the order of the string form and the weight rows.
EDGES = (("n0", "k-2"), ("n0", "k-1"), ("n1", "k-1"), ("n1", "n0"))
