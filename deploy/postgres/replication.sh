#!/bin/sh
# Run once by the database image when it initializes: let the optional streaming replica (compose profile
# `replica`) connect for replication with the same account and password.
set -e
echo "host replication all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
