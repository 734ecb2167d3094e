#!/usr/bin/env bash
# Proves the mapleak plugin through a built golangci-lint: builds
# bin/golangci-lint-mapleak (tools/golangci/build.sh) unless
# MAPLEAK_GOLANGCI_LINT names a binary, then runs tools/golangci/check, which
# lints the fixture module under each testdata/scenarios/*.yml and prints, per
# scenario, the issues it expected and the issues golangci-lint reported:
#   - the classic pending[id] leak and a port of the Dino history-sync bug are
#     reported with the default settings,
#   - narrowing keys/maps drops the Dino finding, track-all adds one,
#   - //nolint:mapleak and //mapleak:ignore <reason> silence whole findings
#     (and a copy of the fixture without them reports those functions),
#   - a misspelt setting is a configuration error naming it,
#   - the analyzer's own analyzer/testdata/src/*dino* fixture gives the
#     findings its `// want` comments expect.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ -z "${MAPLEAK_GOLANGCI_LINT:-}" ]; then
	"$here/build.sh" "$root/bin/golangci-lint-mapleak"
	MAPLEAK_GOLANGCI_LINT=$root/bin/golangci-lint-mapleak
fi
export MAPLEAK_GOLANGCI_LINT GOWORK=off
cd "$here"
go test -count=1 -v ./check
