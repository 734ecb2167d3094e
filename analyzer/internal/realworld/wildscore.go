package main

import (
	"fmt"
	"slices"
)

// WildScore counts the triage of the findings of one target, or of several
// added up.
type WildScore struct {
	Targets   int // targets analysed
	Findings  int // distinct findings
	TriageSet int // findings that must be triaged: all of them, or the sample
	True      int // findings labelled true (sampled or not)
	Debatable int // findings labelled debatable
	False     int // findings labelled false
	Untriaged int // findings of the triage set without a label
	Gone      int // labels whose finding is no longer reported
}

// Add adds the counts of o to s.
func (s *WildScore) Add(o WildScore) {
	s.Targets += o.Targets
	s.Findings += o.Findings
	s.TriageSet += o.TriageSet
	s.True += o.True
	s.Debatable += o.Debatable
	s.False += o.False
	s.Untriaged += o.Untriaged
	s.Gone += o.Gone
}

// Triaged is the number of reported findings that carry a label.
func (s WildScore) Triaged() int { return s.True + s.Debatable + s.False }

// Share is the share of triaged findings that are true or debatable; ok
// is false when no finding is triaged.
func (s WildScore) Share() (share float64, ok bool) {
	return ratio(s.True+s.Debatable, s.Triaged())
}

// ShareString formats Share as "85.0% (17/20)" or "undefined (0/0)".
func (s WildScore) ShareString() string {
	v, ok := s.Share()
	if !ok {
		return fmt.Sprintf("undefined (0/%d)", s.Triaged())
	}
	return fmt.Sprintf("%.1f%% (%d/%d)", 100*v, s.True+s.Debatable, s.Triaged())
}

// TargetTriage is the triage state of one target's findings.
type TargetTriage struct {
	Score     WildScore
	Sampled   bool        // the triage set is a sample of the findings
	Untriaged []Finding   // findings of the triage set without a label, in file order
	Gone      []WildLabel // labels of the target whose finding is not reported
}

// TriageTarget scores the distinct findings of target against its labels.
// The triage set is the sample of at most sample findings drawn with seed
// (all findings when sample <= 0 or there are no more); a labelled finding
// counts whether it is in the sample or not.
func TriageTarget(target string, findings []Finding, labels []WildLabel, sample int, seed uint64) TargetTriage {
	byKey := make(map[FindingKey]WildLabel, len(labels))
	for _, l := range labels {
		byKey[l.Key] = l
	}
	tt := TargetTriage{Score: WildScore{Targets: 1, Findings: len(findings)}}
	reported := make(map[FindingKey]bool, len(findings))
	for _, f := range findings {
		k := f.Key(target)
		reported[k] = true
		l, ok := byKey[k]
		if !ok {
			continue
		}
		switch l.Label {
		case TriageTrue:
			tt.Score.True++
		case TriageDebatable:
			tt.Score.Debatable++
		case TriageFalse:
			tt.Score.False++
		}
	}
	set, sampled := SampleFindings(findings, sample, seed)
	tt.Sampled = sampled
	tt.Score.TriageSet = len(set)
	for _, f := range set {
		if _, ok := byKey[f.Key(target)]; !ok {
			tt.Untriaged = append(tt.Untriaged, f)
		}
	}
	tt.Score.Untriaged = len(tt.Untriaged)
	for _, l := range labels {
		if !reported[l.Key] {
			tt.Gone = append(tt.Gone, l)
		}
	}
	slices.SortFunc(tt.Gone, func(a, b WildLabel) int { return compareLabelKeys(a.Key, b.Key) })
	tt.Score.Gone = len(tt.Gone)
	return tt
}

func compareLabelKeys(a, b FindingKey) int {
	return compareFindings(
		Finding{File: a.File, Pos: Pos{Line: a.Line}, Category: a.Category},
		Finding{File: b.File, Pos: Pos{Line: b.Line}, Category: b.Category})
}

// HalfScores adds up the scores of the analysed targets by half and
// overall, in the order dev, test, then the total.
func HalfScores(reports []WildReport) (dev, test, all WildScore) {
	for _, r := range reports {
		if r.Job.Err != nil {
			continue
		}
		switch r.Target.Half {
		case HalfDev:
			dev.Add(r.Triage.Score)
		case HalfTest:
			test.Add(r.Triage.Score)
		}
		all.Add(r.Triage.Score)
	}
	return dev, test, all
}
