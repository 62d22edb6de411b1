#!/bin/sh
# Entry point of the Asterisk container (asterisk/Dockerfile): write the secrets from the environment (.env) into
# the files the read-only configuration includes, then hand over to the base image's entry point.
#
#   UHD_AMI_SECRET             AMI secret of the user "uhd"          -> manager-uhd-secret.conf   (required)
#   ASTERISK_AGENT_PASSWORDS   "101:pw,102:pw,..." agent phones     -> pjsip-secrets.conf         (required)
#   ASTERISK_TRUNK_HOST        carrier SIP host[:port]; empty: no trunk (a lab without a carrier)
#   ASTERISK_TRUNK_USERNAME / ASTERISK_TRUNK_PASSWORD   the carrier account (registration + digest auth)
#   ASTERISK_EXTERNAL_ADDRESS  public address of this host for SIP/RTP behind NAT; empty: none
#                                                                   -> pjsip-transport.conf
# The trunk's sections go to pjsip-secrets.conf, its "outbound_auth" to pjsip-trunk-endpoint.conf.
#
# UHD_ASTERISK_RUNTIME_DIR (default /run/uhd-asterisk) is where the files go; the tests point it elsewhere.
set -eu

dir="${UHD_ASTERISK_RUNTIME_DIR:-/run/uhd-asterisk}"

fail() {
    echo "uhd-asterisk: $*" >&2
    exit 64
}

# a value inside an Asterisk .conf line: ';' starts a comment unless escaped
conf_value() {
    printf '%s' "$1" | sed 's/;/\\;/g'
}

[ -n "${UHD_AMI_SECRET:-}" ] || fail "UHD_AMI_SECRET is not set (copy .env.example to .env and set it)"
[ -n "${ASTERISK_AGENT_PASSWORDS:-}" ] || fail "ASTERISK_AGENT_PASSWORDS is not set (101:secret,102:secret,...)"
newline='
'
for name in UHD_AMI_SECRET ASTERISK_AGENT_PASSWORDS ASTERISK_TRUNK_HOST ASTERISK_TRUNK_USERNAME \
    ASTERISK_TRUNK_PASSWORD ASTERISK_EXTERNAL_ADDRESS; do
    eval "value=\${$name:-}"
    case "$value" in
        *"$newline"*) fail "$name must be one line" ;;
    esac
done

umask 077
mkdir -p "$dir"

printf 'secret = %s\n' "$(conf_value "$UHD_AMI_SECRET")" > "$dir/manager-uhd-secret.conf.new"

{
    echo "; written by docker-entrypoint.sh from the environment; do not edit"
    echo "[agent-auth](!)"
    echo "type = auth"
    echo "auth_type = userpass"
    old_ifs="$IFS"
    IFS=','
    for entry in $ASTERISK_AGENT_PASSWORDS; do
        IFS="$old_ifs"
        entry=$(printf '%s' "$entry" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')
        [ -n "$entry" ] || continue
        ext=${entry%%:*}
        password=${entry#*:}
        case "$ext" in
            ''|*[!0-9]*) fail "ASTERISK_AGENT_PASSWORDS: '$ext' is not an extension (101:secret,...)" ;;
        esac
        [ "$password" != "$entry" ] && [ -n "$password" ] || fail "ASTERISK_AGENT_PASSWORDS: no password for $ext"
        echo ""
        echo "[$ext](agent-auth)"
        echo "username = $ext"
        echo "password = $(conf_value "$password")"
    done
    IFS="$old_ifs"

    if [ -n "${ASTERISK_TRUNK_HOST:-}" ]; then
        host=$(conf_value "$ASTERISK_TRUNK_HOST")
        user=$(conf_value "${ASTERISK_TRUNK_USERNAME:-}")
        echo ""
        echo "[trunk]"
        echo "type = aor"
        echo "contact = sip:$host"
        echo "qualify_frequency = 60"
        echo ""
        echo "[trunk]"
        echo "type = identify"
        echo "endpoint = trunk"
        echo "match = ${host%%:*}"
        if [ -n "$user" ]; then
            echo ""
            echo "[trunk]"
            echo "type = auth"
            echo "auth_type = userpass"
            echo "username = $user"
            echo "password = $(conf_value "${ASTERISK_TRUNK_PASSWORD:-}")"
            echo ""
            echo "[trunk]"
            echo "type = registration"
            echo "outbound_auth = trunk"
            echo "server_uri = sip:$host"
            echo "client_uri = sip:$user@$host"
            echo "retry_interval = 60"
            echo "forbidden_retry_interval = 600"
        fi
    fi
} > "$dir/pjsip-secrets.conf.new"

{
    echo "; written by docker-entrypoint.sh from the environment; do not edit"
    if [ -n "${ASTERISK_TRUNK_HOST:-}" ] && [ -n "${ASTERISK_TRUNK_USERNAME:-}" ]; then
        echo "outbound_auth = trunk"
    fi
} > "$dir/pjsip-trunk-endpoint.conf.new"

{
    echo "; written by docker-entrypoint.sh from the environment; do not edit"
    if [ -n "${ASTERISK_EXTERNAL_ADDRESS:-}" ]; then
        address=$(conf_value "$ASTERISK_EXTERNAL_ADDRESS")
        echo "external_media_address = $address"
        echo "external_signaling_address = $address"
    fi
} > "$dir/pjsip-transport.conf.new"

for name in manager-uhd-secret.conf pjsip-secrets.conf pjsip-transport.conf pjsip-trunk-endpoint.conf; do
    mv "$dir/$name.new" "$dir/$name"
done
# Asterisk drops to the user "asterisk" (-U) before it reads its configuration
if id asterisk >/dev/null 2>&1; then
    chown -R asterisk:asterisk "$dir"
fi

if [ "$#" -eq 0 ]; then
    exit 0
fi
if [ -x /usr/local/bin/entrypoint.sh ]; then
    # the base image's entry point (andrius/asterisk): PUID/PGID handling, then the command
    exec /usr/local/bin/entrypoint.sh "$@"
fi
exec "$@"
