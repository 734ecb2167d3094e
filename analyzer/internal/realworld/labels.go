package main

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Triage is the verdict of a human on one finding in the wild.
type Triage string

// The three verdicts of a wild label.
const (
	// TriageTrue: a path leaks the entry and nothing else releases it (no
	// reply can come, no timer, no owner teardown).
	TriageTrue Triage = "true"
	// TriageDebatable: it leaks only on a path where the whole object is
	// broken or abandoned anyway.
	TriageDebatable Triage = "debatable"
	// TriageFalse: not a leak.
	TriageFalse Triage = "false"
)

// FindingKey identifies a finding across runs: a label matches the finding
// of its target with the same file, line and category. Columns and
// messages are left out, so a reworded message keeps its label.
type FindingKey struct {
	Target   string // module@version of the wild target
	File     string // slash path relative to the module root
	Line     int
	Category string
}

// WildLabel is one triaged finding of wild-labels.tsv.
type WildLabel struct {
	Line     int // line in the labels file, for messages
	Key      FindingKey
	Function string // enclosing function, as the report prints it (informational)
	Label    Triage
	Reason   string // one line: the leaking path, or why it is not a leak
}

// labelColumns are the columns of a labels file.
var labelColumns = []string{"target", "file", "line", "category", "function", "label", "reason"}

// ParseWildLabels reads a labels file: a header line naming the columns
// target, file, line, category, function, label and reason (in any order),
// then one triaged finding per line. Blank lines and lines starting with '#'
// are skipped. Every target must be one of known (module@version); two
// labels for the same finding are an error. name is used in error messages.
func ParseWildLabels(r io.Reader, name string, known map[string]bool) ([]WildLabel, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	var (
		columns map[string]int
		ncols   int
		labels  []WildLabel
		seen    = make(map[FindingKey]int)
		lineno  int
	)
	for sc.Scan() {
		lineno++
		text := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Split(text, "\t")
		if columns == nil {
			var err error
			if columns, err = parseHeader(fields, labelColumns); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, lineno, err)
			}
			ncols = len(fields)
			continue
		}
		if len(fields) != ncols {
			return nil, fmt.Errorf("%s:%d: label has %d tab-separated fields, the header has %d", name, lineno, len(fields), ncols)
		}
		l, err := parseLabel(fields, columns, lineno)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, lineno, err)
		}
		if !known[l.Key.Target] {
			return nil, fmt.Errorf("%s:%d: target %s is not in the wild list", name, lineno, l.Key.Target)
		}
		if prev, dup := seen[l.Key]; dup {
			return nil, fmt.Errorf("%s:%d: %s %s:%d [%s] is labelled twice (first on line %d)", name, lineno, l.Key.Target, l.Key.File, l.Key.Line, l.Key.Category, prev)
		}
		seen[l.Key] = lineno
		labels = append(labels, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if columns == nil {
		return nil, fmt.Errorf("%s: empty labels file: no header line", name)
	}
	return labels, nil
}

func parseLabel(fields []string, columns map[string]int, lineno int) (WildLabel, error) {
	get := func(c string) string { return strings.TrimSpace(fields[columns[c]]) }
	for _, c := range labelColumns {
		if get(c) == "" && c != "function" {
			return WildLabel{}, fmt.Errorf("column %s is empty", c)
		}
	}
	l := WildLabel{
		Line:     lineno,
		Key:      FindingKey{Target: get("target"), File: get("file"), Category: get("category")},
		Function: get("function"),
		Label:    Triage(get("label")),
		Reason:   get("reason"),
	}
	if mod, ver, ok := strings.Cut(l.Key.Target, "@"); !ok || mod == "" || ver == "" {
		return l, fmt.Errorf("target %q: want module@version", l.Key.Target)
	}
	n, err := strconv.Atoi(get("line"))
	if err != nil || n <= 0 {
		return l, fmt.Errorf("line %q: want a positive line number", get("line"))
	}
	l.Key.Line = n
	if f := l.Key.File; strings.HasPrefix(f, "/") || strings.Contains(f, "\\") || !strings.HasSuffix(f, ".go") {
		return l, fmt.Errorf("file %q: want a slash path of a .go file relative to the module root", f)
	}
	switch l.Label {
	case TriageTrue, TriageDebatable, TriageFalse:
	default:
		return l, fmt.Errorf("label %q: want true, false or debatable", l.Label)
	}
	return l, nil
}
