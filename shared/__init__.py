"""Code used by more than one service. Three kinds of module live here; nothing here imports from services/.

The ingest <-> worker queue contract (receivers and workers agree on these, and never import each other):
    queue        QueueMessage, the Format vocabulary, make_message, add_messages, the job name INGEST_JOB
    values       times and values as both sides read them (TimeWindow, flatten, columns, VARIABLE_RE)
    lineproto    InfluxDB line protocol parsing (the receiver checks a body, the worker stores it)
    telemetry    ThingsBoard telemetry documents
    thingspeak   ThingSpeak's field slots, entry metadata names and time zones
    keys         hashed keys, and the Redis counter that tells receivers a key or variable changed

Infrastructure of every process:
    config, errors, db, http, http_timeouts, redis_clients, logs, metrics, storage_mode, migrate, migrations/

The management domain (the API and the CLI; the worker reads datasets and rollups):
    models, datasets, variables, devices, device_accounts, broker_accounts, users, passwords, tokens,
    dead_letters, queue_stats, rates, rollups, bridge_lease
"""
