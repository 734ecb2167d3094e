// Command golangci-lint-mapleak is golangci-lint v2 with the mapleak module
// plugin compiled in: the binary `golangci-lint custom` would produce, built
// from the Go module proxy alone (no git clone of golangci-lint).
//
// Build it with tools/golangci/build.sh, which writes
// bin/golangci-lint-mapleak; then enable mapleak in .golangci.yml as a
// `type: module` custom linter (see the repository README).
package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"github.com/golangci/golangci-lint/v2/pkg/commands"
	"github.com/golangci/golangci-lint/v2/pkg/exitcodes"

	// Registers the "mapleak" module plugin.
	_ "github.com/mapleak/mapleak/analyzer/golangci"
)

// golangciModule is the module whose version the binary reports.
const golangciModule = "github.com/golangci/golangci-lint/v2"

// pluginHash identifies the plugin sources the binary was built from; build.sh
// sets it with -ldflags "-X main.pluginHash=...". golangci-lint salts its
// result cache with the version, so the version must change whenever the
// analyzer does, or a rebuilt binary would serve findings cached by the old
// one.
var pluginHash string

func main() {
	if err := commands.Execute(buildInfo()); err != nil {
		fmt.Fprintf(os.Stderr, "The command is terminated due to an error: %v\n", err)
		os.Exit(exitcodes.Failure)
	}
}

// buildInfo reports the golangci-lint version the binary is built from, with
// a "-mapleak-<plugin hash>" suffix, as `golangci-lint custom` adds
// "-custom-gcl-<plugin hash>". Without a plugin hash the version is "(devel)",
// which makes golangci-lint salt its cache with a hash of the executable.
func buildInfo() commands.BuildInfo {
	info := commands.BuildInfo{Version: "(devel)", Commit: "?", Date: "(unknown)", GoVersion: "unknown"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	info.GoVersion = bi.GoVersion
	for _, dep := range bi.Deps {
		if dep.Path != golangciModule {
			continue
		}
		info.Commit = fmt.Sprintf("(golangci-lint %s, mod sum: %q)", dep.Version, dep.Sum)
		if pluginHash != "" {
			info.Version = strings.TrimPrefix(dep.Version, "v") + "-mapleak-" + pluginHash
		}
	}
	return info
}
