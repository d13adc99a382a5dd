"""The build requirements (PEP 518) an sdist declares, sorted, one a line.

usage: python3 -I build_requires.py <sdist.tar.gz>
Only reads one member of the tarball; nothing is extracted or run.
"""

import sys
import tarfile
import tomllib

with tarfile.open(sys.argv[1]) as sdist:
    top = sdist.getnames()[0].split("/")[0]
    try:
        member = sdist.extractfile(f"{top}/pyproject.toml")
    except KeyError:
        member = None
    requires = tomllib.load(member).get("build-system", {}).get("requires", []) if member else []
print("\n".join(sorted(requires)))
