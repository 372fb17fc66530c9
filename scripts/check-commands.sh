#!/usr/bin/env bash
# Proves, on this machine, that every external command run by scripts/, the
# Makefile's recipes and the Swift tests is installed by the install profile
# that runs it (scripts/install-deps.sh): `make demo` once ran ping and socat,
# which only the test profile installed (issue #11). Run first by `make test`;
# reads only, no root. One line per problem and exit 1; -v lists every
# command found. The rules and the file-to-profile mapping are in
# scripts/check-commands.py.
set -euo pipefail
exec python3 "$(dirname "$0")/check-commands.py" "$@"
