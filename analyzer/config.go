package analyzer

import (
	"flag"
	"fmt"
	"regexp"
)

// Default patterns. DefaultKeys matches the names (identifiers, fields,
// methods such as ID() or GetId()) and named types of request-ID keys;
// DefaultMaps matches the names of maps that hold per-request state.
const (
	DefaultKeys = `^(?i:id|seq(no|num|uence)?|serial(no)?|nonce|token|cookie|correlation.*|txid|sid|(stream|query|request|req|call|msg|message)_?id)$|(ID|Id|_id|Seq|SeqNo|Serial|Nonce|Token|Cookie)$`
	DefaultMaps = `(?i)(pending|in_?flight|outstanding|waiters|waiting|calls|callbacks|requests|queries|tracked|stanzas|buffers|responses|futures)`
)

// Config holds the settings of one mapleak analyzer. Every field has a
// command-line flag of the same meaning (see [Config.RegisterFlags]) and a
// golangci-lint setting, so the three front ends are configured alike.
type Config struct {
	// Keys is a regular expression over key names and key type names; a
	// write whose key matches is tracked. Empty means DefaultKeys.
	Keys string
	// Maps is a regular expression over map names (variables, fields);
	// a write into a matching map is tracked whatever its key. Empty means
	// DefaultMaps.
	Maps string
	// TrackAll tracks every write into a long-lived map.
	TrackAll bool
	// Cleanup is a regular expression over "pkgpath.Func" and
	// "pkgpath.Type.Method" naming extra functions that release the map
	// entry for their key argument. Empty means none.
	Cleanup string
	// ReportStaleIgnores reports //mapleak:ignore directives that
	// suppress nothing.
	ReportStaleIgnores bool
}

// DefaultConfig returns the configuration used when no flag or setting is
// given.
func DefaultConfig() Config {
	return Config{Keys: DefaultKeys, Maps: DefaultMaps}
}

// RegisterFlags binds the fields of c to flags on fs. The flag names are
// the same in every front end: -keys, -maps, -track-all, -cleanup and
// -report-stale-ignores.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Keys, "keys", c.Keys, "regexp over key names and key type names that mark a request ID")
	fs.StringVar(&c.Maps, "maps", c.Maps, "regexp over map names that hold per-request state")
	fs.BoolVar(&c.TrackAll, "track-all", c.TrackAll, "track every write into a long-lived map")
	fs.StringVar(&c.Cleanup, "cleanup", c.Cleanup, "regexp over pkgpath.Func or pkgpath.Type.Method naming extra functions that release their key argument")
	fs.BoolVar(&c.ReportStaleIgnores, "report-stale-ignores", c.ReportStaleIgnores, "report //mapleak:ignore directives that suppress nothing")
}

// compiled is a validated Config.
type compiled struct {
	keys, maps, cleanup *regexp.Regexp
	trackAll            bool
	reportStale         bool
}

// compile validates c and compiles its patterns.
func (c Config) compile() (*compiled, error) {
	out := &compiled{trackAll: c.TrackAll, reportStale: c.ReportStaleIgnores}
	var err error
	if out.keys, err = compilePattern("keys", c.Keys, DefaultKeys); err != nil {
		return nil, err
	}
	if out.maps, err = compilePattern("maps", c.Maps, DefaultMaps); err != nil {
		return nil, err
	}
	if c.Cleanup != "" {
		if out.cleanup, err = regexp.Compile(c.Cleanup); err != nil {
			return nil, fmt.Errorf("mapleak: invalid -cleanup pattern %q: %w", c.Cleanup, err)
		}
	}
	return out, nil
}

func compilePattern(name, pattern, def string) (*regexp.Regexp, error) {
	if pattern == "" {
		pattern = def
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("mapleak: invalid -%s pattern %q: %w", name, pattern, err)
	}
	return re, nil
}
