#!/usr/bin/env bash
# Remove Tillmesh from this counter: what deploy/install.sh put there.
#
#   sudo deploy/uninstall.sh [--purge-data [--yes]]
#
# Stops and disables tillmesh-kiosk and tillmesh, removes their units, the tmpfiles, udev
# and PAM files, /opt/tillmesh (every release), /usr/local/bin/tillmesh, /run/tillmesh,
# the firewall rules install.sh --open-firewall added, and the kiosk user and the group
# tillmesh-app where install.sh made them.
# Keeps /var/lib/tillmesh (the store, its keys, its config), the service user `tillmesh`
# that owns it and the unit's sealed-credentials drop-in (tillmesh.service.d): install.sh
# then brings the same counter back. --purge-data removes those too, after you type the
# counter's code to confirm (--yes: no question; for scripts). Events this counter made
# that no other counter holds yet are then lost.
# Also /opt/tillmesh/deploy/uninstall.sh (install.sh puts it there). TILLMESH_ROOT as for
# install.sh (tests): systemctl only disables (--root), no firewall, no udevadm.

# Paths, accounts and ports as install.sh has them (sourcing it defines functions only).
# shellcheck source=deploy/install.sh
source "$(dirname "${BASH_SOURCE[0]}")/install.sh"

confirm_purge() {  # the counter's code, typed, or --yes
    local node expected answer
    node="$(sed -n 's/^node_id = "\(.*\)"$/\1/p' "$R$DATA_DIR/tillmesh.toml" 2>/dev/null)"
    expected="${node:-delete}"
    [[ -t 0 ]] || die "--purge-data deletes $DATA_DIR for good: confirm at a terminal, or add --yes"
    echo "--purge-data deletes $DATA_DIR: this counter's store, keys and config, for good."
    echo "Sales no other counter holds yet are lost. Back it up first if in doubt."
    read -r -p "Type '$expected' to delete it: " answer
    [[ "$answer" == "$expected" ]] || die "not confirmed: nothing was removed"
}

stop_units() {
    local unit
    for unit in "$KIOSK_UNIT" "$UNIT"; do
        [[ -e "$R$UNIT_DIR/$unit" ]] || continue
        if [[ -n "$R" ]]; then
            systemctl --root="$R" --quiet disable "$unit"
        else
            systemctl --quiet disable --now "$unit"
        fi
        echo "stopped and disabled $unit"
    done
}

close_ports() {  # the rules install.sh --open-firewall added (tagged with $FIREWALL_TAG)
    [[ -z "$R" ]] || return 0
    local handle number
    if nft_ready; then
        for handle in $(nft -a list chain inet filter input \
                | sed -n "s/.*comment \"$FIREWALL_TAG [^\"]*\" # handle \([0-9]*\)$/\1/p"); do
            nft delete rule inet filter input handle "$handle"
            echo "nftables: removed rule $handle"
        done
    fi
    if ufw_ready; then  # highest number first: deleting one renumbers those after it
        for number in $(ufw status numbered | sed -n "s/^\[ *\([0-9]*\)\].*# $FIREWALL_TAG .*/\1/p" \
                | sort -rn); do
            ufw --force delete "$number" >/dev/null
            echo "ufw: removed rule $number"
        done
    fi
}

made_by_install() {  # made_by_install user|group NAME
    grep -qx "$1 $2" "$R$ACCOUNTS" 2>/dev/null
}

remove_account() {  # remove_account user|group NAME: only what install.sh made
    local kind="$1" name="$2"
    if ! made_by_install "$kind" "$name"; then
        [[ -z "$(account_id "$([[ $kind == user ]] && echo passwd || echo group)" "$name")" ]] \
            || echo "kept $kind $name: install.sh did not make it"
        return
    fi
    if [[ "$kind" == user ]]; then
        shadow_tool userdel "$name" || { echo "could not remove user $name: userdel $name later"; return; }
    else
        shadow_tool groupdel "$name" || { echo "could not remove group $name"; return; }
    fi
    echo "removed $kind $name"
}

main() {
    set -euo pipefail
    local purge=0 yes=0
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --purge-data) purge=1; shift ;;
            --yes) yes=1; shift ;;
            -h | --help)
                awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
                return 0 ;;
            *) die "unknown option $1 (see --help)" ;;
        esac
    done
    [[ "$(id -u)" == 0 ]] || die "run as root (sudo $0)"
    [[ -z "$R" || "$R" == /* ]] || die "TILLMESH_ROOT must be an absolute path"
    [[ "$purge" == 0 || "$yes" == 1 ]] || confirm_purge
    stop_units
    close_ports
    rm -f "$R$UNIT_DIR/$KIOSK_UNIT" "$R$UNIT_DIR/$UNIT" "$R$TMPFILES" "$R$UDEV_RULE" "$R$PAM_FILE"
    [[ "$(readlink "$R$BIN_LINK" 2>/dev/null)" != "$PREFIX/"* ]] || rm -f "$R$BIN_LINK"
    rm -rf "$R${RUN_DIR:?}" "$R${KIOSK_HOME:?}"
    echo "removed the units, $TMPFILES, $UDEV_RULE, $PAM_FILE, $BIN_LINK, $RUN_DIR"
    [[ -n "$R" || ! -e /run/udev/control ]] || udevadm control --reload
    # What install.sh made is known from its list, read before /opt/tillmesh goes.
    remove_account user "$KIOSK_USER"
    remove_account group "$APP_GROUP"
    if [[ "$purge" == 1 ]]; then
        rm -rf "$R$UNIT_DIR/$UNIT.d" "$R${DATA_DIR:?}"
        echo "deleted $DATA_DIR and $UNIT_DIR/$UNIT.d"
        remove_account user "$SERVICE_USER"
    fi
    rm -rf "$R${PREFIX:?}"  # its list of accounts too: read above
    echo "removed $PREFIX (every release)"
    [[ -n "$R" ]] || systemctl daemon-reload
    if [[ "$purge" == 0 && -e "$R$DATA_DIR" ]]; then
        echo "kept $DATA_DIR and user $SERVICE_USER (its owner)$([[ ! -e "$R$UNIT_DIR/$UNIT.d" ]] \
            || echo " and $UNIT_DIR/$UNIT.d (sealed keys)"): install.sh brings this counter" \
            "back; --purge-data deletes them"
    fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    main "$@"
fi
