#!/usr/bin/env bash
# Builds bench/go-load/.build/secarc-go-load (the link benchmarks' load
# fleet in Go) offline, from Debian packages only: the Go code of the protos
# comes from the example Go agent's build (examples/go-agent/build.sh, which
# lists the packages), GOPATH mode, nothing downloaded.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
"$root/examples/go-agent/build.sh" --no-test >/dev/null
export GO111MODULE=off GOPROXY=off GOFLAGS= CGO_ENABLED=0
export GOCACHE="${GOCACHE:-$root/examples/go-agent/.build/cache}"
export GOPATH="$root/examples/go-agent/gen:/usr/share/gocode"
cd "$here"
go vet .
go test -count=1 .
go build -o "$here/.build/secarc-go-load" .
echo "built $here/.build/secarc-go-load"
