#!/usr/bin/env bash
# Builds golangci-lint v2.15.0 with the mapleak module plugin from this
# checkout, the binary `golangci-lint custom` would make, using nothing but
# the Go module proxy (no git clone of golangci-lint).
#
#   tools/golangci/build.sh [OUTPUT]     default OUTPUT: bin/golangci-lint-mapleak
#
# Versions are pinned by tools/golangci/go.mod and go.sum (golangci-lint
# v2.15.0; golang.org/x/tools stays at v0.52.0, the version both it and
# mapleak require). The Go build cache makes a rebuild after a plugin change
# take seconds plus the link; a cold build takes minutes.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/bin/golangci-lint-mapleak}
case $out in /*) ;; *) out=$PWD/$out ;; esac
cd "$here"
export GOWORK=off

# -mod=mod: this module replaces github.com/mapleak/mapleak with the checkout,
# so its module graph follows the root go.mod; when a teammate adds a
# requirement there, go.sum gains the (checksum-verified) entries instead of
# the build failing. It never changes the pinned golangci-lint or x/tools.
sums_before=$(cat go.mod go.sum | cksum)

# golangci-lint salts its result cache with its version: put a hash of every
# file of this module that the binary compiles (and the module files) in it,
# so a changed analyzer never serves findings cached by an older build.
plugin_files=$(go list -mod=mod -deps -f '{{with .Module}}{{if eq .Path "github.com/mapleak/mapleak"}}{{range $.GoFiles}}{{$.Dir}}/{{.}}
{{end}}{{range $.EmbedFiles}}{{$.Dir}}/{{.}}
{{end}}{{end}}{{end}}' .)
plugin_hash=$( { printf '%s\n' "$plugin_files" | sort | xargs cat; cat "$root/go.mod" go.mod go.sum main.go; } | sha256sum | cut -c1-12)

mkdir -p "$(dirname "$out")"
go build -mod=mod -buildvcs=false -o "$out" -ldflags "-s -w -X main.pluginHash=$plugin_hash" .

if [ "$(cat go.mod go.sum | cksum)" != "$sums_before" ]; then
	echo "note: tools/golangci/go.mod or go.sum changed to follow the root go.mod; commit them" >&2
fi
"$out" version
