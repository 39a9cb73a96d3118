#!/usr/bin/env bash
# Builds the Go example agent offline, from Debian packages only:
#   golang-go golang-google-grpc-dev golang-google-protobuf-dev
#   golang-github-golang-protobuf-1-5-dev protoc-gen-go-grpc
#   protobuf-compiler libprotobuf-dev
# 1. builds the APIv2 protoc-gen-go from /usr/share/gocode into .build/bin,
# 2. generates the Go code from proto/ with buf (buf.gen.yaml) into gen/,
# 3. runs the unit tests (with go vet's checks) and builds .build/bin/secarc-go-agent.
# GOPATH mode (GO111MODULE=off), GOPROXY=off: nothing is downloaded.
# GOCACHE defaults to .build/cache (git-ignored). Usage: build.sh [--no-test]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build="$here/.build"
buf="${BUF:-$root/node_modules/.bin/buf}"
mkdir -p "$build/bin"

export GO111MODULE=off GOPROXY=off GOFLAGS= CGO_ENABLED=0
export GOCACHE="${GOCACHE:-$build/cache}"
export GOPATH="$here/gen:/usr/share/gocode"

for need in go /usr/bin/protoc-gen-go-grpc /usr/share/gocode/src/google.golang.org/grpc /usr/share/gocode/src/google.golang.org/protobuf/cmd/protoc-gen-go /usr/share/gocode/src/github.com/golang/protobuf/proto; do
  if ! command -v "$need" >/dev/null 2>&1 && [ ! -e "$need" ]; then
    echo "build.sh: $need is missing; install the Debian packages listed in examples/go-agent/README.md" >&2
    exit 1
  fi
done
# golang-github-golang-protobuf-1-3-dev (pulled in by golang-goprotobuf-dev)
# ships a github.com/golang/protobuf that cannot marshal APIv2 messages, and
# grpc's codec uses it: the 1-5 package must be the one installed.
if ! grep -q "protoimpl" /usr/share/gocode/src/github.com/golang/protobuf/proto/*.go 2>/dev/null; then
  echo "build.sh: /usr/share/gocode/src/github.com/golang/protobuf is the 1.3 API; install golang-github-golang-protobuf-1-5-dev" >&2
  exit 1
fi

GOPATH=/usr/share/gocode go build -o "$build/bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
version=$("$build/bin/protoc-gen-go" --version)
case "$version" in
  "protoc-gen-go v1."[2-9]*) ;;
  *) echo "build.sh: expected the APIv2 protoc-gen-go (v1.2x), got: $version" >&2; exit 1 ;;
esac

(cd "$root" && PATH="$build/bin:$PATH" "$buf" generate --template examples/go-agent/buf.gen.yaml -o examples/go-agent)

cd "$here"
# go test runs go vet's main checks too. Same flags for test and build, so
# the dependencies are compiled once.
if [ "${1:-}" != "--no-test" ]; then
  go test -count=1 .
fi
go build -o "$build/bin/secarc-go-agent" .
echo "built $build/bin/secarc-go-agent"
