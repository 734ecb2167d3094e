// Package check proves, through a built golangci-lint-mapleak binary, that the
// mapleak module plugin works inside golangci-lint: it reports the classic
// request-ID leak and a port of the Dino history-sync bug, its settings change
// the findings, a misspelt setting is a clear error, and both
// //nolint:mapleak and //mapleak:ignore silence a whole finding (the same
// fixture without its directives reports the silenced functions).
//
// The tests run the binary named by $MAPLEAK_GOLANGCI_LINT (tools/golangci/check.sh
// builds it and sets it), or build one with ../build.sh. The fixture module is
// testdata/fixture; each testdata/scenarios/NAME.yml is a .golangci.yml, and
// a comment
//
//	// expect(NAME,...): REGEXP
//
// on a fixture line says that scenario NAME reports one mapleak issue on that
// line whose text matches REGEXP; {+N} in REGEXP stands for the line number N
// lines below. Every other mapleak issue is unexpected.
package check
