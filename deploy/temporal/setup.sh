#!/bin/sh
# One-shot set-up of the Temporal server: waits for the namespace, then registers each custom search attribute of
# SEARCH_ATTRIBUTES ("Name=Type Name=Type ...") that is not there yet, so running it again changes nothing.
set -eu

address="${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is required}"
namespace="${TEMPORAL_NAMESPACE:-default}"
attributes="${SEARCH_ATTRIBUTES:?SEARCH_ATTRIBUTES is required}"

tries=0
until temporal operator namespace describe --address "$address" --namespace "$namespace" >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 90 ]; then
    echo "namespace $namespace on $address did not appear" >&2
    exit 1
  fi
  echo "waiting for namespace $namespace on $address..."
  sleep 2
done

existing="$(temporal operator search-attribute list --address "$address" --namespace "$namespace")"
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
