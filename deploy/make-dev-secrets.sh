#!/bin/sh
# Creates what deploy/compose.yaml mounts, in deploy/secrets/ (git-ignored), and deploy/.env with
# the database passwords the database URLs need. Never overwrites an existing key or password: field
# keys that changed would leave stored identities unreadable, a new signing key makes consumers
# refuse the service's events until the trust file lists it, a new audit key leaves the records its
# predecessor MACed unverifiable. Delete a file to make it anew (rotating an audit key: README).
#
#   deploy/make-dev-secrets.sh                       # runs the generator in the image
#   PYTHON=.venv/bin/python deploy/make-dev-secrets.sh   # or in a local checkout's venv
#
# What it writes (deploy/dev_secrets.py does the work):
#   jwt-public.pem, jwt-private.pem    bearer tokens (the private key is yours, mounted nowhere)
#   field-keys.json                    field encryption and blind-index keys
#   postgres-password, pg-*-password   database passwords (also in .env)
#   signing-<service>.pem              each service's own Ed25519 key: signs the events it produces
#   event-trust.json                   every service's public signing keys: what consumers accept
#   audit-keys-<service>.json          each service's own HMAC keys for its audit chain
#   kafka-ca.pem, kafka-ca-key.pem     a CA for the broker certificate (its key is mounted nowhere)
#   kafka-broker.p12, kafka-broker-keystore-password   the broker's TLS certificate and key
#   kafka-<service>-password           each service's SCRAM-SHA-512 password (its own principal)
#   kafka-admin-password, kafka-server-jaas.conf, kafka-admin.properties   the broker's admin
#
# For compose on one host. On Kubernetes the platform's secret store holds these (deploy/README.md).
# SECRETS_DIR and ENV_FILE move the output (tests/deploy runs it into a temporary folder).
set -eu

deploy_dir=$(cd "$(dirname "$0")" && pwd)
secrets_dir="${SECRETS_DIR:-$deploy_dir/secrets}"
env_file="${ENV_FILE:-$deploy_dir/.env}"
image="${ZM_IMAGE:-zhengming:local}"
mkdir -p "$secrets_dir"
chmod 700 "$secrets_dir"

if [ -n "${PYTHON:-}" ]; then
    "$PYTHON" "$deploy_dir/dev_secrets.py" "$secrets_dir"
else
    # The image has the project installed but not deploy/: the generator is mounted next to the output.
    docker run --rm --user "$(id -u):$(id -g)" -v "$secrets_dir:/out" \
        -v "$deploy_dir/dev_secrets.py:/opt/dev_secrets.py:ro" --entrypoint python "$image" /opt/dev_secrets.py /out
fi

# Containers run as other users than yours (10001 for Zhengming, 1000 for Kafka): the mounted files
# are readable, the folder is not. What is mounted nowhere stays private: the JWT private key, the
# CA key, and the admin password (its two derived files are what the broker and the jobs read).
for file in "$secrets_dir"/*; do
    case "$(basename "$file")" in
        jwt-private.pem | kafka-ca-key.pem | kafka-admin-password) chmod 600 "$file" ;;
        *) chmod 644 "$file" ;;
    esac
done
{
    echo "# Written by deploy/make-dev-secrets.sh from deploy/secrets/; read by docker compose."
    echo "ZM_PG_INTAKE_PASSWORD=$(cat "$secrets_dir/pg-intake-password")"
    echo "ZM_PG_VERIFICATION_PASSWORD=$(cat "$secrets_dir/pg-verification-password")"
    echo "ZM_PG_CLARIFICATION_PASSWORD=$(cat "$secrets_dir/pg-clarification-password")"
    echo "ZM_PG_CREDIT_BLACKLIST_PASSWORD=$(cat "$secrets_dir/pg-credit_blacklist-password")"
} > "$env_file"
chmod 600 "$env_file"
echo "secrets in $secrets_dir; database passwords also in $env_file"
