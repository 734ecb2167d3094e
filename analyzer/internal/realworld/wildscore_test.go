package main

import (
	"fmt"
	"slices"
	"testing"
)

func TestDistinctFindings(t *testing.T) {
	fs := []Finding{
		{Package: "p [p.test]", File: "a.go", Pos: Pos{10, 2}, Category: "timeout", Message: "returns at 12 and 14"},
		{Package: "p", File: "a.go", Pos: Pos{10, 2}, Category: "timeout", Message: "returns at 12"},
		{Package: "p", File: "a.go", Pos: Pos{10, 2}, Category: "cancel", Message: "other category"},
		{Package: "p_test [p.test]", File: "a_test.go", Pos: Pos{5, 1}, Category: "timeout", Message: "test file"},
		{Package: "p [p.test]", File: "b.go", Pos: Pos{1, 1}, Category: "timeout", Message: "only in the test variant"},
	}
	got := DistinctFindings(fs)
	want := []Finding{fs[2], fs[1], fs[3], fs[4]}
	if !slices.Equal(got, want) {
		t.Errorf("DistinctFindings:\n got %+v\nwant %+v", got, want)
	}
	if fs[0].Package != "p [p.test]" {
		t.Error("DistinctFindings modified its input")
	}
}

func TestSampleFindingsIsStable(t *testing.T) {
	all := makeFindings(100)
	s1, _ := SampleFindings(all, 40, 1)
	// Adding findings keeps every sampled finding that is still among the
	// 40 lowest ranks; removing an unsampled one changes nothing.
	more := append(slices.Clone(all), Finding{File: "new.go", Pos: Pos{1, 1}}, Finding{File: "new.go", Pos: Pos{2, 1}})
	s2, _ := SampleFindings(more, 40, 1)
	kept := 0
	for _, f := range s1 {
		if slices.Contains(s2, f) {
			kept++
		}
	}
	if kept < 38 {
		t.Errorf("adding 2 findings kept only %d of 40 sampled", kept)
	}
	var unsampled Finding
	for _, f := range all {
		if !slices.Contains(s1, f) {
			unsampled = f
			break
		}
	}
	fewer := slices.DeleteFunc(slices.Clone(all), func(f Finding) bool { return f == unsampled })
	if s3, _ := SampleFindings(fewer, 40, 1); !slices.Equal(s1, s3) {
		t.Error("removing an unsampled finding changed the sample")
	}
}

func finding(file string, line int, cat string) Finding {
	return Finding{Package: "p", File: file, Pos: Pos{line, 1}, Category: cat, Function: "F", Message: "m"}
}

func label(target, file string, line int, cat string, tr Triage) WildLabel {
	return WildLabel{Key: FindingKey{target, file, line, cat}, Label: tr, Reason: "r"}
}

func TestTriageTarget(t *testing.T) {
	const tg = "example.com/m@v1.0.0"
	fs := []Finding{finding("a.go", 1, "timeout"), finding("a.go", 2, "timeout"), finding("b.go", 3, "cancel"), finding("c.go", 4, "failure-path")}
	labels := []WildLabel{
		label(tg, "a.go", 1, "timeout", TriageTrue),
		label(tg, "a.go", 2, "timeout", TriageFalse),
		label(tg, "b.go", 3, "timeout", TriageDebatable), // another category: no match, gone
		label(tg, "z.go", 9, "timeout", TriageFalse),     // gone
	}
	tt := TriageTarget(tg, fs, labels, 0, 1)
	want := WildScore{Targets: 1, Findings: 4, TriageSet: 4, True: 1, False: 1, Untriaged: 2, Gone: 2}
	if tt.Score != want {
		t.Errorf("score = %+v, want %+v", tt.Score, want)
	}
	if tt.Sampled || len(tt.Untriaged) != 2 || tt.Untriaged[0].File != "b.go" || tt.Untriaged[1].File != "c.go" {
		t.Errorf("untriaged = %+v", tt.Untriaged)
	}
	if len(tt.Gone) != 2 || tt.Gone[0].Key.File != "b.go" || tt.Gone[1].Key.File != "z.go" {
		t.Errorf("gone = %+v", tt.Gone)
	}
	if got := tt.Score.ShareString(); got != "50.0% (1/2)" {
		t.Errorf("share = %s", got)
	}

	// With a sample of 2, only unlabelled findings of the sample are
	// untriaged, and labels outside the sample still count.
	many := makeFindings(30)
	set, _ := SampleFindings(many, 2, 1)
	var outside Finding
	for _, f := range many {
		if !slices.Contains(set, f) {
			outside = f
			break
		}
	}
	ls := []WildLabel{label(tg, set[0].File, set[0].Pos.Line, set[0].Category, TriageFalse), label(tg, outside.File, outside.Pos.Line, outside.Category, TriageTrue)}
	tt = TriageTarget(tg, many, ls, 2, 1)
	want = WildScore{Targets: 1, Findings: 30, TriageSet: 2, True: 1, False: 1, Untriaged: 1}
	if tt.Score != want || !tt.Sampled || len(tt.Untriaged) != 1 || tt.Untriaged[0] != set[1] {
		t.Errorf("sampled: score %+v untriaged %+v, want %+v and %v", tt.Score, tt.Untriaged, want, set[1])
	}
	if (WildScore{}).ShareString() != "undefined (0/0)" {
		t.Error("empty share")
	}
}

func TestHalfScores(t *testing.T) {
	rep := func(h Half, findings, truth int, failed bool) WildReport {
		r := WildReport{Target: WildTarget{Half: h}, Triage: TargetTriage{Score: WildScore{Targets: 1, Findings: findings, True: truth}}}
		if failed {
			r.Job.Err = fmt.Errorf("failed")
		}
		return r
	}
	dev, test, all := HalfScores([]WildReport{rep(HalfDev, 3, 1, false), rep(HalfTest, 5, 2, false), rep(HalfDev, 2, 2, false), rep(HalfTest, 9, 9, true)})
	if dev.Targets != 2 || dev.Findings != 5 || dev.True != 3 || test.Targets != 1 || test.Findings != 5 || all.Targets != 3 || all.Findings != 10 || all.True != 5 {
		t.Errorf("dev %+v test %+v all %+v", dev, test, all)
	}
}
