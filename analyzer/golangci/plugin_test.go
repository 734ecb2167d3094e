package golangci

import (
	"flag"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/golangci/plugin-module-register/register"
	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/mapleak/mapleak/analyzer"
)

// newPlugin builds a plugin the way golangci-lint does: through the registry,
// from the raw settings map.
func newPlugin(t *testing.T, raw any) *Plugin {
	t.Helper()
	constructor, err := register.GetPlugin(Name)
	if err != nil {
		t.Fatalf("GetPlugin(%q): %v", Name, err)
	}
	p, err := constructor(raw)
	if err != nil {
		t.Fatalf("New(%#v): %v", raw, err)
	}
	return p.(*Plugin)
}

func buildOne(t *testing.T, p *Plugin) *analysis.Analyzer {
	t.Helper()
	analyzers, err := p.BuildAnalyzers()
	if err != nil {
		t.Fatalf("BuildAnalyzers: %v", err)
	}
	if len(analyzers) != 1 {
		t.Fatalf("BuildAnalyzers returned %d analyzers, want 1", len(analyzers))
	}
	return analyzers[0]
}

func TestRegisteredPlugin(t *testing.T) {
	p := newPlugin(t, nil)
	if got := p.GetLoadMode(); got != register.LoadModeTypesInfo {
		t.Errorf("GetLoadMode() = %q, want %q", got, register.LoadModeTypesInfo)
	}
	a := buildOne(t, p)
	// golangci-lint names issues after the plugin, but a mismatch with the
	// analyzer's own name would make the two front ends disagree.
	if a.Name != Name {
		t.Errorf("analyzer name %q, plugin registered as %q", a.Name, Name)
	}
	if err := analysis.Validate([]*analysis.Analyzer{a}); err != nil {
		t.Errorf("analysis.Validate: %v", err)
	}
}

func TestDecodeSettings(t *testing.T) {
	tests := []struct {
		name string
		raw  any
		want analyzer.Config
	}{
		{"no settings", nil, analyzer.DefaultConfig()},
		{"empty settings", map[string]any{}, analyzer.DefaultConfig()},
		{
			name: "every setting",
			raw: map[string]any{
				"keys":                 `^(seq|token)$`,
				"maps":                 `^waiters$`,
				"track-all":            true,
				"cleanup":              `example\.com/rpc\.\(\*Client\)\.forget`,
				"report-stale-ignores": true,
			},
			want: analyzer.Config{
				Keys:               `^(seq|token)$`,
				Maps:               `^waiters$`,
				TrackAll:           true,
				Cleanup:            `example\.com/rpc\.\(\*Client\)\.forget`,
				ReportStaleIgnores: true,
			},
		},
		{
			name: "one setting keeps the other defaults",
			raw:  map[string]any{"track-all": true},
			want: func() analyzer.Config {
				cfg := analyzer.DefaultConfig()
				cfg.TrackAll = true
				return cfg
			}(),
		},
		{
			// YAML `keys: ""` is an explicit empty pattern: the analyzer reads it
			// as "the default", the same as -keys="".
			name: "explicit empty pattern",
			raw:  map[string]any{"keys": ""},
			want: func() analyzer.Config {
				cfg := analyzer.DefaultConfig()
				cfg.Keys = ""
				return cfg
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPlugin(t, tt.raw)
			if p.cfg != tt.want {
				t.Errorf("config = %+v\nwant     %+v", p.cfg, tt.want)
			}
		})
	}
}

func TestBadSettings(t *testing.T) {
	tests := []struct {
		name string
		raw  any
		want []string // substrings of the error
	}{
		{
			name: "misspelt key",
			raw:  map[string]any{"trak-all": true},
			want: []string{`unknown field "trak-all"`, "valid settings: keys, maps, track-all, cleanup, report-stale-ignores"},
		},
		{
			name: "flag spelling with a dash",
			raw:  map[string]any{"-keys": "id"},
			want: []string{`unknown field "-keys"`},
		},
		{
			name: "Go field name",
			raw:  map[string]any{"TrackAll": true},
			want: []string{`unknown field "TrackAll"`},
		},
		{
			name: "wrong type",
			raw:  map[string]any{"track-all": "yes"},
			want: []string{"track-all", "bool"},
		},
		{
			name: "list instead of pattern",
			raw:  map[string]any{"cleanup": []any{"a.B", "c.D"}},
			want: []string{"cleanup", "string"},
		},
		{
			name: "invalid keys pattern",
			raw:  map[string]any{"keys": "(id"},
			want: []string{"-keys", "(id", "missing closing )"},
		},
		{
			name: "invalid cleanup pattern",
			raw:  map[string]any{"cleanup": "*"},
			want: []string{"-cleanup", "missing argument to repetition operator"},
		},
		{
			name: "settings not a map",
			raw:  []any{"keys"},
			want: []string{"mapleak settings", "cannot unmarshal array"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.raw)
			if err == nil {
				t.Fatalf("New(%#v) = %+v, want an error", tt.raw, p)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

// TestEveryConfigFieldHasASetting fails when a field is added to
// analyzer.Config without a Settings field of the same name, spelled like the
// field's command-line flag and mapped by Settings.Config.
func TestEveryConfigFieldHasASetting(t *testing.T) {
	flagOf := flagNamesByField(t)
	configType := reflect.TypeFor[analyzer.Config]()
	settingsType := reflect.TypeFor[Settings]()

	for field := range configType.Fields() {
		t.Run(field.Name, func(t *testing.T) {
			setting, ok := settingsType.FieldByName(field.Name)
			if !ok {
				t.Fatalf("analyzer.Config.%s has no Settings field: add one (a pointer, tagged with its flag name) and map it in Settings.Config", field.Name)
			}
			if setting.Type != reflect.PointerTo(field.Type) {
				t.Errorf("Settings.%s is %s, want %s (nil means: keep the default)", field.Name, setting.Type, reflect.PointerTo(field.Type))
			}
			key, _, _ := strings.Cut(setting.Tag.Get("json"), ",")
			if flagName, ok := flagOf[field.Name]; !ok {
				t.Errorf("analyzer.Config.%s has no command-line flag; settings are spelled like flags", field.Name)
			} else if key != flagName {
				t.Errorf("Settings.%s has key %q, want the flag name %q", field.Name, key, flagName)
			}

			// Settings.Config must copy this setting, and only this one.
			value := reflect.New(field.Type).Elem()
			value.Set(nonDefault(t, field.Type, reflect.ValueOf(analyzer.DefaultConfig()).FieldByIndex(field.Index)))
			var s Settings
			reflect.ValueOf(&s).Elem().FieldByIndex(setting.Index).Set(value.Addr())
			got := s.Config()
			want := analyzer.DefaultConfig()
			reflect.ValueOf(&want).Elem().FieldByIndex(field.Index).Set(value)
			if got != want {
				t.Errorf("Settings{%s: %v}.Config() = %+v\nwant %+v", field.Name, value, got, want)
			}
		})
	}
	for setting := range settingsType.Fields() {
		if _, ok := configType.FieldByName(setting.Name); !ok {
			t.Errorf("Settings.%s matches no analyzer.Config field", setting.Name)
		}
	}
	if got, want := len(SettingNames()), settingsType.NumField(); got != want {
		t.Errorf("SettingNames() has %d names, Settings %d fields", got, want)
	}
}

// flagNamesByField finds, for each analyzer.Config field, the flag that
// Config.RegisterFlags binds to it, by setting each flag and watching which
// field changes.
func flagNamesByField(t *testing.T) map[string]string {
	t.Helper()
	names := make(map[string]string)
	var probe flag.FlagSet
	probeCfg := analyzer.DefaultConfig()
	probeCfg.RegisterFlags(&probe)
	probe.VisitAll(func(f *flag.Flag) {
		var fs flag.FlagSet
		cfg := analyzer.DefaultConfig()
		cfg.RegisterFlags(&fs)
		before := cfg
		if err := setToOtherValue(fs.Lookup(f.Name)); err != nil {
			t.Fatalf("setting -%s: %v", f.Name, err)
		}
		changed := changedFields(before, cfg)
		if len(changed) != 1 {
			t.Fatalf("setting -%s changed fields %v, want exactly one", f.Name, changed)
		}
		names[changed[0]] = f.Name
	})
	return names
}

// setToOtherValue sets f to a value different from its default.
func setToOtherValue(f *flag.Flag) error {
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return f.Value.Set(fmt.Sprint(f.DefValue != "true"))
	}
	var errs []string
	for _, v := range []string{`^settings_probe$`, "7", "7s"} {
		err := f.Value.Set(v)
		if err == nil {
			return nil
		}
		errs = append(errs, err.Error())
	}
	return fmt.Errorf("no probe value fits (%s): extend setToOtherValue", strings.Join(errs, "; "))
}

func changedFields(before, after analyzer.Config) []string {
	var names []string
	b, a := reflect.ValueOf(before), reflect.ValueOf(after)
	for i := range b.NumField() {
		if !reflect.DeepEqual(b.Field(i).Interface(), a.Field(i).Interface()) {
			names = append(names, b.Type().Field(i).Name)
		}
	}
	return names
}

// nonDefault returns a value of type typ that differs from def.
func nonDefault(t *testing.T, typ reflect.Type, def reflect.Value) reflect.Value {
	t.Helper()
	switch typ.Kind() {
	case reflect.Bool:
		return reflect.ValueOf(!def.Bool())
	case reflect.String:
		return reflect.ValueOf(`^settings_probe_` + def.String() + `$`).Convert(typ)
	case reflect.Int, reflect.Int64:
		return reflect.ValueOf(def.Int() + 7).Convert(typ)
	default:
		t.Fatalf("no probe value for a Config field of kind %s: extend nonDefault", typ.Kind())
		return reflect.Value{}
	}
}

// TestSettingsDoNotLeak builds several plugins in one process, as
// golangci-lint does for each configuration it loads, and checks that none
// sees another's settings, that the raw map is not retained, and that the
// flag-configured analyzer.Analyzer is untouched.
func TestSettingsDoNotLeak(t *testing.T) {
	rawA := map[string]any{"keys": `^seq$`, "track-all": true}
	rawB := map[string]any{"maps": `^waiters$`}
	a := newPlugin(t, rawA)
	b := newPlugin(t, rawB)
	rawA["keys"] = "mutated"
	rawA["cleanup"] = "mutated"
	c := newPlugin(t, nil)

	wantA := analyzer.DefaultConfig()
	wantA.Keys, wantA.TrackAll = `^seq$`, true
	wantB := analyzer.DefaultConfig()
	wantB.Maps = `^waiters$`
	for _, tt := range []struct {
		name string
		p    *Plugin
		want analyzer.Config
	}{{"a", a, wantA}, {"b", b, wantB}, {"c", c, analyzer.DefaultConfig()}} {
		if tt.p.cfg != tt.want {
			t.Errorf("plugin %s config = %+v\nwant %+v", tt.name, tt.p.cfg, tt.want)
		}
	}

	seen := make(map[*analysis.Analyzer]string)
	for name, p := range map[string]*Plugin{"a": a, "b": b, "c": c} {
		an := buildOne(t, p)
		if other, ok := seen[an]; ok {
			t.Errorf("plugins %s and %s share one analyzer", name, other)
		}
		seen[an] = name
		if an == analyzer.Analyzer {
			t.Errorf("plugin %s returned the global flag-configured analyzer", name)
		}
	}
	for name, want := range map[string]string{"keys": analyzer.DefaultKeys, "maps": analyzer.DefaultMaps, "track-all": "false", "cleanup": ""} {
		if f := analyzer.Analyzer.Flags.Lookup(name); f == nil {
			t.Errorf("analyzer.Analyzer has no -%s flag", name)
		} else if got := f.Value.String(); got != want {
			t.Errorf("analyzer.Analyzer -%s = %q after building plugins, want %q", name, got, want)
		}
	}
}

// TestSettingsChangeFindings runs analyzers of differently configured plugins,
// interleaved, over one fixture: the default one reports the classic pending
// call left behind on a write error, one whose patterns match nothing does
// not, and track-all adds a finding on a cache keyed by name.
//
// All plugins are constructed before any analyzer is built, and the
// analyzers are built in the reverse order, as golangci-lint may do: a
// plugin or analyzer that read "the latest settings" from shared state,
// rather than its own, would run with another plugin's settings here.
func TestSettingsChangeFindings(t *testing.T) {
	testdata := analysistest.TestData()
	defaultsPlugin := newPlugin(t, nil)
	narrowedPlugin := newPlugin(t, map[string]any{"keys": `^nothing$`, "maps": `^nothing$`})
	trackAllPlugin := newPlugin(t, map[string]any{"track-all": true})
	trackAll := buildOne(t, trackAllPlugin)
	narrowed := buildOne(t, narrowedPlugin)
	defaults := buildOne(t, defaultsPlugin)

	analysistest.Run(ignoreFacts{t}, testdata, defaults, "leak")
	if got := diagnostics(t, narrowed, "leak"); len(got) != 0 {
		t.Errorf("keys and maps matching nothing: got %q, want no diagnostics", got)
	}
	analysistest.Run(ignoreFacts{t}, testdata, trackAll, "trackall")
	// The first analyzer again, after the others ran: still its own settings.
	analysistest.Run(ignoreFacts{t}, testdata, defaults, "leak")
	if got := diagnostics(t, defaults, "trackall"); len(got) != 0 {
		t.Errorf("default settings on a cache keyed by name: got %q, want no diagnostics", got)
	}
}

// ignoreFacts passes analysistest's complaints on to t, except those about
// facts: the analyzer's fact design is not the plugin's concern.
type ignoreFacts struct{ t *testing.T }

func (f ignoreFacts) Errorf(format string, args ...any) {
	f.t.Helper()
	if msg := fmt.Sprintf(format, args...); !strings.Contains(msg, "unexpected fact") {
		f.t.Error(msg)
	}
}

// recorder collects analysistest's complaints.
type recorder struct{ errs []string }

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// diagnostics runs a over testdata/src/pkg and returns its diagnostics as
// "file:line: message", ignoring the fixture's `// want` comments; a package
// that fails to load or analyze fails the test.
func diagnostics(t *testing.T, a *analysis.Analyzer, pkg string) []string {
	t.Helper()
	var r recorder
	results := analysistest.Run(&r, analysistest.TestData(), a, pkg)
	for _, e := range r.errs {
		if strings.HasPrefix(e, "loading ") || strings.HasPrefix(e, "Analyze: ") || strings.HasPrefix(e, "error analyzing ") {
			t.Fatal(e)
		}
	}
	var out []string
	for _, res := range results {
		for _, d := range res.Action.Diagnostics {
			posn := res.Action.Package.Fset.Position(d.Pos)
			out = append(out, fmt.Sprintf("%s:%d: %s", filepath.Base(posn.Filename), posn.Line, d.Message))
		}
	}
	return out
}

// TestRelatedInformationDropped checks the wrapper BuildAnalyzers applies:
// golangci-lint would report each Related entry as an issue of its own that
// //nolint on the finding's line does not silence.
func TestRelatedInformationDropped(t *testing.T) {
	var sawAnalyzer *analysis.Analyzer
	fake := &analysis.Analyzer{
		Name: "fake",
		Doc:  "fake reports the package clause with related information",
		Run: func(pass *analysis.Pass) (any, error) {
			sawAnalyzer = pass.Analyzer
			f := pass.Files[0]
			pass.Report(analysis.Diagnostic{
				Pos:     f.Package,
				Message: "main message",
				Related: []analysis.RelatedInformation{{Pos: f.Name.Pos(), Message: "related"}},
			})
			return nil, nil
		},
	}
	related := func(a *analysis.Analyzer) (messages []string, nRelated int) {
		var r recorder
		for _, res := range analysistest.Run(&r, analysistest.TestData(), a, "trackall") {
			for _, d := range res.Action.Diagnostics {
				messages = append(messages, d.Message)
				nRelated += len(d.Related)
			}
		}
		return messages, nRelated
	}
	if _, n := related(fake); n != 1 {
		t.Fatalf("the fake analyzer itself reported %d related entries, want 1", n)
	}
	messages, n := related(withoutRelated(fake))
	if n != 0 {
		t.Errorf("wrapped analyzer reported %d related entries, want 0", n)
	}
	if len(messages) != 1 || messages[0] != "main message" {
		t.Errorf("wrapped analyzer reported %q, want the one main message", messages)
	}
	if sawAnalyzer != fake {
		t.Errorf("the wrapped Run saw pass.Analyzer %p, want its own analyzer %p", sawAnalyzer, fake)
	}
}
