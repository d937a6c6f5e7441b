#!/usr/bin/env bash
# install-pi.sh: install or upgrade countertop on Raspberry Pi OS bookworm (64-bit).
#
# Idempotent: run it again after `git pull` to upgrade. Every action is printed first
# ("+ command", "> file written", "= file unchanged"); --dry-run prints without doing anything.
# See docs/raspberry-pi.md for the whole procedure.
set -euo pipefail

readonly STEPS_ALL="packages user venv files config keys boot services"
readonly APT_PACKAGES="python3-venv python3-dev gcc libc6-dev sqlite3 fonts-wqy-microhei libusb-1.0-0"
readonly UNITS="countertop.service countertop-settle.service countertop-settle.timer"

ROOT=""
DRY_RUN=0
CONFIGURE_BOOT=0
RESTART=0
UART="pl011"
PREFIX="/opt/countertop"
STEPS="$STEPS_ALL"
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

usage() {
    cat <<EOF
Usage: $0 [options]

Installs countertop to $PREFIX (venv), its systemd units, user, udev rules and NFC module
blacklist, and a config template at /etc/countertop/terminal.toml if none exists.

Options:
  --dry-run          print every action, change nothing
  --configure-boot   also edit config.txt/cmdline.txt for the PN532 UART and KMSDRM display
                     (enable_uart=1, dtoverlay=disable-bt or dtparam=uart0=on on a Pi 5,
                     dtoverlay=vc4-kms-v3d, no serial console); needs a reboot afterwards
  --uart pl011|miniuart
                     pl011 (default): the PN532 gets the full UART /dev/ttyAMA0 and
                     Bluetooth is disabled; miniuart: keep Bluetooth, PN532 on /dev/ttyS0
  --restart          restart countertop.service at the end (default: only enable it)
  --only STEP[,STEP] run only these steps: ${STEPS_ALL// /, }
  --source DIR       the countertop source tree to install (default: $SOURCE)
  --root DIR         treat DIR as / (for testing on another machine: commands that act on the
                     running system are printed and skipped, files are written under DIR)
  -h, --help         this help
EOF
}

die() {
    printf 'install-pi.sh: %s\n' "$*" >&2
    exit 2
}

while (($#)); do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --configure-boot) CONFIGURE_BOOT=1 ;;
        --restart) RESTART=1 ;;
        --uart)
            [[ $# -ge 2 ]] || die "--uart needs pl011 or miniuart"
            UART="$2"
            shift
            ;;
        --only)
            [[ $# -ge 2 ]] || die "--only needs a step list"
            STEPS="${2//,/ }"
            shift
            ;;
        --source)
            [[ $# -ge 2 ]] || die "--source needs a directory"
            SOURCE="$2"
            shift
            ;;
        --root)
            [[ $# -ge 2 ]] || die "--root needs a directory"
            ROOT="${2%/}"
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done

[[ "$UART" == pl011 || "$UART" == miniuart ]] || die "--uart must be pl011 or miniuart"
for step in $STEPS; do
    [[ " $STEPS_ALL " == *" $step "* ]] || die "unknown step '$step' (steps: $STEPS_ALL)"
done
[[ -f "$SOURCE/pyproject.toml" && -d "$SOURCE/systemd" ]] || die "$SOURCE is not a countertop source tree"
if [[ -z "$ROOT" && $DRY_RUN -eq 0 && $EUID -ne 0 ]]; then
    die "run as root (sudo $0), or try --dry-run first"
fi

# ---------------------------------------------------------------------------------------------
# Helpers. "run" changes the target (files under ROOT or the live system); "live" acts on the
# running system only, so it is skipped when --root points elsewhere.

wants() { [[ " $STEPS " == *" $1 "* ]]; }

say() { printf '%s\n' "$*"; }

run() {
    say "+ $*"
    if ((DRY_RUN)); then return 0; fi
    "$@"
}

live() {
    if [[ -n "$ROOT" ]]; then
        say "+ $* (skipped: --root)"
        return 0
    fi
    run "$@"
}

# put SRC DEST MODE: install a file under ROOT if its content or mode differs.
put() {
    local src="$1" dest="$ROOT$2" mode="$3"
    if [[ -f "$dest" ]] && cmp -s "$src" "$dest" && [[ "$(stat -c %a "$dest")" == "${mode#0}" ]]; then
        say "= $2 unchanged"
        return 0
    fi
    say "> $2 (mode $mode)"
    if ((DRY_RUN)); then return 0; fi
    install -D -m "$mode" "$src" "$dest"
}

# write_if_changed FILE NEWFILE: replace FILE by NEWFILE when they differ, keeping one backup.
write_if_changed() {
    local file="$1" new="$2"
    if cmp -s "$file" "$new"; then
        say "= ${file#"$ROOT"} unchanged"
        return 0
    fi
    say "~ ${file#"$ROOT"}"
    diff -u "$file" "$new" | sed -n '3,$p' || true
    if ((DRY_RUN)); then return 0; fi
    [[ -e "$file.countertop-orig" ]] || cp -p "$file" "$file.countertop-orig"
    cat "$new" >"$file"
}

# ---------------------------------------------------------------------------------------------
# Steps.

step_packages() {
    say "## packages"
    if [[ -z "$ROOT" ]] && command -v dpkg >/dev/null; then
        local arch
        arch="$(dpkg --print-architecture)"
        [[ "$arch" == arm64 ]] || say "warning: $arch is not arm64; only 64-bit Raspberry Pi OS is supported"
    fi
    live apt-get update
    # shellcheck disable=SC2086 # the package list is meant to split into words
    live env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $APT_PACKAGES
}

step_user() {
    say "## user"
    put "$SOURCE/systemd/sysusers.d/countertop.conf" /usr/lib/sysusers.d/countertop.conf 0644
    # A bare name is looked up in the sysusers.d directories (under --root, too).
    if [[ -n "$ROOT" ]]; then
        run systemd-sysusers --root="$ROOT" countertop.conf
    else
        run systemd-sysusers countertop.conf
    fi
}

step_venv() {
    say "## venv"
    if [[ ! -x "$ROOT$PREFIX/venv/bin/python" ]]; then
        live python3 -m venv "$PREFIX/venv"
    fi
    live "$PREFIX/venv/bin/pip" install --upgrade pip
    live "$PREFIX/venv/bin/pip" install --upgrade "$SOURCE"
    # gpiozero's pin backend on bookworm (the only one that works on a Pi 5).
    live "$PREFIX/venv/bin/pip" install --upgrade lgpio
    # `sudo countertop ...` runs commands as the service user (see the script's header).
    put "$SOURCE/scripts/countertop-cli.sh" /usr/local/bin/countertop 0755
    local doc
    for doc in "$SOURCE"/docs/*.md; do
        [[ -e "$doc" ]] || continue
        put "$doc" "$PREFIX/docs/$(basename "$doc")" 0644
    done
}

step_files() {
    say "## files"
    put "$SOURCE/systemd/tmpfiles.d/countertop.conf" /usr/lib/tmpfiles.d/countertop.conf 0644
    put "$SOURCE/systemd/udev/60-countertop.rules" /etc/udev/rules.d/60-countertop.rules 0644
    put "$SOURCE/systemd/modprobe.d/countertop-blacklist-nfc.conf" \
        /etc/modprobe.d/countertop-blacklist-nfc.conf 0644
    local unit
    for unit in $UNITS; do
        put "$SOURCE/systemd/$unit" "/etc/systemd/system/$unit" 0644
    done
    if [[ -n "$ROOT" ]]; then
        run systemd-tmpfiles --root="$ROOT" --create countertop.conf
    else
        run systemd-tmpfiles --create countertop.conf
    fi
    live udevadm control --reload-rules
    live udevadm trigger --subsystem-match=tty --subsystem-match=usb --subsystem-match=usbmisc
}

step_config() {
    say "## config"
    if [[ -e "$ROOT/etc/countertop/terminal.toml" ]]; then
        say "= /etc/countertop/terminal.toml exists, kept"
        return 0
    fi
    live "$PREFIX/venv/bin/countertop" config init --out /etc/countertop/terminal.toml
    say "edit /etc/countertop/terminal.toml (merchant, terminal and host settings) before first use"
}

step_keys() {
    say "## keys"
    local dir="$ROOT/etc/countertop/credentials"
    if [[ -e "$dir/data-key" ]]; then
        say "= /etc/countertop/credentials/data-key exists, kept"
    else
        # 32 random bytes as 64 hex digits: the key that encrypts card data awaiting forwarding.
        say "> /etc/countertop/credentials/data-key (new random key, mode 0600)"
        if ((DRY_RUN == 0)); then
            install -d -m 0700 "$dir"
            (
                umask 077
                od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$dir/data-key.new"
                printf '\n' >>"$dir/data-key.new"
                mv "$dir/data-key.new" "$dir/data-key"
            )
        fi
    fi
    if [[ ! -e "$dir/tmk" ]]; then
        say "note: no terminal master key yet; load it as described in docs/security.md"
    fi
}

# The config.txt lines this installer manages, between markers so a rerun replaces them.
boot_block() {
    local config="$1" model=""
    [[ -r "$ROOT/proc/device-tree/model" ]] && model="$(tr -d '\0' <"$ROOT/proc/device-tree/model")"
    say "# >>> countertop: managed by scripts/install-pi.sh --configure-boot"
    say "[all]"
    say "enable_uart=1"
    if [[ "$UART" == pl011 ]]; then
        if [[ "$model" == *"Raspberry Pi 5"* ]]; then
            # The Pi 5's GPIO 14/15 UART is uart0 (/dev/ttyAMA0) and is separate from Bluetooth.
            say "dtparam=uart0=on"
        else
            say "dtoverlay=disable-bt"
        fi
    fi
    # Raspberry Pi OS already enables the KMS driver; add it only where it is missing.
    if ! sed '/^# >>> countertop/,/^# <<< countertop/d' "$config" | grep -q '^[[:space:]]*dtoverlay=vc4-kms-v3d'; then
        say "dtoverlay=vc4-kms-v3d"
    fi
    say "# <<< countertop"
}

step_boot() {
    say "## boot"
    if ((CONFIGURE_BOOT == 0)); then
        say "skipped: boot settings are changed only with --configure-boot"
        return 0
    fi
    local fw="$ROOT/boot/firmware"
    [[ -f "$fw/config.txt" ]] || fw="$ROOT/boot"
    [[ -f "$fw/config.txt" && -f "$fw/cmdline.txt" ]] || die "no config.txt/cmdline.txt in $ROOT/boot/firmware or $ROOT/boot"
    local tmp
    tmp="$(mktemp -d)"
    # shellcheck disable=SC2064 # expand now: tmp is local
    trap "rm -rf '$tmp'" RETURN

    {
        sed '/^# >>> countertop/,/^# <<< countertop/d' "$fw/config.txt"
        boot_block "$fw/config.txt"
    } >"$tmp/config.txt"
    write_if_changed "$fw/config.txt" "$tmp/config.txt"

    # cmdline.txt is one line; drop the serial console so the PN532 has the UART to itself.
    local line token kept=()
    read -r line <"$fw/cmdline.txt" || true
    local -a tokens
    read -ra tokens <<<"$line"
    for token in "${tokens[@]}"; do
        case "$token" in
            console=serial0* | console=ttyAMA0* | console=ttyS0* | console=serial1*) ;;
            *) kept+=("$token") ;;
        esac
    done
    printf '%s\n' "${kept[*]}" >"$tmp/cmdline.txt"
    write_if_changed "$fw/cmdline.txt" "$tmp/cmdline.txt"

    local getty
    for getty in serial-getty@ttyAMA0.service serial-getty@ttyS0.service serial-getty@serial0.service; do
        if [[ -n "$ROOT" ]]; then
            run systemctl --root="$ROOT" mask "$getty"
        else
            run systemctl mask "$getty"
        fi
    done
    if [[ "$UART" == pl011 ]]; then
        # The Bluetooth modem's UART service has nothing to talk to once Bluetooth is disabled.
        live systemctl disable hciuart.service || say "note: no hciuart.service to disable"
    fi
    say "reboot needed for the boot settings to apply"
}

step_services() {
    say "## services"
    live systemctl daemon-reload
    if [[ -n "$ROOT" ]]; then
        run systemctl --root="$ROOT" enable countertop.service countertop-settle.timer
        run systemctl --root="$ROOT" disable getty@tty1.service || say "note: no getty@tty1 to disable"
    else
        run systemctl enable countertop.service countertop-settle.timer
        # The terminal owns tty1; a login prompt there would fight it for the display.
        run systemctl disable getty@tty1.service || say "note: no getty@tty1 to disable"
    fi
    if ((RESTART)); then
        live systemctl restart countertop.service
    else
        say "start or restart with: systemctl restart countertop.service"
    fi
}

((DRY_RUN)) && say "dry run: nothing will be changed"
for step in $STEPS_ALL; do
    if wants "$step"; then
        "step_$step"
    fi
done
say "done"
