package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
)

// The suite's checks, on the standard testing package only, so that a store
// implementer's module does not inherit an assertion library. The expect
// checks report and go on (t.Errorf); the require checks stop the test
// (t.Fatalf). msgAndArgs, if given, is a format string and its arguments
// that say what was checked.

func describe(msgAndArgs []any) string {
	if len(msgAndArgs) == 0 {
		return ""
	}
	format, ok := msgAndArgs[0].(string)
	if !ok {
		return fmt.Sprint(msgAndArgs...) + ": "
	}
	return fmt.Sprintf(format, msgAndArgs[1:]...) + ": "
}

func expectEqual(t *testing.T, want, got any, msgAndArgs ...any) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Errorf("%swant %+v, got %+v", describe(msgAndArgs), want, got)
	}
}

func requireEqual(t *testing.T, want, got any, msgAndArgs ...any) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("%swant %+v, got %+v", describe(msgAndArgs), want, got)
	}
}

func requireTrue(t *testing.T, ok bool, msgAndArgs ...any) {
	t.Helper()
	if !ok {
		t.Fatalf("%scheck failed", describe(msgAndArgs))
	}
}

func requireNoError(t *testing.T, err error, msgAndArgs ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%sunexpected error: %v", describe(msgAndArgs), err)
	}
}

func expectError(t *testing.T, err error, msgAndArgs ...any) {
	t.Helper()
	if err == nil {
		t.Errorf("%sno error, want one", describe(msgAndArgs))
	}
}

func requireErrorIs(t *testing.T, err, target error, msgAndArgs ...any) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%sgot error %v, want one wrapping %v", describe(msgAndArgs), err, target)
	}
}

func expectEmpty[S ~[]E, E any](t *testing.T, s S, msgAndArgs ...any) {
	t.Helper()
	if len(s) != 0 {
		t.Errorf("%swant nothing, got %d: %+v", describe(msgAndArgs), len(s), s)
	}
}

func expectLen[S ~[]E, E any](t *testing.T, s S, n int, msgAndArgs ...any) {
	t.Helper()
	if len(s) != n {
		t.Errorf("%swant %d, got %d: %+v", describe(msgAndArgs), n, len(s), s)
	}
}

func requireLen[S ~[]E, E any](t *testing.T, s S, n int, msgAndArgs ...any) {
	t.Helper()
	if len(s) != n {
		t.Fatalf("%swant %d, got %d: %+v", describe(msgAndArgs), n, len(s), s)
	}
}

// expectSameElements checks that got holds the strings of want in any order.
func expectSameElements(t *testing.T, want, got []string, msgAndArgs ...any) {
	t.Helper()
	w, g := slices.Clone(want), slices.Clone(got)
	slices.Sort(w)
	slices.Sort(g)
	if !slices.Equal(w, g) {
		t.Errorf("%swant %q in any order, got %q", describe(msgAndArgs), want, got)
	}
}
