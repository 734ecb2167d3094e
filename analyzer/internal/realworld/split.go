package main

import (
	"bufio"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strings"

	"golang.org/x/mod/module"
)

// Half is the side of the dev/test split a repository belongs to. Rules
// are tuned on the dev half only; the test half says whether they
// generalize.
type Half string

// The two halves of the split.
const (
	HalfDev  Half = "dev"
	HalfTest Half = "test"
)

// halfSelection is the value of -half: one half, or all rows and targets.
type halfSelection string

const selectAll halfSelection = "all"

// parseHalfSelection validates a -half value.
func parseHalfSelection(s string) (halfSelection, error) {
	switch h := halfSelection(s); h {
	case selectAll, halfSelection(HalfDev), halfSelection(HalfTest):
		return h, nil
	}
	return "", fmt.Errorf("-half %q: want dev, test or all", s)
}

// includes reports whether a row or target of half h is selected. Rows of
// an unsplit set (h == "") are always selected: that set is its own.
func (sel halfSelection) includes(h Half) bool {
	return h == "" || sel == selectAll || Half(sel) == h
}

// Split assigns repositories to halves. It is read from and written to a
// tab-separated file with the header "repo<TAB>half", one repository a line.
// The repository, not the module path, is the unit of the split: one
// upstream repository can publish several module paths (go-nats and nats.go),
// and all of them must fall on the same side. Repository paths are compared
// without regard to case, as their hosts do (github.com/SagerNet/sing-box is
// github.com/sagernet/sing-box); the file keeps the first spelling.
type Split struct {
	halves map[string]Half   // by repoKey
	names  map[string]string // repoKey -> spelling in the file
}

// NewSplit returns an empty split.
func NewSplit() *Split {
	return &Split{halves: make(map[string]Half), names: make(map[string]string)}
}

// repoKey is the identity of a repository path: its lower-case form.
func repoKey(repo string) string { return strings.ToLower(repo) }

// Half returns the half of repo and whether repo is in the split.
func (s *Split) Half(repo string) (Half, bool) {
	h, ok := s.halves[repoKey(repo)]
	return h, ok
}

// set puts repo into half h.
func (s *Split) set(repo string, h Half) {
	s.halves[repoKey(repo)] = h
	s.names[repoKey(repo)] = repo
}

// Len is the number of repositories in the split.
func (s *Split) Len() int { return len(s.halves) }

// Counts returns how many repositories each half holds.
func (s *Split) Counts() (dev, test int) {
	for _, h := range s.halves {
		if h == HalfDev {
			dev++
		} else {
			test++
		}
	}
	return dev, test
}

// checkRepo validates a repository path such as github.com/nats-io/nats.go:
// a path whose first element is a host name.
func checkRepo(repo string) error {
	if err := module.CheckImportPath(repo); err != nil {
		return fmt.Errorf("repo %q: %w", repo, err)
	}
	host, rest, _ := strings.Cut(repo, "/")
	if !strings.Contains(host, ".") || rest == "" {
		return fmt.Errorf("repo %q: want host/path, e.g. github.com/nats-io/nats.go", repo)
	}
	return nil
}

// ParseSplit reads a split file. Blank lines and lines starting with '#'
// are skipped; the first other line is the header "repo<TAB>half". name is
// used in error messages.
func ParseSplit(r io.Reader, name string) (*Split, error) {
	sc := bufio.NewScanner(r)
	s := NewSplit()
	seen := make(map[string]int)
	header, lineno := false, 0
	for sc.Scan() {
		lineno++
		text := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Split(text, "\t")
		if !header {
			if len(fields) != 2 || fields[0] != "repo" || fields[1] != "half" {
				return nil, fmt.Errorf("%s:%d: want the header \"repo<TAB>half\", got %q", name, lineno, text)
			}
			header = true
			continue
		}
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s:%d: want \"repo<TAB>half\", got %q", name, lineno, text)
		}
		repo, half := strings.TrimSpace(fields[0]), Half(strings.TrimSpace(fields[1]))
		if err := checkRepo(repo); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, lineno, err)
		}
		if half != HalfDev && half != HalfTest {
			return nil, fmt.Errorf("%s:%d: half %q: want dev or test", name, lineno, half)
		}
		if prev, dup := seen[repoKey(repo)]; dup {
			return nil, fmt.Errorf("%s:%d: repo %s is listed twice (first on line %d)", name, lineno, repo, prev)
		}
		seen[repoKey(repo)] = lineno
		s.set(repo, half)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if !header {
		return nil, fmt.Errorf("%s: empty split: no header line", name)
	}
	return s, nil
}

// SplitEntry is one repository assigned by Extend.
type SplitEntry struct {
	Repo   string
	Half   Half
	Weight int // rows and targets of the repository
}

// splitRank is the position of repo in the seeded order in which new
// repositories are assigned: the first 8 bytes of SHA-256(seed, repo).
func splitRank(seed uint64, repo string) uint64 {
	h := sha256.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	h.Write([]byte(repo))
	return binary.BigEndian.Uint64(h.Sum(nil)[:8])
}

// Extend assigns every repository of weights (repository -> number of rows
// and targets it brings) that the split does not hold yet, and returns the
// new entries in the order they were assigned. Spellings of one repository
// that differ only in case count as one, under the first in sort order. Repositories already in the
// split never move. The new ones are taken in the order of
// splitRank(seed, repo), a seeded shuffle, and each goes to the half that
// holds less weight so far, counting the weight of the repositories
// already there (one each when their weight is unknown); a tie goes by the
// lowest bit of the repository's rank. So the assignment depends only on
// the seed, the file and the set of repositories added, and both halves
// stay as even as one repository's weight allows.
func (s *Split) Extend(weights map[string]int, seed uint64) []SplitEntry {
	byKey := make(map[string]SplitEntry)
	for repo, w := range weights {
		e, ok := byKey[repoKey(repo)]
		if !ok || repo < e.Repo {
			e.Repo = repo
		}
		e.Weight += w
		byKey[repoKey(repo)] = e
	}
	load := map[Half]int{}
	for key, h := range s.halves {
		load[h] += max(byKey[key].Weight, 1)
	}
	var added []SplitEntry
	for key, e := range byKey {
		if _, ok := s.halves[key]; !ok {
			e.Weight = max(e.Weight, 1)
			added = append(added, e)
		}
	}
	slices.SortFunc(added, func(a, b SplitEntry) int {
		return cmp.Or(cmp.Compare(splitRank(seed, a.Repo), splitRank(seed, b.Repo)), strings.Compare(a.Repo, b.Repo))
	})
	for i := range added {
		e := &added[i]
		switch {
		case load[HalfDev] < load[HalfTest]:
			e.Half = HalfDev
		case load[HalfTest] < load[HalfDev]:
			e.Half = HalfTest
		case splitRank(seed, e.Repo)&1 == 0:
			e.Half = HalfDev
		default:
			e.Half = HalfTest
		}
		load[e.Half] += e.Weight
		s.set(e.Repo, e.Half)
	}
	return added
}

// Write prints the split file: a comment, the header, and one repository a
// line sorted by repository.
func (s *Split) Write(w io.Writer) error {
	repos := make([]string, 0, len(s.halves))
	for _, r := range s.names {
		repos = append(repos, r)
	}
	slices.SortFunc(repos, func(a, b string) int { return cmp.Or(strings.Compare(repoKey(a), repoKey(b)), strings.Compare(a, b)) })
	var b strings.Builder
	b.WriteString("# The dev/test split of the corpus and the wild set, by upstream repository\n" +
		"# (issue 8). Tune on dev only. Extend it, never edit a half by hand:\n" +
		"#   go run ./analyzer/internal/realworld -extend-split -manifest testdata/realworld/corpus.tsv\n" +
		"repo\thalf\n")
	for _, r := range repos {
		fmt.Fprintf(&b, "%s\t%s\n", r, s.halves[repoKey(r)])
	}
	_, err := io.WriteString(w, b.String())
	return err
}
