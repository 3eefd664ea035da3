#!/bin/sh
# One organisation of the demo federation in a container (deploy/compose.yaml): on first start
# it creates the node, takes the policies of deploy/federation/$CAIRN_FEDERATION_FILE.toml, swaps signed
# invitations with its partners through the shared /exchange volume and adds them; then it runs
# the node. Settings come from the environment: CAIRN_ORGANISATION, CAIRN_NAME (the name its
# partners give it), CAIRN_FEDERATION_FILE, CAIRN_KIND,
# CAIRN_ADDRESS (this container's address) and CAIRN_PARTNERS ("name:policy ...").
set -eu
home=${CAIRN_HOME:-/var/lib/cairn}
exchange=${CAIRN_EXCHANGE:-/exchange}
federation=${CAIRN_FEDERATION_DIR:-/federation}/$CAIRN_FEDERATION_FILE.toml

if [ ! -f "$home/node.toml" ]; then
  cairn init --organisation "$CAIRN_ORGANISATION" --node-name "$CAIRN_NAME-1"
  # The policies of the federation file (sections [policies.*]).
  awk '/^\[/ { keep = ($0 ~ /^\[policies\./) } keep' "$federation" >> "$home/node.toml"
  cairn invite --kind "$CAIRN_KIND" --address "/ip4/$CAIRN_ADDRESS/tcp/7400" \
    > "$exchange/$CAIRN_NAME.tmp"
  mv "$exchange/$CAIRN_NAME.tmp" "$exchange/$CAIRN_NAME.txt"
  for partner in $CAIRN_PARTNERS; do
    name=${partner%%:*}
    policy=${partner#*:}
    echo "waiting for the invitation of $name..."
    while [ ! -f "$exchange/$name.txt" ]; do sleep 1; done
    cairn partner add "$exchange/$name.txt" --policy "$policy" --name "$name"
  done
  # The communities of the federation file, now that the partners they name are listed.
  awk '/^\[/ { keep = ($0 == "[communities]") } keep' "$federation" >> "$home/node.toml"
  cairn config check
  cairn token create --role publish --name demo
fi
exec cairn run
