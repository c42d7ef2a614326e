#!/bin/sh
# Runs once, on the first start of an empty PostgreSQL data volume (docker-entrypoint-initdb.d):
# one role and one database per service. A service's role owns its database and can connect to
# no other; each password comes from the secret file /run/secrets/pg_<service>_password.
set -eu

for service in intake verification clarification credit_blacklist; do
    password_file="/run/secrets/pg_${service}_password"
    if [ ! -s "$password_file" ]; then
        echo "init-databases: $password_file is missing or empty" >&2
        exit 1
    fi
    psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
        -v service="$service" -v password="$(cat "$password_file")" <<'SQL'
CREATE ROLE :"service" LOGIN PASSWORD :'password';
CREATE DATABASE :"service" OWNER :"service";
REVOKE ALL ON DATABASE :"service" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"service" TO :"service";
SQL
    echo "init-databases: database and role $service created"
done
