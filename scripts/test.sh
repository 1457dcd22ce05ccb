#!/usr/bin/env bash
# The project's one test command. On a fresh Debian machine it installs, with
# apt-get and without recommended packages, only what the tests run:
# redis-server (the shared delivery record), chromium (the preview's browser
# test) and fonts-noto-color-emoji (so that the screenshot that test keeps
# shows the verdict emoji). Then it runs go vet, staticcheck v0.8.2 (fetched
# through the Go module proxy by `go run`) and every test with the race
# detector; and, for the build s.yaml deploys (-tags nolocalcloud, which
# leaves out the local cloud), go vet, staticcheck of the command line it
# changes and that command line's tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need+=(fonts-noto-color-emoji)
if [ ${#need[@]} -gt 0 ]; then
  echo "test.sh: installing ${need[*]} (apt-get, --no-install-recommends)" >&2
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

go vet ./...
go vet -tags nolocalcloud ./...
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 -tags nolocalcloud . ./cli/
go test -count=1 -tags nolocalcloud ./cli/
go test -race -count=1 "$@" ./...
