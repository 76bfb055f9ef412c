#!/usr/bin/env bash
# Regenerates assets/corpus/kjv.txt.gz, the text of the `lm:corpus=kjv` task: the King James
# Version of the Bible (1611, public domain) as Debian's package `bible-kjv-text` ships it, read
# with the `bible` program of Debian's `bible-kjv` (installed with apt-get if missing).
#
#   scripts/corpus-kjv.sh           # from anywhere; well under a second once `bible` is there
#
# Normalisation, all of it (see assets/corpus/README.md):
# - `bible -l100000` prints every verse on one line; a line that still wraps is joined to its
#   verse with one space;
# - verse numbers are removed, runs of spaces become one space, no line has trailing spaces;
# - one verse per line; each chapter starts with its heading line ("Genesis 1", "1 Samuel 3",
#   "Revelation 22"), and every heading but the first is preceded by one blank line;
# - the text is ASCII and ends with a newline.
# It checks the counts (66 books, 1,189 chapters, 31,102 verses), writes the text with
# `gzip -9 -n` (no name, no time stamp: the same bytes every time) and prints the SHA-256 and
# the size of the uncompressed text, which the unit tests of arch/src/tasks/lm.rs pin.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

out=assets/corpus/kjv.txt.gz
log() { echo "corpus-kjv: $*" >&2; }

if ! command -v bible >/dev/null; then
  log "installing Debian's bible-kjv (the \`bible\` program and bible-kjv-text)"
  sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get install -y bible-kjv
fi
log "$(dpkg-query -W -f='${Package} ${Version}' bible-kjv-text 2>/dev/null || echo 'bible-kjv-text: version unknown')"

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

# A heading is the first line after a blank line that is not a verse; a verse starts with two
# spaces and its number; any other line continues the verse before it.
bible -l100000 "gen1:1-rev22:21" | awk '
  function flush() { if (verse != "") print verse; verse = "" }
  /^[[:space:]]*$/ { flush(); after_blank = 1; next }
  after_blank && !/^  [0-9]+ / {
    flush()
    if (chapters++) print ""
    $1 = $1
    print
    after_blank = 0
    next
  }
  /^  [0-9]+ / { flush(); sub(/^  [0-9]+ /, ""); $1 = $1; verse = $0; after_blank = 0; next }
  { $1 = $1; verse = verse " " $0; after_blank = 0 }
  END { flush() }
' >"$tmp"

# Headings are the lines after a blank line, and the first line.
headings=$(awk 'NR == 1 || previous == "" { if ($0 != "") n++ } { previous = $0 } END { print n }' "$tmp")
books=$(awk 'NR == 1 || previous == "" { if ($0 != "") { sub(/ [0-9]+$/, ""); if (!seen[$0]++) n++ } } { previous = $0 } END { print n }' "$tmp")
verses=$(($(grep -c . "$tmp") - headings))
if [ "$headings" -ne 1189 ] || [ "$books" -ne 66 ] || [ "$verses" -ne 31102 ]; then
  log "unexpected counts: $books books, $headings chapters, $verses verses (want 66, 1189, 31102)"
  exit 1
fi
if grep -q '[^ -~]' "$tmp"; then
  log "the text has bytes outside printable ASCII"
  exit 1
fi
log "$books books, $headings chapters, $verses verses"

mkdir -p "$(dirname "$out")"
gzip -9 -n <"$tmp" >"$out"
log "wrote $out ($(wc -c <"$out") bytes compressed)"
echo "sha256 $(sha256sum <"$tmp" | cut -d' ' -f1)"
echo "bytes $(wc -c <"$tmp")"
