"""The releases install.sh prunes, one name a line.

usage: python3 -I prune_order.py <pip-dir> <releases-dir> <keep> <current> <previous>
Keeps <keep> complete releases in PEP 440 order (1.10 > 1.9), never current or previous; killed
builds (no .complete) go too. The order comes from the packaging copy vendored in the shared pip.
"""

import os
import sys

sys.path.insert(0, sys.argv[1])
from pip._vendor.packaging.version import InvalidVersion, Version  # noqa: E402

root, keep, current, previous = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
complete, stale = [], []
for name in os.listdir(root):
    if not os.path.isfile(os.path.join(root, name, ".complete")):
        stale.append(name)  # a build that was killed; we hold the lock, so none is running
        continue
    try:
        complete.append((Version(name), name))
    except InvalidVersion:
        continue
complete.sort(reverse=True)
kept = {name for name in (current, previous) if name}
for _, name in complete:
    if len(kept) >= keep:
        break
    kept.add(name)
for name in stale + [name for _, name in complete if name not in kept]:
    if name not in (current, previous):
        print(name)
