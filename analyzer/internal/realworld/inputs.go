package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// readManifests reads every manifest and names each row's set after its
// file (visible.tsv: visible). Row ids must be unique across the files.
func readManifests(paths []string) ([]Row, error) {
	var all []Row
	first := make(map[string]string) // id -> manifest
	for _, p := range paths {
		rows, err := readManifest(p)
		if err != nil {
			return nil, err
		}
		set := strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))
		for i := range rows {
			if prev, dup := first[rows[i].ID]; dup {
				return nil, fmt.Errorf("%s:%d: row id %q is also in %s", p, rows[i].Line, rows[i].ID, prev)
			}
			first[rows[i].ID] = p
			rows[i].Set = set
		}
		all = append(all, rows...)
	}
	return all, nil
}

func readManifest(path string) ([]Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	defer f.Close()
	return ParseManifest(f, path)
}

func readWildList(path string) ([]WildTarget, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("wild list: %w", err)
	}
	defer f.Close()
	return ParseWildList(f, path)
}

// readWildLabels reads the labels of the findings of targets. A missing
// file is no labels when it is the default one (optional), an error when
// it was named.
func readWildLabels(path string, optional bool, targets []WildTarget) ([]WildLabel, error) {
	f, err := os.Open(path)
	if optional && errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("labels: %w", err)
	}
	defer f.Close()
	known := make(map[string]bool, len(targets))
	for _, t := range targets {
		known[t.ModuleVersion()] = true
	}
	return ParseWildLabels(f, path, known)
}

// readSplit reads the split file at path.
func readSplit(path string) (*Split, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("split: %s does not exist: create it with -extend-split", path)
	}
	if err != nil {
		return nil, fmt.Errorf("split: %w", err)
	}
	defer f.Close()
	return ParseSplit(f, path)
}

// needsSplit reports whether some row takes part in the split.
func needsSplit(rows []Row) bool {
	return slices.ContainsFunc(rows, func(r Row) bool { return r.Repo != "" })
}

// missingRepos formats the error for repositories absent from the split.
func missingRepos(missing []string, splitPath string) error {
	slices.Sort(missing)
	missing = slices.Compact(missing)
	return fmt.Errorf("%s lacks the repositories %s: add them with -extend-split", splitPath, strings.Join(missing, ", "))
}

// assignRowHalves sets the half of every row that names a repository.
func assignRowHalves(rows []Row, split *Split, splitPath string) error {
	var missing []string
	for i := range rows {
		if rows[i].Repo == "" {
			continue
		}
		h, ok := split.Half(rows[i].Repo)
		if !ok {
			missing = append(missing, rows[i].Repo)
		}
		rows[i].Half = h
	}
	if len(missing) > 0 {
		return missingRepos(missing, splitPath)
	}
	return nil
}

// assignTargetHalves sets the half of every wild target.
func assignTargetHalves(targets []WildTarget, split *Split, splitPath string) error {
	var missing []string
	for i := range targets {
		h, ok := split.Half(targets[i].Repo)
		if !ok {
			missing = append(missing, targets[i].Repo)
		}
		targets[i].Half = h
	}
	if len(missing) > 0 {
		return missingRepos(missing, splitPath)
	}
	return nil
}

// selectRows keeps the rows of the selected half whose id matches only
// (nil: all).
func selectRows(rows []Row, half halfSelection, only *regexp.Regexp) []Row {
	var out []Row
	for _, r := range rows {
		if half.includes(r.Half) && (only == nil || only.MatchString(r.ID)) {
			out = append(out, r)
		}
	}
	return out
}

// selectTargets keeps the targets of the selected half whose
// module@version matches only (nil: all).
func selectTargets(ts []WildTarget, half halfSelection, only *regexp.Regexp) []WildTarget {
	var out []WildTarget
	for _, t := range ts {
		if half.includes(t.Half) && (only == nil || only.MatchString(t.ModuleVersion())) {
			out = append(out, t)
		}
	}
	return out
}

// extendSplit adds the repositories of the manifests' split rows and of
// the wild targets to the split file, creating it if needed, and prints
// what it added.
func extendSplit(o *options, repo, splitPath string, stdout io.Writer) (int, error) {
	paths := o.manifests
	if len(paths) == 0 {
		paths = []string{defaultPath("", repo, "testdata/realworld/visible.tsv")}
	}
	rows, err := readManifests(paths)
	if err != nil {
		return exitUsage, err
	}
	listPath := defaultPath(o.wildList, repo, "testdata/realworld/wild.txt")
	targets, err := readWildList(listPath)
	if err != nil {
		return exitUsage, err
	}
	split := NewSplit()
	if fileExists(splitPath) {
		if split, err = readSplit(splitPath); err != nil {
			return exitUsage, err
		}
	}
	weights := make(map[string]int)
	for _, r := range rows {
		if r.Repo != "" {
			weights[r.Repo]++
		}
	}
	for _, t := range targets {
		weights[t.Repo]++
	}
	added := split.Extend(weights, o.splitSeed)
	if err := writeFileWith(splitPath, split.Write); err != nil {
		return exitUsage, fmt.Errorf("split: %w", err)
	}
	dev, test := split.Counts()
	fmt.Fprintf(stdout, "%s: %d repositories added (seed %d), %d in all: %d dev, %d test\n", relTo(repo, splitPath), len(added), o.splitSeed, split.Len(), dev, test)
	for _, e := range added {
		fmt.Fprintf(stdout, "  %s\t%s\t(rows and targets: %d)\n", e.Repo, e.Half, e.Weight)
	}
	return exitOK, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// writeFileWith writes path through a temporary file renamed into place,
// so a failed write leaves the old file.
func writeFileWith(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // after the rename there is nothing to remove
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// relTo returns path relative to repo with slashes when it lies inside it.
func relTo(repo, path string) string {
	if path == "" {
		return ""
	}
	if rel, err := filepath.Rel(repo, path); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return path
}

// relList applies relTo to a ", "-separated list of paths.
func relList(repo, paths string) string {
	parts := strings.Split(paths, ", ")
	for i, p := range parts {
		parts[i] = relTo(repo, p)
	}
	return strings.Join(parts, ", ")
}
