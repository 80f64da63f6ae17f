#!/bin/sh
# One-shot set-up of the Temporal server: waits until it answers, creates the namespace when it is missing (a cluster
# server, unlike the dev server, starts with none), then registers each custom search attribute of SEARCH_ATTRIBUTES
# ("Name=Type Name=Type ...") that is not there yet. Running it again changes nothing. docker-compose.yml runs it in
# the temporalio/admin-tools image; `npm run cluster` and the cluster tests run it with the CLI built into .tools/.
set -eu

address="${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is required}"
namespace="${TEMPORAL_NAMESPACE:-default}"
attributes="${SEARCH_ATTRIBUTES:?SEARCH_ATTRIBUTES is required}"
retention="${TEMPORAL_RETENTION:-7d}"

tries=0
until temporal operator cluster health --address "$address" >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 90 ]; then
    echo "the Temporal server on $address did not answer" >&2
    exit 1
  fi
  echo "waiting for the Temporal server on $address..."
  sleep 2
done

if temporal operator namespace describe --address "$address" --namespace "$namespace" >/dev/null 2>&1; then
  echo "namespace $namespace exists"
else
  temporal operator namespace create --address "$address" --namespace "$namespace" --retention "$retention"
  echo "created namespace $namespace (retention $retention)"
fi

# A new namespace reaches the frontend's namespace cache some seconds after it is created.
tries=0
until existing="$(temporal operator search-attribute list --address "$address" --namespace "$namespace" 2>&1)"; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "namespace $namespace is not usable on $address: $existing" >&2
    exit 1
  fi
  sleep 1
done
for pair in $attributes; do
  name="${pair%%=*}"
  type="${pair#*=}"
  if printf '%s\n' "$existing" | grep -qw -- "$name"; then
    echo "search attribute $name is already registered"
  else
    temporal operator search-attribute create --address "$address" --namespace "$namespace" \
      --name "$name" --type "$type"
    echo "registered search attribute $name ($type)"
  fi
done
