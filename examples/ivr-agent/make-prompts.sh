#!/bin/sh
# Speaks the ivr-agent's prompts with espeak-ng into DIR (default ./sounds,
# the default config's media.playback_dir when run from the repository root):
#   DIR/welcome.wav         played when a call is answered
#   DIR/digits/0.wav … 9.wav  used to read the caller's digits back
# With sox installed the files are resampled to 8 kHz mono 16-bit, the rate
# of the phone line; without it espeak-ng's 22.05 kHz files are kept (the
# server resamples them). The files are generated: don't commit them.
set -eu

dir=${1:-./sounds}
if ! command -v espeak-ng >/dev/null 2>&1; then
    echo "make-prompts: espeak-ng not found (Debian: apt-get install espeak-ng)" >&2
    exit 1
fi
mkdir -p "$dir/digits"

# speak TEXT FILE
speak() {
    if command -v sox >/dev/null 2>&1; then
        tmp="$2.tmp.wav"
        espeak-ng -s 150 -w "$tmp" "$1"
        sox "$tmp" -r 8000 -c 1 -b 16 "$2"
        rm -f "$tmp"
    else
        espeak-ng -s 150 -w "$2" "$1"
    fi
}

speak "Welcome to Switchboard. Enter some digits, then press the hash key. \
Press nine to talk to the voice bot." "$dir/welcome.wav"
for digit in 0 1 2 3 4 5 6 7 8 9; do
    speak "$digit" "$dir/digits/$digit.wav"
done
echo "prompts written to $dir"
