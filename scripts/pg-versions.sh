#!/bin/sh
# Builds the extension with -Werror and runs pg_regress, isolation and pgTAP
# against the PostgreSQL versions bookworm does not ship (17 and 18), each in
# a Debian chroot with Debian's own packages (run as root; scripts/test.sh
# calls it). PostgreSQL 15 is tested on the host by scripts/test.sh.
#
#   scripts/pg-versions.sh [--prepare] [VERSION...]    (default: 17 18)
#
# --prepare only creates the chroots. A chroot lives in
# $SEGMENTATION_CHROOTS/pgVERSION (default /var/cache/segmentation-chroots)
# and is reused once complete; creating one downloads about 1.4 GB from the
# Debian archive this machine's apt already uses. Delete the directory to
# get a fresh one. One run at a time: a second one waits.
set -eu
cd "$(dirname "$0")/.."
source_tree=$(pwd)

# Everything mounted into the chroots lives in a private mount namespace,
# so nothing stays mounted (nor reaches the host) even if this is killed.
if [ -z "${SEGMENTATION_PRIVATE_MOUNTS:-}" ]; then
    SEGMENTATION_PRIVATE_MOUNTS=1 exec unshare --mount --propagation private "$source_tree/scripts/pg-versions.sh" "$@"
fi

chroots=${SEGMENTATION_CHROOTS:-/var/cache/segmentation-chroots}
complete_marker=.segmentation-chroot-complete
mkdir -p "$chroots"
exec 9>"$chroots/.lock"
flock 9

prepare_only=false
if [ "${1:-}" = --prepare ]; then
    prepare_only=true
    shift
fi
[ $# -gt 0 ] || set -- 17 18

# What building and testing needs in a chroot (scripts/setup.sh on the host).
packages_for() {
    echo "make g++ perl postgresql-$1 postgresql-server-dev-$1 postgresql-$1-pgtap postgresql-$1-cron
libtap-parser-sourcehandler-pgtap-perl"
}

# The Debian suite that ships each version.
suite_for() {
    case "$1" in
        17) echo stable ;;
        18) echo testing ;;
        *) echo "pg-versions: no Debian suite known for PostgreSQL $1" >&2; return 1 ;;
    esac
}

# The Debian archive this machine's apt already uses (not its security one).
debian_mirror() {
    mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
        awk '$1 == "URIs:" && $2 !~ /security/ { print $2; exit }')
    if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
        mirror=$(sed -e 's/\[[^]]*\]//' /etc/apt/sources.list |
            awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }')
    fi
    [ -n "$mirror" ] || { echo "pg-versions: no Debian archive found in apt's sources" >&2; return 1; }
    echo "$mirror"
}

# Creates the chroot for one version unless a complete one is there. It is
# built under a temporary name (never mounted into) and renamed when done,
# so an interrupted creation leaves nothing that looks complete.
create_chroot() {
    version=$1
    dir="$chroots/pg$version"
    [ -f "$dir/$complete_marker" ] && return 0
    if [ -e "$dir" ]; then
        echo "pg-versions: $dir exists but is incomplete; remove it" >&2
        return 1
    fi
    command -v mmdebstrap >/dev/null || {
        echo "pg-versions: installing mmdebstrap"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
    }
    suite=$(suite_for "$version")
    mirror=$(debian_mirror)
    rm -rf "$dir.new"
    echo "pg-versions: creating the PostgreSQL $version chroot (Debian $suite)"
    # Debian testing's index can be past its Valid-Until date on a mirror
    # snapshot; the packages are still signed.
    mmdebstrap --variant=apt --quiet \
        --aptopt='Acquire::Check-Valid-Until "false"' \
        --include="$(packages_for "$version" | tr -s ' \n' ',,')" \
        "$suite" "$dir.new" "$mirror"
    date -u > "$dir.new/$complete_marker"
    mv "$dir.new" "$dir"
}

# (Without the lock's descriptor: a server must not hold the lock.)
in_chroot() {
    chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@" 9>&-
}

unmount_chroot() {
    for mount_point in "$1/dev" "$1/sys" "$1/proc"; do
        mountpoint -q "$mount_point" && { umount -R "$mount_point" || umount -R -l "$mount_point"; }
    done
}

# Builds with -Werror, installs and runs the database suites of one version
# in its chroot. Runs in a subshell: its trap unmounts whatever happens.
test_version() {
    version=$1
    dir="$chroots/pg$version"
    pg_config=/usr/lib/postgresql/$version/bin/pg_config
    trap "unmount_chroot '$dir'" EXIT
    mount -t proc proc "$dir/proc"
    mount --rbind /sys "$dir/sys"
    mount --rbind /dev "$dir/dev"

    # A chroot made by an older version of this script may lack a package.
    missing=""
    for p in $(packages_for "$version"); do
        in_chroot dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        echo "-- PostgreSQL $version: installing$missing"
        in_chroot apt-get update -qq
        in_chroot env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    fi

    # The tree as git sees it (untracked files included, ignored ones not).
    rm -rf "$dir/build/segmentation"
    mkdir -p "$dir/build/segmentation"
    git -C "$source_tree" ls-files -z --cached --others --exclude-standard |
        (cd "$source_tree" && tar --null --ignore-failed-read -T - -cf -) |
        tar -C "$dir/build/segmentation" -xf -

    echo "-- PostgreSQL $version: build with -Werror"
    in_chroot sh -c "cd /build/segmentation && make -s -j2 PG_CONFIG=$pg_config COPT=-Werror &&
        make -s install PG_CONFIG=$pg_config >/dev/null"
    # pg_virtualenv, run as root, makes its cluster "regress" in the chroot's
    # /etc/postgresql; one left by a killed run would make it refuse.
    # (pg_dropcluster keeps the directory for pg_virtualenv's own marker.)
    if [ -d "$dir/etc/postgresql/$version/regress" ]; then
        echo "-- PostgreSQL $version: removing the cluster a killed run left"
        in_chroot pg_dropcluster --stop "$version" regress || true
        rm -rf "$dir/etc/postgresql/$version/regress" "$dir/var/lib/postgresql/$version/regress"
    fi
    # The end-to-end tests (minutes: they build 1,000,000 customers) run on 15 only.
    in_chroot sh -c "cd /build/segmentation && PG_MAJOR=$version pg_virtualenv -v $version \
        -o shared_preload_libraries=pg_cron -o cron.database_name=segmentation_tap scripts/database-tests.sh regress pgtap"
}

for version in "$@"; do
    create_chroot "$version"
done
$prepare_only && exit 0

failed=""
for version in "$@"; do
    started=$(date +%s)
    set +e
    (set -e; test_version "$version")
    status=$?
    set -e
    echo "-- PostgreSQL $version: $([ $status -eq 0 ] && echo passed || echo FAILED) in $(($(date +%s) - started)) s"
    [ $status -eq 0 ] || failed="$failed $version"
done
if [ -n "$failed" ]; then
    echo "pg-versions: failed on PostgreSQL$failed" >&2
    exit 1
fi
