# Private redis-server and PostgreSQL cluster on loopback for scripts/test,
# scripts/dev and scripts/bench. Source it, then call start_services DIR;
# stop_services stops exactly what start_services started, by PID.
# Sets REDIS_PORT, PG_PORT, DATABASE_URL, PG_BIN.

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}

free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 30000))
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
    done
}

# Runs a command as the postgres user when we are root (initdb refuses root).
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_services() {
    SERVICES_DIR=$1
    mkdir -p "$SERVICES_DIR/redis" "$SERVICES_DIR/pg"
    chmod 755 "$SERVICES_DIR"

    REDIS_PORT=${REDIS_PORT:-$(free_port)}
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$SERVICES_DIR/redis" \
        --save "" --appendonly no --daemonize yes --pidfile "$SERVICES_DIR/redis/redis.pid" \
        --logfile "$SERVICES_DIR/redis/redis.log" --enable-debug-command local >/dev/null
    wait_for "redis on port $REDIS_PORT" redis-cli -p "$REDIS_PORT" ping || { tail -5 "$SERVICES_DIR/redis/redis.log" >&2; return 1; }

    PG_PORT=${PG_PORT:-$(free_port)}
    [ "$(id -u)" -ne 0 ] || chown postgres: "$SERVICES_DIR/pg"
    if [ ! -f "$SERVICES_DIR/pg/data/PG_VERSION" ]; then
        as_postgres "$PG_BIN/initdb" -D "$SERVICES_DIR/pg/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    fi
    as_postgres "$PG_BIN/pg_ctl" -D "$SERVICES_DIR/pg/data" -l "$SERVICES_DIR/pg/postgres.log" -w -s \
        -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $SERVICES_DIR/pg -c max_connections=300 -c fsync=off" start
    DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
    export REDIS_PORT PG_PORT DATABASE_URL PG_BIN
}

stop_services() {
    [ -n "${SERVICES_DIR:-}" ] || return 0
    local pid
    if [ -f "$SERVICES_DIR/redis/redis.pid" ]; then
        pid=$(cat "$SERVICES_DIR/redis/redis.pid")
        kill "$pid" 2>/dev/null && wait_gone "$pid"
    fi
    if [ -f "$SERVICES_DIR/pg/data/postmaster.pid" ]; then
        pid=$(head -n 1 "$SERVICES_DIR/pg/data/postmaster.pid")
        kill -INT "$pid" 2>/dev/null && wait_gone "$pid"   # SIGINT: PostgreSQL's fast shutdown
    fi
}

wait_for() {
    local what=$1; shift
    for _ in $(seq 1 100); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "timed out waiting for $what" >&2
    return 1
}

wait_gone() {
    for _ in $(seq 1 100); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
}
