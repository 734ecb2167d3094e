// Command mapleak reports request-ID map entries that some return path
// leaves behind.
//
// Standalone:
//
//	mapleak [flags] ./...
//
// As a go vet tool:
//
//	go vet -vettool=$(which mapleak) [flags] ./...
package main

import (
	"golang.org/x/tools/go/analysis/singlechecker"

	"github.com/mapleak/mapleak/analyzer"
)

func main() { singlechecker.Main(analyzer.Analyzer) }
