#!/usr/bin/env bash
# Certificates for a secure EventStoreDB (KurrentDB) cluster, made with openssl: a CA, and one node
# certificate per NAME, each valid for the DNS names and IP addresses given after it.
#
#   deploy/certs/gen-certs.sh OUT_DIR NAME=SAN[,SAN...] [NAME=SAN[,SAN...] ...]
#   deploy/certs/gen-certs.sh deploy/compose/generated/certs esdb-1=esdb-1,localhost,127.0.0.1 esdb-2=esdb-2,localhost esdb-3=esdb-3,localhost
#
# Writes
#   OUT_DIR/ca/ca.crt          the CA certificate: the nodes' trusted root folder (EVENTSTORE_TRUSTED_ROOT_CERTIFICATES_PATH)
#                              and the clients' tlsCAFile
#   OUT_DIR/private/ca.key     the CA's key (mode 0600): keep it, never mount it; it signs nodes added later
#   OUT_DIR/NAME/node.crt      a node certificate: CN=eventstoredb-node (EventStoreDB's reserved node common name,
#   OUT_DIR/NAME/node.key      EVENTSTORE_CERTIFICATE_RESERVED_NODE_COMMON_NAME), serverAuth and clientAuth (nodes
#                              are each other's clients), the SANs given, signed by the CA
#
# An existing CA is reused and an existing node certificate kept (FORCE=1 replaces node certificates),
# so the script can be run again to add a node. The same files come from EventStoreDB's own tool:
#   es-gencert-cli create-ca -out OUT_DIR/ca
#   es-gencert-cli create-node -ca-certificate OUT_DIR/ca/ca.crt -ca-key OUT_DIR/ca/ca.key -out OUT_DIR/NAME -dns-names a,b -ip-addresses 127.0.0.1
#
# The node's key must be readable by the EventStoreDB container's user (ESDB_UID, default 1000): run as
# that user, or as root (the files are then given to ESDB_UID), and the keys are mode 0600; run as
# anyone else, they are made 0644 and the script says so.
#
# Environment: CA_DAYS (default 1825), NODE_DAYS (default 365), NODE_CN (default eventstoredb-node),
# ESDB_UID (default 1000), FORCE (1: replace existing node certificates).
set -euo pipefail

say() { echo "gen-certs: $*" >&2; }
usage() {
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[ $# -ge 2 ] || usage
command -v openssl >/dev/null 2>&1 || { say "openssl is needed (apt-get install openssl), or use es-gencert-cli (see the top of this script)"; exit 1; }

out="$1"
shift
ca_days="${CA_DAYS:-1825}"
node_days="${NODE_DAYS:-365}"
node_cn="${NODE_CN:-eventstoredb-node}"
esdb_uid="${ESDB_UID:-1000}"
me="$(id -u)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mkdir -p "$out/ca" "$out/private"
chmod 0700 "$out/private"

if [ -s "$out/ca/ca.crt" ] && [ -s "$out/private/ca.key" ]; then
  say "reusing the CA in $out/ca"
else
  cat >"$work/ca.cnf" <<CNF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = Lockline EventStoreDB CA
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
CNF
  (umask 077 && openssl req -x509 -new -config "$work/ca.cnf" -extensions v3_ca -newkey rsa:2048 -nodes \
    -keyout "$out/private/ca.key" -out "$out/ca/ca.crt" -days "$ca_days" -sha256 2>"$work/ca.log") \
    || { cat "$work/ca.log" >&2; exit 1; }
  chmod 0644 "$out/ca/ca.crt"
  say "made a CA: $out/ca/ca.crt (its key: $out/private/ca.key)"
fi

for spec in "$@"; do
  name="${spec%%=*}"
  sans="${spec#*=}"
  if [ "$name" = "$spec" ] || [ -z "$name" ] || [ -z "$sans" ]; then say "expected NAME=SAN[,SAN...], got \"$spec\""; exit 2; fi
  case "$name" in ca | private | */* | .*) say "\"$name\" cannot be a node name"; exit 2 ;; esac
  dir="$out/$name"
  if [ -s "$dir/node.crt" ] && [ -s "$dir/node.key" ] && [ "${FORCE:-}" != 1 ]; then
    say "keeping $dir/node.crt (FORCE=1 replaces it)"
    continue
  fi
  alt=""
  IFS=',' read -r -a entries <<<"$sans"
  for entry in "${entries[@]}"; do
    [ -n "$entry" ] || continue
    if [[ "$entry" =~ ^[0-9.]+$ || "$entry" == *:* ]]; then alt="$alt${alt:+,}IP:$entry"; else alt="$alt${alt:+,}DNS:$entry"; fi
  done
  cat >"$work/node.ext" <<CNF
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = $alt
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF
  mkdir -p "$dir"
  (umask 077 && openssl req -new -newkey rsa:2048 -nodes -keyout "$dir/node.key" -out "$work/node.csr" -subj "/CN=$node_cn" 2>"$work/node.log") \
    || { cat "$work/node.log" >&2; exit 1; }
  openssl x509 -req -in "$work/node.csr" -CA "$out/ca/ca.crt" -CAkey "$out/private/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
    -days "$node_days" -sha256 -extfile "$work/node.ext" -out "$dir/node.crt" 2>"$work/node.log" \
    || { cat "$work/node.log" >&2; exit 1; }
  chmod 0644 "$dir/node.crt"
  if [ "$me" = "$esdb_uid" ]; then
    chmod 0600 "$dir/node.key"
  elif [ "$me" = 0 ]; then
    chown -R "$esdb_uid:$esdb_uid" "$dir"
    chmod 0600 "$dir/node.key"
  else
    chmod 0644 "$dir/node.key"
    say "$dir/node.key is readable by everyone on this machine (uid $esdb_uid, the container's user, must read it): run this as root or as uid $esdb_uid to avoid that"
  fi
  say "made $dir/node.crt for $alt"
done
