package analyzer

import (
	_ "embed"
	"fmt"
	"sync"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/buildssa"
)

//go:embed doc.go
var doc string

// flagConfig backs the flags of Analyzer.
var flagConfig = DefaultConfig()

// Analyzer is the mapleak analyzer configured by its flags (-keys, -maps,
// -track-all, -cleanup, -report-stale-ignores). Use [New] for an analyzer
// with a fixed configuration.
var Analyzer = newAnalyzer(func() Config { return flagConfig })

func init() {
	flagConfig.RegisterFlags(&Analyzer.Flags)
}

// New returns a mapleak analyzer that uses cfg. Each call returns an
// independent analyzer: settings never leak between two of them.
func New(cfg Config) (*analysis.Analyzer, error) {
	if _, err := cfg.compile(); err != nil {
		return nil, err
	}
	return newAnalyzer(func() Config { return cfg }), nil
}

func newAnalyzer(config func() Config) *analysis.Analyzer {
	a := &analysis.Analyzer{
		Name: "mapleak",
		Doc:  mustExtractDoc(doc, "mapleak"),
		URL:  "https://pkg.go.dev/github.com/mapleak/mapleak/analyzer",
		// buildssa requires ctrlflow, whose no-return facts end the SSA
		// blocks after calls that never return (log.Fatal, a helper that
		// panics); mapleak reads none of ctrlflow's results itself.
		Requires:  []*analysis.Analyzer{buildssa.Analyzer},
		FactTypes: []analysis.Fact{new(summaryFact)},
	}
	debug := debugFromEnv()
	// The configuration is compiled once per distinct setting, not for
	// every package.
	var (
		mu    sync.Mutex
		cache = make(map[Config]*compiled)
	)
	compileOnce := func(c Config) (*compiled, error) {
		mu.Lock()
		defer mu.Unlock()
		if cc, ok := cache[c]; ok {
			return cc, nil
		}
		cc, err := c.compile()
		if err != nil {
			return nil, err
		}
		cache[c] = cc
		return cc, nil
	}
	a.Run = func(pass *analysis.Pass) (result any, err error) {
		cfg, err := compileOnce(config())
		if err != nil {
			return nil, err
		}
		defer func() {
			// Last resort: a bug in mapleak must not take the whole vet
			// run down. Report it as an error of this package instead.
			if r := recover(); r != nil {
				result, err = nil, fmt.Errorf("mapleak: internal error analyzing %s: %v", pass.Pkg.Path(), r)
			}
		}()
		runAnalysis(pass, cfg, debug)
		return nil, nil
	}
	return a
}
