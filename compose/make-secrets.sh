#!/bin/sh
# Makes every secret the compose stack needs, once: random passwords, keyFiles and an admin API key under
# compose/secrets/ (one file each; the directory is yours alone, the files readable by the containers'
# users), and compose/.env, the values Compose puts into
# environment variables (Kafka's JAAS lines, the API key's SHA-256 digest). Existing files are kept, so
# running it again changes nothing; delete a file to make a new one. Never commit either.
set -eu
cd "$(dirname "$0")"
umask 077
mkdir -p secrets

new() {  # new FILE COMMAND...: FILE holds the command's output, unless FILE exists
  [ -s "secrets/$1" ] || { shift_name=$1; shift; "$@" > "secrets/$shift_name"; }
}
password() { openssl rand -hex 24; }

for name in mongo_admin mongo_ingest mongo_api mongo_sync mongo_jobs kafka_admin kafka_c360 kafka_connect \
            crm_db_admin crm_db_debezium retail_db_admin retail_db_debezium; do
  new "${name}_password" password
done
new mongo_keyfile openssl rand -base64 756
new retail_keyfile openssl rand -base64 756
new api_key_admin password
new retail_db_uri sh -c \
  "printf 'mongodb://debezium:%s@retail-db:27017/?replicaSet=retail' \"\$(cat secrets/retail_db_debezium_password)\""
# The containers read the secret files as their own users (mongod, postgres, uid 10001 for c360).
chmod 644 secrets/*

secret() { cat "secrets/$1"; }
plain() { printf 'org.apache.kafka.common.security.plain.PlainLoginModule required username="%s" password="%s"' "$1" "$2"; }
if [ ! -s .env ]; then
  digest=$(printf %s "$(secret api_key_admin)" | sha256sum | cut -d' ' -f1)
  {
    printf "KAFKA_BROKER_JAAS='%s user_admin=\"%s\" user_c360=\"%s\" user_connect=\"%s\";'\n" \
      "$(plain admin "$(secret kafka_admin_password)")" "$(secret kafka_admin_password)" \
      "$(secret kafka_c360_password)" "$(secret kafka_connect_password)"
    printf "CONNECT_KAFKA_JAAS='%s;'\n" "$(plain connect "$(secret kafka_connect_password)")"
    printf "C360_API__KEYS='[{\"name\": \"admin\", \"key_sha256\": \"%s\", \"role\": \"admin\"}]'\n" "$digest"
  } > .env
fi
echo "secrets in $(pwd)/secrets, environment in $(pwd)/.env"
echo "the API key (X-API-Key) of the admin caller: $(secret api_key_admin)"
