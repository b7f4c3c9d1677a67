"""The random-wired WRN's layout: nodes per stage, stage names, the adjacency entries that are weight rows."""

NUM_NODES = 8
STAGES = ("stage1", "stage2", "stage3")
#: (row, column) of every entry on or below the diagonal, in weight-row order.
ENTRIES = tuple((i, j) for i in range(NUM_NODES + 1) for j in range(i + 1))
