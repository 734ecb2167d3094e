package main

import (
	"bufio"
	"fmt"
	"go/version"
	"io"
	"strings"

	"golang.org/x/mod/module"
)

// WildTarget is one line of a findings-in-the-wild list: a module version
// and the package patterns to run mapleak on.
type WildTarget struct {
	Line     int
	Module   string   // module path, or "std"
	Version  string   // module version, or Go version for std
	Patterns []string // package patterns inside the module (std: "std" or stdlib patterns)
	Repo     string   // upstream repository, the unit of the dev/test split
	Half     Half     // side of the split, set from the split file
}

// ModuleVersion returns "module@version".
func (t WildTarget) ModuleVersion() string { return t.Module + "@" + t.Version }

// ParseWildList reads a findings-in-the-wild list: one target a line,
//
//	module@version [repo=REPOSITORY] pattern [pattern...]
//
// separated by spaces or tabs, for example
//
//	golang.org/x/net@v0.62.0 repo=github.com/golang/net golang.org/x/net/...
//	github.com/lib/pq@v1.12.3 github.com/lib/pq/...
//	std@go1.26.8 repo=github.com/golang/go std
//
// Patterns must name packages of that module (pattern == module, or start
// with module/). The repository is the unit of the dev/test split; a module
// on github.com defaults to its first three path elements, any other module
// path (std, vanity import paths) must name its repository with repo=.
// Blank lines and lines starting with '#' are skipped. name is used in
// error messages.
func ParseWildList(r io.Reader, name string) ([]WildTarget, error) {
	sc := bufio.NewScanner(r)
	var (
		targets []WildTarget
		seen    = make(map[string]int)
		lineno  int
	)
	for sc.Scan() {
		lineno++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) < 2 {
			return nil, fmt.Errorf("%s:%d: want \"module@version pattern...\", got %q", name, lineno, text)
		}
		mod, ver, ok := strings.Cut(fields[0], "@")
		if !ok || mod == "" || ver == "" {
			return nil, fmt.Errorf("%s:%d: %q: want module@version", name, lineno, fields[0])
		}
		t := WildTarget{Line: lineno, Module: mod, Version: ver}
		for _, f := range fields[1:] {
			if r, ok := strings.CutPrefix(f, "repo="); ok {
				if t.Repo != "" {
					return nil, fmt.Errorf("%s:%d: repo= given twice", name, lineno)
				}
				t.Repo = r
				continue
			}
			t.Patterns = append(t.Patterns, f)
		}
		if len(t.Patterns) == 0 {
			return nil, fmt.Errorf("%s:%d: want \"module@version pattern...\", got %q", name, lineno, text)
		}
		if t.Repo == "" {
			t.Repo = defaultRepo(mod)
		}
		if t.Repo == "" {
			return nil, fmt.Errorf("%s:%d: %s is not on github.com: name its repository with repo=", name, lineno, mod)
		}
		if err := checkRepo(t.Repo); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, lineno, err)
		}
		if err := checkWildTarget(t); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, lineno, err)
		}
		if prev, dup := seen[t.ModuleVersion()]; dup {
			return nil, fmt.Errorf("%s:%d: %s is listed twice (first on line %d)", name, lineno, t.ModuleVersion(), prev)
		}
		seen[t.ModuleVersion()] = lineno
		targets = append(targets, t)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("%s: no targets", name)
	}
	return targets, nil
}

// defaultRepo is the repository of a module on github.com (its first
// three path elements), or "" for any other module path.
func defaultRepo(mod string) string {
	parts := strings.Split(mod, "/")
	if parts[0] != "github.com" || len(parts) < 3 {
		return ""
	}
	return strings.Join(parts[:3], "/")
}

func checkWildTarget(t WildTarget) error {
	if t.Module == stdModule {
		if !version.IsValid(t.Version) {
			return fmt.Errorf("%s: a std target needs a Go version such as go1.26.8", t.ModuleVersion())
		}
		for _, p := range t.Patterns {
			first, _, _ := strings.Cut(p, "/")
			if strings.Contains(first, ".") || strings.HasPrefix(p, "-") {
				return fmt.Errorf("pattern %q is not a standard-library pattern", p)
			}
		}
		return nil
	}
	if err := module.Check(t.Module, t.Version); err != nil {
		return err
	}
	for _, p := range t.Patterns {
		if p != t.Module && !strings.HasPrefix(p, t.Module+"/") {
			return fmt.Errorf("pattern %q is not inside module %s", p, t.Module)
		}
		if err := module.CheckImportPath(strings.TrimSuffix(strings.TrimSuffix(p, "..."), "/")); err != nil {
			return fmt.Errorf("pattern %q: %w", p, err)
		}
	}
	return nil
}
