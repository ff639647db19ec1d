#!/usr/bin/env bash
# Real text corpora for the growth and adapter benchmarks, from Debian packages (never committed).
#   english.txt : Debian Policy (plain text) + the English `fortunes` collection
#   de.txt, es.txt, it.txt : the German, Spanish and Italian fortunes packages (new-language text)
# Usage: bash Scripts/bench/corpora.sh [DIR]   (default .bench-data); prints the folder.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-.bench-data}"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
pkgs="fortunes fortunes-de fortunes-it fortunes-es debian-policy"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  $SUDO apt-get update -qq >&2
  $SUDO apt-get install -y -qq $missing >/dev/null
fi
mkdir -p "$out"
# Fortune files are plain text separated by lines holding "%"; drop the separators and the index files.
collect() {  # package -> text on stdout
  dpkg -L "$1" | grep '/usr/share/games/fortunes' | while read -r f; do
    [ -f "$f" ] && [ ! -L "$f" ] || continue
    case "$f" in *.dat|*.u8) continue;; esac
    grep -v '^%$' "$f" || true
  done
}
tmp="$out/.english.tmp"
{ zcat /usr/share/doc/debian-policy/policy.txt.gz; collect fortunes; } > "$tmp" && mv "$tmp" "$out/english.txt"
for lang in de es it; do
  collect "fortunes-$lang" > "$out/.$lang.tmp" && mv "$out/.$lang.tmp" "$out/$lang.txt"
done
wc -c "$out"/*.txt >&2
echo "$out"
