// Package golangci is the golangci-lint v2 module plugin of mapleak.
//
// Importing the package registers the plugin under the name "mapleak" with
// github.com/golangci/plugin-module-register. A golangci-lint binary that
// blank-imports it (built with `golangci-lint custom`, or offline with
// tools/golangci/build.sh in this repository) runs mapleak when
// .golangci.yml enables it as a module linter:
//
//	version: "2"
//	linters:
//	  enable:
//	    - mapleak
//	  settings:
//	    custom:
//	      mapleak:
//	        type: module
//	        description: request-ID map entries that some return path leaves behind
//	        original-url: https://github.com/mapleak/mapleak
//	        settings:
//	          keys: '(?i)^(id|seq|token)$'
//	          track-all: false
//
// Every setting is spelled like the command-line flag of the same meaning
// (see [Settings]); a setting left out keeps the analyzer's default, and an
// unknown setting is an error that names the valid ones.
package golangci

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/golangci/plugin-module-register/register"
	"golang.org/x/tools/go/analysis"

	"github.com/mapleak/mapleak/analyzer"
)

// Name is the name the plugin is registered under. The `custom` key in
// .golangci.yml, the `enable` entry and `//nolint:` directives use it.
const Name = "mapleak"

func init() {
	register.Plugin(Name, New)
}

// Settings are the plugin settings, read from
// linters.settings.custom.mapleak.settings in .golangci.yml. Each key is the
// name of the mapleak command-line flag of the same meaning; a nil field is a
// setting left out, which keeps the default of [analyzer.DefaultConfig].
type Settings struct {
	// Keys is the -keys pattern: a regular expression over key names and
	// key type names that mark a request ID.
	Keys *string `json:"keys"`
	// Maps is the -maps pattern: a regular expression over the names of
	// maps that hold per-request state.
	Maps *string `json:"maps"`
	// TrackAll is -track-all: track every write into a long-lived map.
	TrackAll *bool `json:"track-all"`
	// Cleanup is the -cleanup pattern: a regular expression over
	// "pkgpath.Func" and "pkgpath.Type.Method" naming extra functions that
	// release the map entry for their key argument.
	Cleanup *string `json:"cleanup"`
	// ReportStaleIgnores is -report-stale-ignores: report
	// //mapleak:ignore directives that suppress nothing.
	ReportStaleIgnores *bool `json:"report-stale-ignores"`
}

// Config returns the analyzer configuration for s: the defaults, overridden
// by every setting s holds.
func (s Settings) Config() analyzer.Config {
	cfg := analyzer.DefaultConfig()
	override(&cfg.Keys, s.Keys)
	override(&cfg.Maps, s.Maps)
	override(&cfg.TrackAll, s.TrackAll)
	override(&cfg.Cleanup, s.Cleanup)
	override(&cfg.ReportStaleIgnores, s.ReportStaleIgnores)
	return cfg
}

// override sets *dst to *setting when the setting is present.
func override[T any](dst, setting *T) {
	if setting != nil {
		*dst = *setting
	}
}

// Plugin is the mapleak golangci-lint plugin. Each Plugin holds its own copy
// of the configuration, so two plugins in one process never share settings.
type Plugin struct {
	cfg analyzer.Config
}

var _ register.LinterPlugin = (*Plugin)(nil)

// New decodes the raw settings golangci-lint passes (the `settings:` map,
// or nil when there is none) and validates them. A misspelt key, a value of
// the wrong type or an invalid pattern is an error that says which setting
// is wrong.
func New(rawSettings any) (register.LinterPlugin, error) {
	settings, err := register.DecodeSettings[Settings](rawSettings)
	if err != nil {
		return nil, fmt.Errorf("mapleak settings: %w (valid settings: %s)", err, strings.Join(SettingNames(), ", "))
	}
	cfg := settings.Config()
	// Validate now, so that golangci-lint reports a bad pattern when it
	// loads the configuration rather than when it builds the analyzers.
	if _, err := analyzer.New(cfg); err != nil {
		return nil, fmt.Errorf("mapleak settings: %w", err)
	}
	return &Plugin{cfg: cfg}, nil
}

// BuildAnalyzers returns a mapleak analyzer configured by the plugin's
// settings, independent of every other analyzer. Its diagnostics carry no
// Related information: see [withoutRelated].
func (p *Plugin) BuildAnalyzers() ([]*analysis.Analyzer, error) {
	a, err := analyzer.New(p.cfg)
	if err != nil {
		return nil, fmt.Errorf("mapleak settings: %w", err)
	}
	return []*analysis.Analyzer{withoutRelated(a)}, nil
}

// withoutRelated returns an analyzer that runs a but drops the Related
// information of its diagnostics. golangci-lint turns each Related entry into
// an issue of its own, "mapleak(related information): ...", at another line,
// where a //nolint:mapleak or //mapleak:ignore on the finding's line cannot
// reach it. mapleak's main message names the positions that matter (the
// leaking return, the release on the other paths), so nothing is lost.
func withoutRelated(a *analysis.Analyzer) *analysis.Analyzer {
	wrapped := *a
	wrapped.Run = func(pass *analysis.Pass) (any, error) {
		inner := *pass
		inner.Analyzer = a
		inner.Report = func(d analysis.Diagnostic) {
			d.Related = nil
			pass.Report(d)
		}
		return a.Run(&inner)
	}
	return &wrapped
}

// GetLoadMode reports that mapleak needs type information (it builds SSA).
func (p *Plugin) GetLoadMode() string {
	return register.LoadModeTypesInfo
}

// SettingNames returns the keys [Settings] accepts, in declaration order.
func SettingNames() []string {
	t := reflect.TypeFor[Settings]()
	names := make([]string, 0, t.NumField())
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		names = append(names, name)
	}
	return names
}
