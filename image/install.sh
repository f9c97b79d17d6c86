#!/bin/bash
# Hài Lòng: install (or update) the rating terminal on Raspberry Pi OS 64-bit Lite
# (Bookworm or Trixie). Idempotent: a second run changes nothing and says so.
#
#   sudo image/install.sh [--wheelhouse DIR]          install on this system
#   image/install.sh --destdir DIR                     dry run: write every file under DIR,
#                                                      print the commands instead of running them
#
# What it does, in order:
#   1. Debian packages: Python venv, lgpio, the SDL2/GL runtime Kivy needs, Vietnamese fonts;
#   2. the `kiosk` system user (systemd-sysusers; groups video render input gpio dialout);
#   3. /opt/hailong/venv (with --system-site-packages, for python3-lgpio) and the kiosk itself
#      from a wheelhouse: pip install --no-index --find-links WHEELHOUSE 'hailong[pi,ui]'
#      (no internet needed at the terminal);
#   4. the systemd units (kiosk, kiosk-sync, kiosk-firstboot), enabled; getty@tty1 masked
#      (tty1 belongs to the rating screen; technicians log in on tty2 with Ctrl+Alt+F2);
#   5. /etc/kiosk (0750 root:kiosk), the `kiosk` command for technicians (/usr/local/bin/kiosk);
#   6. SD-card care: small persistent journal, no swap file, noatime, fewer background timers;
#      console font able to show Vietnamese, no console blanking (for the first-boot messages).
#
# Options and environment (option wins):
#   --destdir DIR     / DESTDIR      dry-run root (empty: the real system)
#   --wheelhouse DIR  / WHEELHOUSE   wheels of hailong and its dependencies for this Python
#                                    (default: image/wheelhouse, then ./wheelhouse)
#   --extras LIST     / KIOSK_EXTRAS extras of hailong to install (default: pi,ui)
#   --no-apt                         do not install Debian packages (they are already there)
# Exit: 0 done (or nothing to change); 1 error (the message says what and where).
set -euo pipefail
umask 022

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd -- "$SCRIPT_DIR/.." && pwd)
PREFIX=/opt/hailong
DESTDIR=${DESTDIR:-}
WHEELHOUSE=${WHEELHOUSE:-}
EXTRAS=${KIOSK_EXTRAS:-pi,ui}
DO_APT=1

# Debian packages. Required ones must exist in the archive; optional ones are installed when
# the archive has them (python3-lgpio comes from the Raspberry Pi OS archive).
APT_REQUIRED=(python3 python3-venv python3-pip ca-certificates sqlite3 console-setup
    libsdl2-2.0-0 libsdl2-image-2.0-0 libsdl2-mixer-2.0-0 libsdl2-ttf-2.0-0
    libgl1-mesa-dri libegl1 libgles2 libgbm1 libdrm2 libmtdev1)
APT_OPTIONAL=(python3-lgpio fonts-noto-core)
KIOSK_GROUPS=(video render input gpio dialout)
# Timers that wake the SD card for nothing on a terminal.
DISABLE_UNITS=(timers.target.wants/apt-daily.timer timers.target.wants/apt-daily-upgrade.timer
    timers.target.wants/man-db.timer multi-user.target.wants/dphys-swapfile.service)

die() {
    printf 'install.sh: error: %s\n' "$*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case $1 in
        --destdir) DESTDIR=${2:?--destdir needs a folder}; shift 2 ;;
        --destdir=*) DESTDIR=${1#*=}; shift ;;
        --wheelhouse) WHEELHOUSE=${2:?--wheelhouse needs a folder}; shift 2 ;;
        --wheelhouse=*) WHEELHOUSE=${1#*=}; shift ;;
        --extras) EXTRAS=${2:?--extras needs a list}; shift 2 ;;
        --extras=*) EXTRAS=${1#*=}; shift ;;
        --no-apt) DO_APT=0; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

DESTDIR=${DESTDIR%/}
DRY=0
if [ -n "$DESTDIR" ]; then
    DRY=1
    mkdir -p -- "$DESTDIR" || die "cannot create DESTDIR $DESTDIR"
    DESTDIR=$(cd -- "$DESTDIR" && pwd)
elif [ "$(id -u)" != 0 ]; then
    die "run as root (sudo $0), or give --destdir DIR for a dry run"
fi
if [ -z "$WHEELHOUSE" ]; then
    if [ -d "$SCRIPT_DIR/wheelhouse" ]; then WHEELHOUSE=$SCRIPT_DIR/wheelhouse; else WHEELHOUSE=$SRC/wheelhouse; fi
fi

CHANGES=0
changed() {
    CHANGES=$((CHANGES + 1))
    printf 'changed: %s\n' "$*"
}
# run CMD...: run a command that changes the system, or print it in a dry run.
run() {
    if [ "$DRY" = 1 ]; then
        printf 'would run: %s\n' "$*"
    else
        printf 'run: %s\n' "$*"
        "$@"
        CHANGES=$((CHANGES + 1))
    fi
}

# put_file SRC DEST MODE: install SRC as DEST (a path of the target system), atomically,
# only when the content or the mode differs.
put_file() {
    local src=$1 dest=$DESTDIR$2 mode=$3
    [ -f "$src" ] || die "missing source file $src"
    if [ -f "$dest" ] && [ ! -L "$dest" ] && cmp -s -- "$src" "$dest" &&
        [ "$(stat -c %a -- "$dest")" = "$mode" ]; then
        return 0
    fi
    mkdir -p -- "$(dirname -- "$dest")"
    install -m "$mode" -- "$src" "$dest.hailong-new"
    mv -f -- "$dest.hailong-new" "$dest"
    changed "$2"
}

# put_file_once SRC DEST MODE: install only when DEST does not exist (a file for local edits).
put_file_once() {
    if [ -e "$DESTDIR$2" ]; then return 0; fi
    put_file "$@"
}

# put_text DEST MODE: like put_file, the content from standard input.
put_text() {
    local tmp
    tmp=$(mktemp)
    cat >"$tmp"
    put_file "$tmp" "$1" "$2"
    rm -f -- "$tmp"
}

put_dir() {
    local dest=$DESTDIR$1 mode=$2
    if [ -d "$dest" ] && [ "$(stat -c %a -- "$dest")" = "$mode" ]; then return 0; fi
    mkdir -p -- "$dest"
    chmod "$mode" -- "$dest"
    changed "$1/"
}

# put_link TARGET LINK: LINK (a path of the target system) -> TARGET.
put_link() {
    local target=$1 link=$DESTDIR$2
    if [ -L "$link" ] && [ "$(readlink -- "$link")" = "$target" ]; then return 0; fi
    mkdir -p -- "$(dirname -- "$link")"
    ln -sfn -- "$target" "$link"
    changed "$2 -> $target"
}

remove_link() {
    local link=$DESTDIR$1
    if [ -L "$link" ]; then
        rm -f -- "$link"
        changed "removed $1"
    fi
}

# own OWNER PATH: chown on the real system (the kiosk user does not exist in a dry run).
own() {
    if [ "$DRY" = 1 ]; then
        printf 'would run: chown %s %s\n' "$1" "$2"
    elif [ "$(stat -c %U:%G -- "$2")" != "$1" ]; then
        chown "$1" "$2"
        changed "owner $1 $2"
    fi
}

# edit_file PATH FILTER...: pipe the target file through FILTER; replace it if it changed.
edit_file() {
    local path=$1 dest=$DESTDIR$1 tmp
    shift
    [ -f "$dest" ] || return 0
    tmp=$(mktemp)
    "$@" <"$dest" >"$tmp"
    if ! cmp -s -- "$tmp" "$dest"; then
        cat -- "$tmp" >"$dest.hailong-new"
        chmod --reference="$dest" -- "$dest.hailong-new"
        mv -f -- "$dest.hailong-new" "$dest"
        changed "$path"
    fi
    rm -f -- "$tmp"
}

note() { printf 'install.sh: %s\n' "$*"; }

if [ "$DRY" = 1 ]; then
    note "dry run into $DESTDIR: files are written there, commands are only printed"
fi
if [ -r "$DESTDIR/etc/os-release" ]; then
    codename=$(sed -n 's/^VERSION_CODENAME=//p' "$DESTDIR/etc/os-release" | tr -d '"')
    case $codename in
        bookworm | trixie) ;;
        *) note "warning: made for Raspberry Pi OS Bookworm or Trixie, this is '${codename:-unknown}'" ;;
    esac
fi

# --- 1. Debian packages -------------------------------------------------------------------
dpkg_installed() {
    local admindir=/var/lib/dpkg
    [ "$DRY" = 1 ] && admindir=$DESTDIR/var/lib/dpkg
    [ -d "$admindir" ] || return 1
    [ "$(dpkg-query --admindir="$admindir" -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}
if [ "$DO_APT" = 1 ]; then
    missing=()
    for p in "${APT_REQUIRED[@]}"; do dpkg_installed "$p" || missing+=("$p"); done
    for p in "${APT_OPTIONAL[@]}"; do
        if ! dpkg_installed "$p"; then
            if [ "$DRY" = 1 ] || apt-cache show "$p" >/dev/null 2>&1; then
                missing+=("$p")
            else
                note "optional package $p is not in the archive: skipped"
            fi
        fi
    done
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$DRY" = 0 ] && ! apt-cache show "${missing[0]}" >/dev/null 2>&1; then
            run apt-get update
        fi
        run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    fi
fi

# --- 2. the kiosk user ----------------------------------------------------------------------
put_file "$SCRIPT_DIR/files/hailong.sysusers.conf" /etc/sysusers.d/hailong.conf 644
user_complete() {
    local g members
    grep -q '^kiosk:' "$DESTDIR/etc/passwd" 2>/dev/null || return 1
    for g in "${KIOSK_GROUPS[@]}"; do
        members=$(grep "^$g:" "$DESTDIR/etc/group" 2>/dev/null | cut -d: -f4)
        case ",$members," in *,kiosk,*) ;; *) return 1 ;; esac
    done
}
if ! user_complete; then
    if [ "$DRY" = 1 ] || command -v systemd-sysusers >/dev/null 2>&1; then
        run systemd-sysusers /etc/sysusers.d/hailong.conf
    else
        for g in "${KIOSK_GROUPS[@]}"; do
            getent group "$g" >/dev/null || run groupadd --system "$g"
        done
        getent passwd kiosk >/dev/null ||
            run useradd --system --home-dir /var/lib/kiosk --no-create-home \
                --shell /usr/sbin/nologin --user-group kiosk
        run usermod -a -G "$(IFS=,; printf '%s' "${KIOSK_GROUPS[*]}")" kiosk
    fi
fi

# --- 3. the virtualenv and the kiosk ------------------------------------------------------------
VENV=$PREFIX/venv
if [ ! -x "$DESTDIR$VENV/bin/python3" ]; then
    run python3 -m venv --system-site-packages "$VENV"
fi
if [ "$DRY" = 0 ] && [ ! -d "$WHEELHOUSE" ]; then
    die "no wheelhouse at $WHEELHOUSE: build it with image/build-wheelhouse.sh (see image/README.md) or give --wheelhouse DIR"
fi
if [ -d "$WHEELHOUSE" ]; then
    wheel_sum=$(cd -- "$WHEELHOUSE" && find . -maxdepth 1 -type f -name '*.whl' -print0 |
        sort -z | xargs -0 -r sha256sum | sha256sum | cut -d' ' -f1)
else
    wheel_sum=none
fi
stamp=$DESTDIR$PREFIX/wheelhouse.sha256
if [ "$(cat "$stamp" 2>/dev/null || true)" != "${wheel_sum} $EXTRAS" ]; then
    run env PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/pip" install --no-cache-dir --no-index \
        --find-links "$WHEELHOUSE" --upgrade "hailong[$EXTRAS]"
    if [ "$DRY" = 0 ]; then
        printf '%s %s\n' "$wheel_sum" "$EXTRAS" >"$stamp"
    fi
fi

# --- 4. systemd units ---------------------------------------------------------------------------
SYSTEMD=/etc/systemd/system
put_file "$SRC/systemd/kiosk.service" "$SYSTEMD/kiosk.service" 644
put_file "$SRC/systemd/kiosk-sync.service" "$SYSTEMD/kiosk-sync.service" 644
put_file "$SCRIPT_DIR/firstboot/kiosk-firstboot.service" "$SYSTEMD/kiosk-firstboot.service" 644
put_file "$SCRIPT_DIR/firstboot/kiosk-firstboot" /usr/local/sbin/kiosk-firstboot 755
# What `systemctl enable` makes from the [Install] sections, written directly so that it works
# the same in a chroot, in a dry run and on a running system.
put_link "$SYSTEMD/kiosk.service" "$SYSTEMD/multi-user.target.wants/kiosk.service"
put_link "$SYSTEMD/kiosk-sync.service" "$SYSTEMD/multi-user.target.wants/kiosk-sync.service"
put_link "$SYSTEMD/kiosk-firstboot.service" "$SYSTEMD/multi-user.target.wants/kiosk-firstboot.service"
put_link "$SYSTEMD/kiosk-firstboot.service" "$SYSTEMD/kiosk.service.requires/kiosk-firstboot.service"
put_link "$SYSTEMD/kiosk-firstboot.service" "$SYSTEMD/kiosk-sync.service.requires/kiosk-firstboot.service"
# tty1 is the rating screen's (and the first-boot error's): no login prompt over it.
put_link /dev/null "$SYSTEMD/getty@tty1.service"

# --- 5. configuration folder, the technician's command, docs ----------------------------------------
put_dir /etc/kiosk 750
own root:kiosk /etc/kiosk
put_file_once "$SCRIPT_DIR/files/kiosk.environment" /etc/kiosk/environment 640
own root:kiosk /etc/kiosk/environment
put_file "$SCRIPT_DIR/files/kiosk-wrapper.sh" /usr/local/bin/kiosk 755
for doc in technician.md technician.en.md; do
    put_file "$SRC/docs/$doc" "/usr/share/doc/hailong/$doc" 644
done

# --- 6. SD-card care and the console ------------------------------------------------------------
put_file "$SCRIPT_DIR/files/journald.conf" /etc/systemd/journald.conf.d/50-hailong.conf 644
for unit in "${DISABLE_UNITS[@]}"; do
    remove_link "$SYSTEMD/$unit"
done
if [ "$DRY" = 0 ] && [ -d /run/systemd/system ] && swapon --show=NAME --noheadings 2>/dev/null | grep -q swap; then
    command -v dphys-swapfile >/dev/null 2>&1 && run dphys-swapfile swapoff
fi
# noatime on the root file system (Raspberry Pi OS has it already; other images may not).
add_noatime() {
    awk 'BEGIN { OFS = "\t" }
         $0 !~ /^[[:space:]]*#/ && $2 == "/" && $4 !~ /(^|,)noatime(,|$)/ { $4 = $4 ",noatime" }
         { print }'
}
edit_file /etc/fstab add_noatime
# The first-boot messages are Vietnamese: a console font with its letters, no blanking.
console_vietnamese() {
    sed -e 's/^CODESET=.*/CODESET="Vietnamese"/' \
        -e 's/^FONTFACE=.*/FONTFACE="Fixed"/' \
        -e 's/^FONTSIZE=.*/FONTSIZE="8x16"/'
}
edit_file /etc/default/console-setup console_vietnamese
cmdline_options() {
    awk '{ line = $0
           if (line !~ /(^| )consoleblank=/) line = line " consoleblank=0"
           print line }'
}
edit_file /boot/firmware/cmdline.txt cmdline_options

# --- done -------------------------------------------------------------------------------------
if [ "$DRY" = 0 ] && [ "$CHANGES" -gt 0 ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    note "reboot to start the terminal (or: systemctl restart kiosk-firstboot kiosk kiosk-sync)"
fi
if [ "$CHANGES" -eq 0 ]; then
    note "nothing to change"
else
    note "$CHANGES change(s)"
fi
if [ "$DRY" = 1 ]; then
    note "dry run: the commands printed above were not run"
fi
