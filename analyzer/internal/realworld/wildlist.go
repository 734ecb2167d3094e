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
}

// ModuleVersion returns "module@version".
func (t WildTarget) ModuleVersion() string { return t.Module + "@" + t.Version }

// ParseWildList reads a findings-in-the-wild list: one target a line,
//
//	module@version pattern [pattern...]
//
// separated by spaces or tabs, for example
//
//	golang.org/x/net@v0.62.0 golang.org/x/net/...
//	std@go1.26.8 std
//
// Patterns must name packages of that module (pattern == module, or start
// with module/). Blank lines and lines starting with '#' are skipped. name is
// used in error messages.
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
		t := WildTarget{Line: lineno, Module: mod, Version: ver, Patterns: fields[1:]}
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
