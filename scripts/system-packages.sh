#!/bin/sh
# The system packages `./dev demo` and `./dev test` need, installed when missing.
#
#   scripts/system-packages.sh [--venv] [--systemd]
#
# Always: a CJK font (fonts-wqy-microhei) unless COUNTERTOP_CJK_FONT names a file.
# --venv:    Python's venv and ensurepip modules (python3-venv), to create .venv.
# --systemd: systemd-analyze (systemd), which the service unit tests use; optional: without a
#            way to install it those tests skip and say so.
#
# The checks only look at files and commands, so a machine that has everything makes no apt
# call and needs no network. Something missing is named in one line with the reason, then
# installed with apt-get as root, with sudo apt-get otherwise; with neither (or no apt at all)
# the script stops with exit code 2 and says what to run.
#
# Environment: PYTHON (default python3) is the interpreter checked for venv;
# COUNTERTOP_FONT_FILES (space-separated) overrides where the font is looked for, so a test can
# point it at missing files. The default list is drivers/printer/fonts.py CJK_FONT_CANDIDATES.
set -eu

PYTHON=${PYTHON:-python3}
FONT_FILES=${COUNTERTOP_FONT_FILES:-/usr/share/fonts/truetype/wqy/wqy-microhei.ttc /usr/share/fonts/wqy-microhei/wqy-microhei.ttc /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc}

want_venv=0
want_systemd=0
for arg in "$@"; do
    case "$arg" in
        --venv) want_venv=1 ;;
        --systemd) want_systemd=1 ;;
        *) echo "usage: scripts/system-packages.sh [--venv] [--systemd]" >&2; exit 2 ;;
    esac
done

required=""  # packages without which the command cannot run
optional=""  # packages whose absence only makes some tests skip
reasons=""
font_missing=0

add_reason() {
    if [ -z "$reasons" ]; then reasons=$1; else reasons="$reasons; $1"; fi
}

font_found() {
    # A font the person chose wins; when it names no file the program itself says so.
    [ -n "${COUNTERTOP_CJK_FONT:-}" ] && return 0
    for f in $FONT_FILES; do
        [ -f "$f" ] && return 0
    done
    return 1
}

if ! font_found; then
    required="$required fonts-wqy-microhei"
    font_missing=1
    add_reason "fonts-wqy-microhei: Chinese text on the screen and the receipts"
fi
if [ "$want_venv" = 1 ] && ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    required="$required python3-venv"
    add_reason "python3-venv: to create the virtual environment .venv"
fi
if [ "$want_systemd" = 1 ] && ! command -v systemd-analyze >/dev/null 2>&1; then
    optional="$optional systemd"
    add_reason "systemd: systemd-analyze checks the service units in the tests"
fi

packages="${required# }${optional}"
packages=${packages# }
[ -z "$packages" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    if [ -n "$required" ]; then
        echo "countertop: missing${required}${optional} ($reasons) and this machine has no apt-get:" >&2
        echo "            install them with its package manager" >&2
        if [ "$font_missing" = 1 ]; then
            echo "            (for the font, any CJK .ttf/.ttc will do: COUNTERTOP_CJK_FONT=/path/to/font)" >&2
        fi
        exit 2
    fi
    echo "countertop: systemd-analyze not found and no apt-get to install systemd: the service unit tests will skip" >&2
    exit 0
fi

if [ "$(id -u)" = 0 ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1; then
    as_root="sudo"
else
    if [ -n "$required" ]; then
        echo "countertop: missing $packages ($reasons); installing needs root. As root, run:" >&2
        echo "    apt-get install -y --no-install-recommends $packages" >&2
        exit 2
    fi
    echo "countertop: systemd-analyze not found (as root: apt-get install -y --no-install-recommends systemd): the service unit tests will skip" >&2
    exit 0
fi

echo "countertop: installing $packages with ${as_root:+sudo }apt-get ($reasons)" >&2
export DEBIAN_FRONTEND=noninteractive
$as_root apt-get update -qq
$as_root apt-get install -y -qq --no-install-recommends $packages >/dev/null
