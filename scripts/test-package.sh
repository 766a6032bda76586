#!/usr/bin/env bash
# The package test: builds the .deb (scripts/package.sh, or takes the one given), installs it
# with dpkg into a throw-away dpkg root (dpkg --root: the files land under it, the machine's own
# /usr is never touched), and checks what a user would after `apt install ./mxcall_….deb`:
# `mxcall --version` names the commit, it places a call that connects and carries audio both
# ways (scripts/call-pair.sh), `man -w mxcall` and `man -w mxcall-call` find the pages,
# bash completes `mxcall ca<TAB>` to `call`, the zsh and fish completions and the systemd user
# unit are where those tools look, Depends: names packages this machine has; then `dpkg -r`
# removes every file it installed. Exits non-zero with a line saying what is wrong.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"

fail() { echo "test-package.sh: FAIL: $*" >&2; exit 1; }
deb=${1:-$(scripts/package.sh)}
[ -f "$deb" ] || fail "no package at '$deb'"

root=$(mktemp -d "${TMPDIR:-/tmp}/mxcall-deb-root.XXXXXX")
own_hs=""
cleanup() {
    if [ -n "$own_hs" ]; then scripts/synapse.sh stop "$own_hs" >/dev/null 2>&1 || true; fi
    rm -rf "$root" "$root.log" "$root.call" "$root.call.log" "$root.hs"
}
trap cleanup EXIT
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
touch "$root/var/lib/dpkg/status"
# --force-depends: the dependencies are installed on the machine, not in this empty root.
dpkg --root="$root" --force-depends --force-not-root -i "$deb" >"$root.log" 2>&1 \
    || { cat "$root.log" >&2; fail "dpkg -i $deb"; }
rm -f "$root.log"

bin="$root/usr/bin/mxcall"
[ -x "$bin" ] || fail "no executable /usr/bin/mxcall"
version=$("$bin" --version)
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
pkg_version=$(dpkg-deb -f "$deb" Version)
[[ "$version" == "mxcall ${pkg_version%-*} (commit $commit)" ]] \
    || fail "mxcall --version says '$version', expected version ${pkg_version%-*} and commit $commit"
if readelf -S "$bin" | grep -q '\.symtab'; then fail "the binary is not stripped"; fi

# The installed binary places a real call: the release build is not the one the test suite
# runs (it aborts on a panic, its code is optimised differently), so one call checks it end to
# end, exit codes included. On the suite's Synapse, or a throw-away one when run alone.
hs=${MXCALL_TEST_HS:-}
if [ -z "$hs" ]; then
    own_hs=$root.hs
    hs=$(scripts/synapse.sh start "$own_hs")
fi
scripts/call-pair.sh "$bin" "$hs" "$root.call" "pkg$$" >"$root.call.log" 2>&1 \
    || { cat "$root.call.log" >&2; fail "a call between two installed mxcalls failed"; }
rm -rf "$root.call" "$root.call.log"

for page in mxcall mxcall-call mxcall-answer mxcall-watch; do
    found=$(man -M "$root/usr/share/man" -w "$page" 2>/dev/null) || fail "man -w $page finds nothing"
    [[ "$found" == "$root/usr/share/man/man1/$page.1"* ]] || fail "man -w $page: $found"
done

completion="$root/usr/share/bash-completion/completions/mxcall"
[ -f "$completion" ] || fail "no bash completion in /usr/share/bash-completion/completions"
got=$(bash -c 'source "$1"; COMP_WORDS=(mxcall ca); COMP_CWORD=1; _mxcall mxcall ca mxcall; echo "${COMPREPLY[*]}"' _ "$completion")
[ "$got" = call ] || fail "bash completes 'mxcall ca' to '$got', not 'call'"
[ -s "$root/usr/share/zsh/vendor-completions/_mxcall" ] || fail "no zsh completion in vendor-completions"
[ -s "$root/usr/share/fish/vendor_completions.d/mxcall.fish" ] || fail "no fish completion in vendor_completions.d"
[ -s "$root/usr/lib/systemd/user/mxcall-watch@.service" ] || fail "no systemd user unit"
grep -q '^ExecStart=/usr/bin/mxcall --profile %i watch' "$root/usr/lib/systemd/user/mxcall-watch@.service" \
    || fail "the unit does not run mxcall watch"
[ -s "$root/usr/share/doc/mxcall/copyright" ] || fail "no copyright file"
[ -s "$root/usr/share/doc/mxcall/README.md" ] || fail "no README"

depends=$(dpkg-deb -f "$deb" Depends)
for lib in libc6 libasound2; do
    [[ "$depends" == *"$lib"* ]] || fail "Depends: '$depends' lacks $lib"
done
# Each package named (first alternative) is one this machine has installed.
IFS=',' read -ra deps <<<"$depends"
for dep in "${deps[@]}"; do
    name=$(echo "${dep%%|*}" | sed 's/(.*//; s/ //g')
    dpkg-query -W "$name" >/dev/null 2>&1 || fail "Depends names '$name', which this machine lacks"
done

files=$(dpkg --root="$root" -L mxcall | while read -r f; do [ -f "$root$f" ] && echo "$f"; done)
dpkg --root="$root" --force-not-root -r mxcall >/dev/null || fail "dpkg -r mxcall"
for f in $files; do
    [ ! -e "$root$f" ] || fail "dpkg -r left $f behind"
done
size=$(stat -c %s "$deb")
echo "test-package.sh: ok: $(basename "$deb") ($((size / 1024)) KiB; binary $(dpkg-deb -c "$deb" | awk '/usr\/bin\/mxcall$/ {print int($3/1024/1024) " MiB"}')), $version"
