#!/usr/bin/env bash
# PostgreSQL 15 and pgvector for kenning's PostgreSQL store and its tests (issue 13).
#
# PostgreSQL 15 comes from Debian bookworm's packages. pgvector is not packaged for bookworm, so it is built from
# Debian trixie's source package (pgvector 0.8.0; the tarball is checked against the sha256 its .dsc records) against
# postgresql-server-dev-15: about 15 s. Idempotent: what is already installed is left alone. The tests start their own
# temporary clusters (initdb / pg_ctl on a socket in a temporary folder); nothing here starts a server.
set -euo pipefail

PG_MAJOR=15
PGVECTOR_VERSION=0.8.0
PGVECTOR_SHA256=867a2c328d4928a5a9d6f052cd3bc78c7d60228a9b914ad32aa3db88e9de27b0
PGVECTOR_URL="http://deb.debian.org/debian/pool/main/p/pgvector/pgvector_${PGVECTOR_VERSION}.orig.tar.gz"

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
bindir="/usr/lib/postgresql/${PG_MAJOR}/bin"

need=()
[ -x "$bindir/initdb" ] || need+=("postgresql-${PG_MAJOR}")
command -v pg_config >/dev/null 2>&1 && [ -d "/usr/include/postgresql/${PG_MAJOR}/server" ] || need+=("postgresql-server-dev-${PG_MAJOR}")
command -v make >/dev/null 2>&1 && command -v gcc >/dev/null 2>&1 || need+=("build-essential")
if [ "${#need[@]}" -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

sharedir="$("/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config" --sharedir 2>/dev/null || pg_config --sharedir)"
if [ -f "$sharedir/extension/vector.control" ] && grep -q "default_version = '${PGVECTOR_VERSION}'" "$sharedir/extension/vector.control"; then
  echo "pgvector ${PGVECTOR_VERSION} is installed" >&2
else
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  curl -fsSL --retry 3 -o "$work/pgvector.tar.gz" "$PGVECTOR_URL"
  echo "${PGVECTOR_SHA256}  $work/pgvector.tar.gz" | sha256sum -c --quiet -
  tar -xzf "$work/pgvector.tar.gz" -C "$work"
  src="$(find "$work" -maxdepth 1 -mindepth 1 -type d | head -n 1)"
  make -s -C "$src" PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config" OPTFLAGS="" >/dev/null
  $sudo make -s -C "$src" PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config" install >/dev/null
  echo "pgvector ${PGVECTOR_VERSION} built and installed" >&2
fi
echo "$bindir"
