"""The releases activate.sh prunes, one name a line.

usage: python3 -I prune_order.py <releases-dir> <records-dir> <keep> <current> <previous>
Keeps <keep> recorded releases in PEP 440 order (1.10 > 1.9), never current or previous; trees
without root's record (killed builds) go too. Versions are what the stack accepts: normalized
PEP 440 public versions, N(.N)*[{a|b|rc}N][.postN][.devN]; the order is PEP 440's, written out here
because the hosts have no `packaging` (release code never runs as root to provide one).
"""

import os
import re
import sys

VERSION = re.compile(r"^([0-9]+(?:\.[0-9]+)*)(?:(a|b|rc)([0-9]+))?(?:\.post([0-9]+))?(?:\.dev([0-9]+))?$")
PRE_ORDER = {"a": 0, "b": 1, "rc": 2}
INFINITY = float("inf")


def sort_key(name):
    """PEP 440's ordering of a normalized public version, or None when `name` is not one."""
    match = VERSION.match(name)
    if not match:
        return None
    release, pre_letter, pre_number, post, dev = match.groups()
    numbers = [int(part) for part in release.split(".")]
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()  # 1.0 == 1.0.0
    if pre_letter is None and post is None and dev is not None:
        pre = (-INFINITY, 0)  # 1.0.dev1 sorts before 1.0a1
    elif pre_letter is None:
        pre = (INFINITY, 0)
    else:
        pre = (PRE_ORDER[pre_letter], int(pre_number))
    return (tuple(numbers), pre, -INFINITY if post is None else int(post), INFINITY if dev is None else int(dev))


def main(argv):
    root, records, keep, current, previous = argv[1], argv[2], int(argv[3]), argv[4], argv[5]
    complete, stale = [], []
    for name in os.listdir(root):
        if name.startswith("."):
            continue
        if not os.path.isfile(os.path.join(records, name)):
            stale.append(name)  # a build that was killed; we hold the lock, so none is running
            continue
        key = sort_key(name)
        if key is not None:
            complete.append((key, name))
    complete.sort(reverse=True)
    kept = {name for name in (current, previous) if name}
    for _, name in complete:
        if len(kept) >= keep:
            break
        kept.add(name)
    for name in sorted(stale) + [name for _, name in complete if name not in kept]:
        if name not in (current, previous):
            print(name)


if __name__ == "__main__":
    main(sys.argv)
