#!/bin/sh
# Creates what deploy/compose.yaml mounts, in deploy/secrets/ (git-ignored), and deploy/.env with
# the database passwords the database URLs need. Never overwrites an existing file: field keys
# that changed would leave stored identities unreadable. Delete a file to make it anew.
#
#   deploy/make-dev-secrets.sh                       # runs the generator in the image
#   PYTHON=.venv/bin/python deploy/make-dev-secrets.sh   # or in a local checkout's venv
#
# For compose on one host. On Kubernetes the platform's secret store holds these (deploy/README.md).
set -eu

deploy_dir=$(cd "$(dirname "$0")" && pwd)
secrets_dir="$deploy_dir/secrets"
image="${ZM_IMAGE:-zhengming:local}"
mkdir -p "$secrets_dir"
chmod 700 "$secrets_dir"

generator='
import secrets
import sys
from pathlib import Path

from shared.auth import generate_keypair, mint_token
from shared.crypto import FieldCipher

out = Path(sys.argv[1])
if generate_keypair(out / "jwt-private.pem", out / "jwt-public.pem"):
    print("wrote jwt-private.pem, jwt-public.pem (Ed25519)")
if FieldCipher.generate_file(out / "field-keys.json"):
    print("wrote field-keys.json")
token = out / "intake-token"
if not token.exists():
    # What credit_blacklist presents to intake: the one scope that releases a reporter identity.
    token.write_text(mint_token((out / "jwt-private.pem").read_bytes(), subject="svc-credit-blacklist",
                                scopes=["reports:identity"], region="", org_level="central",
                                ttl_s=30 * 24 * 3600))
    print("wrote intake-token (expires in 30 days)")
for name in ("postgres", "pg-intake", "pg-verification", "pg-clarification", "pg-credit_blacklist"):
    path = out / f"{name}-password"
    if not path.exists():
        path.write_text(secrets.token_hex(24))  # hex: safe inside a database URL
        print(f"wrote {path.name}")
'

if [ -n "${PYTHON:-}" ]; then
    "$PYTHON" -c "$generator" "$secrets_dir"
else
    docker run --rm --user "$(id -u):$(id -g)" -v "$secrets_dir:/out" --entrypoint python "$image" \
        -c "$generator" /out
fi

# Containers run as other users than yours: the mounted files are readable, the folder is not.
# The JWT private key is mounted nowhere and stays private.
for file in "$secrets_dir"/*; do
    [ "$(basename "$file")" = jwt-private.pem ] || chmod 644 "$file"
done
{
    echo "# Written by deploy/make-dev-secrets.sh from deploy/secrets/; read by docker compose."
    echo "ZM_PG_INTAKE_PASSWORD=$(cat "$secrets_dir/pg-intake-password")"
    echo "ZM_PG_VERIFICATION_PASSWORD=$(cat "$secrets_dir/pg-verification-password")"
    echo "ZM_PG_CLARIFICATION_PASSWORD=$(cat "$secrets_dir/pg-clarification-password")"
    echo "ZM_PG_CREDIT_BLACKLIST_PASSWORD=$(cat "$secrets_dir/pg-credit_blacklist-password")"
} > "$deploy_dir/.env"
chmod 600 "$deploy_dir/.env"
echo "secrets in $secrets_dir; database passwords also in $deploy_dir/.env"
